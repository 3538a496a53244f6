package loader

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// RuleRow is one live rule as `xdpfw rule list` shows it.
type RuleRow struct {
	ID         uint32            `json:"id"`
	Priority   uint32            `json:"priority"`
	Conditions map[string]string `json:"conditions"` // key as in `rule add --KEY`
	Action     string            `json:"action"`
	Match      string            `json:"match"`
	Comment    string            `json:"comment"` // "" when the rule has none
	Log        bool              `json:"log"`     // its frames go to serve's log
	// Slot is the rule's counter slot. Unlike its id it follows the rule
	// through an apply that renumbers it (a rule inserted above: apply
	// pairs it with the live rule and keeps that one's slot and counts),
	// so readers comparing two reads (top) match rules by it. Internal:
	// not printed.
	Slot uint32 `json:"-"`
	Counter
}

// RuleList is the live policy and rules, in evaluation order with their
// counters, from one read of the state.
func (s *State) RuleList() (policy rules.Action, rows []RuleRow, err error) {
	err = s.read(func(v *view) error {
		rs, slots, err := v.ruleset()
		if err != nil {
			return err
		}
		counters, err := ruleCounters(&s.maps, slots)
		if err != nil {
			return err
		}
		policy = rs.Policy
		rows = make([]RuleRow, 0, len(rs.Rules))
		for _, r := range rules.Sorted(rs.Rules) {
			conds := map[string]string{}
			for _, kv := range rules.FormatMatch(&r.Match) {
				conds[kv[0]] = kv[1]
			}
			rows = append(rows, RuleRow{
				ID: r.ID, Priority: r.Priority, Action: r.Action.String(),
				Conditions: conds, Match: r.Match.String(), Comment: r.Comment, Log: r.Log, Slot: slots[r.ID], Counter: counters[r.ID],
			})
		}
		return nil
	})
	return policy, rows, err
}

// Status is what `xdpfw status` shows.
type Status struct {
	PinDir string `json:"pin_dir"`
	// Loaded is false when nothing is pinned in PinDir: the policy, the
	// counts and the interfaces are then empty (problems may list orphans).
	Loaded bool   `json:"loaded"`
	Policy string `json:"policy"`
	Rules  int    `json:"rules"`
	// CTFlows is the conntrack table's size; CTIdle, that it is the idle
	// one of a ruleset that reads no connection state (rules.Ruleset.CTFlows).
	CTFlows    int          `json:"ct_flows"`
	CTIdle     bool         `json:"ct_idle"`
	Interfaces []Attachment `json:"interfaces"`
	// Problems are what status fails for, each with the command that
	// settles it; empty when all is well.
	Problems []Problem `json:"problems"`
	// Capture is the running capture, nil when none runs.
	Capture *CaptureStatus `json:"capture,omitempty"`
}

// Problem is an attachment that is not as recorded, or an xdpfw program
// that no record lists.
type Problem struct {
	Iface   string `json:"interface"`
	Ifindex int    `json:"ifindex"`
	// Kind is "missing" (the interface is gone, its ifindex perhaps
	// another's now, or in another network namespace), "replaced"
	// (xdpfw's program is no longer on it),
	// "orphan" (an xdpfw program the pin directory does not list),
	// "capture" (a capture left on by a process that is gone), "egress"
	// (xdpfw's XDP program runs, its connection-tracking learner does not)
	// or "leftover" (pins of a state without meta: a create or the last
	// detach killed part-way).
	Kind   string `json:"kind"`
	ProgID uint32 `json:"program_id,omitempty"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// ReadStatus is the status of the pin directory dir. With nothing pinned
// it fails with ErrNotAttached, and the status it gives says so (Loaded
// false) and lists the xdpfw programs still running that dir does not
// list (orphans). On any other error the status is only PinDir, and
// Loaded when a state was found pinned but could not be read.
func ReadStatus(dir string) (Status, error) {
	s, err := Open(dir)
	if errors.Is(err, ErrNotAttached) {
		st := Status{PinDir: dir, Interfaces: []Attachment{}, Problems: []Problem{}}
		orphans, oerr := Orphans(dir)
		if oerr != nil {
			return st, fmt.Errorf("%w (and looking for its programs left running failed: %v)", err, oerr)
		}
		st.Problems = append(st.Problems, OrphanProblems(orphans, dir, false)...)
		if p, ok := leftoverProblem(dir); ok {
			st.Problems = append(st.Problems, p)
		}
		return st, err
	}
	var broken *brokenState
	if errors.As(err, &broken) {
		return Status{PinDir: dir, Loaded: true}, err
	}
	if err != nil {
		return Status{PinDir: dir}, err
	}
	defer s.Close()
	st, err := s.Status()
	if err != nil {
		return Status{PinDir: dir, Loaded: true}, err
	}
	return st, nil
}

// Policy is the live default policy, read as Status reads it: from the
// live generation's config alone, without decoding the rules.
func (s *State) Policy() (policy rules.Action, err error) {
	err = s.read(func(v *view) error {
		policy = v.policy()
		return nil
	})
	return policy, err
}

// policy is the default action the datapath runs by now.
func (v *view) policy() rules.Action { return rules.Action(v.conf[v.active].Policy) }

// Status is the pin directory, the policy, the rule count and each
// attachment as the kernel has it, and the problems found: attachments
// not as recorded, and orphans (Orphans).
func (s *State) Status() (Status, error) {
	// The policy and the count from the live generation's config alone,
	// what the datapath runs by: reading and decoding every stored
	// definition was half of a status at 4095 rules. So status does not
	// check the definitions (the control plane's record of the rules);
	// rule list, save and every change do, and refuse a store that
	// disagrees with the config.
	var (
		policy rules.Action
		nrules int
		flows  uint32
	)
	err := s.read(func(v *view) error {
		policy, nrules = v.policy(), int(v.conf[v.active].Nrules)
		flows = v.m.Ct.MaxEntries()
		return nil
	})
	if err != nil {
		return Status{}, err
	}
	atts, err := s.Attachments()
	if err != nil {
		return Status{}, err
	}
	if atts == nil {
		// JSON [] as with nothing loaded, not null: a script takes
		// .interfaces | length.
		atts = []Attachment{}
	}
	st := Status{PinDir: s.dir, Loaded: true, Policy: policy.String(), Rules: nrules, CTFlows: int(flows), CTIdle: flows == layout.CtIdleEntries,
		Interfaces: atts, Problems: []Problem{}}
	orphans, err := s.Orphans()
	if err != nil {
		return st, err
	}
	// An orphan on an interface the state lists replaced the state's
	// program there: one problem, replaced, which names it (named), not
	// an orphan too. One on an ifindex of a record whose interface is
	// gone is an orphan still.
	orphaned, named := map[int]bool{}, map[int]bool{}
	for _, o := range orphans {
		orphaned[o.Ifindex] = o.listed
	}
	for _, a := range atts {
		if a.Attached && a.Egress == EgressNone {
			st.Problems = append(st.Problems, Problem{Iface: a.Iface, Ifindex: a.Ifindex, Kind: "egress",
				Detail: fmt.Sprintf("%s does not run this state's connection-tracking egress program: its outgoing flows are not learned, so their replies are not established", a.Iface),
				Fix:    "xdpfw attach " + a.Iface})
		}
		if a.Attached {
			continue
		}
		p := Problem{Iface: a.Iface, Ifindex: a.Ifindex}
		link, err := netlink.LinkByIndex(a.Ifindex)
		switch {
		case err != nil:
			p.Kind = "missing"
			p.Detail = fmt.Sprintf("%s (ifindex %d) is gone or in another network namespace; its record keeps the state pinned", a.Iface, a.Ifindex)
			// By ifindex: an interface of that name made again, and
			// attached, is another record, which detach NAME detaches.
			p.Fix = fmt.Sprintf("xdpfw detach --ifindex %d", a.Ifindex)
		case link.Attrs().Name != a.recorded:
			// Another name and not the state's program: the interface
			// recorded is gone and the kernel gave its ifindex to a new
			// one, which xdpfw never ran on (attach --force there would
			// take it over). A rename that lost the program is told
			// the same: forgetting the record settles both.
			p.Kind = "missing"
			p.Detail = fmt.Sprintf("%s (ifindex %d) is gone: that ifindex is %s's now, which does not run xdpfw's program (or %s was renamed and lost it); its record keeps the state pinned", a.recorded, a.Ifindex, link.Attrs().Name, a.recorded)
			p.Fix = fmt.Sprintf("xdpfw detach --ifindex %d", a.Ifindex)
		default:
			p.Kind = "replaced"
			p.Detail = fmt.Sprintf("%s does not run xdpfw's program", a.Iface)
			if x := link.Attrs().Xdp; x != nil && x.ProgId != 0 {
				p.ProgID = x.ProgId
				p.Detail = fmt.Sprintf("%s runs XDP program id %d, not the pinned xdpfw's", a.Iface, x.ProgId)
				if named[a.Ifindex] = orphaned[a.Ifindex]; named[a.Ifindex] {
					p.Detail = fmt.Sprintf("%s runs an xdpfw program (id %d) that no pin directory holds, not the pinned xdpfw's", a.Iface, x.ProgId)
				}
			}
			p.Fix = fmt.Sprintf("xdpfw attach %s (--force to replace another program), or xdpfw detach %s", a.Iface, a.Iface)
		}
		st.Problems = append(st.Problems, p)
	}
	orphans = slices.DeleteFunc(orphans, func(o Orphan) bool { return named[o.Ifindex] })
	st.Problems = append(st.Problems, OrphanProblems(orphans, s.dir, true)...)
	if pid, alive, err := s.CaptureOwner(); err != nil {
		return st, err
	} else if pid != 0 {
		st.Capture = &CaptureStatus{Owner: pid, Running: alive}
		if !alive {
			st.Problems = append(st.Problems, Problem{Kind: "capture",
				Detail: fmt.Sprintf("a capture is left on by pid %d, which is gone: the datapath still copies the frames it selects", pid),
				Fix:    "xdpfw capture --stop"})
		}
	}
	return st, nil
}

// CaptureStatus is the capture `status` reports: its process, and
// whether that process still runs.
type CaptureStatus struct {
	Owner   uint32 `json:"pid"`
	Running bool   `json:"running"`
}

// OrphanProblems describes orphans as problems; pinned tells whether dir
// holds a state.
func OrphanProblems(orphans []Orphan, dir string, pinned bool) []Problem {
	out := []Problem{}
	for _, o := range orphans {
		why := fmt.Sprintf("%s does not list it", dir)
		if !pinned {
			why = fmt.Sprintf("nothing is pinned in %s", dir)
		}
		what := "an xdpfw program"
		if o.Mode == "" {
			what = "xdpfw's egress learner alone"
		}
		out = append(out, Problem{Iface: o.Iface, Ifindex: o.Ifindex, Kind: "orphan", ProgID: o.ProgID,
			Detail: fmt.Sprintf("%s runs %s (id %d) but %s", o.Iface, what, o.ProgID, why),
			Fix:    "xdpfw detach --orphans"})
	}
	return out
}

// leftoverProblem describes the pins of xdpfw's that dir holds without a
// state (meta, pinned first and unpinned first, is missing): a create or
// the last detach killed part-way. Its maps keep their memory until the
// next create clears them (removeLeftovers), or detach --all (salvage).
func leftoverProblem(dir string) (Problem, bool) {
	ours, _, err := classifyPins(dir, namesOf())
	if err != nil || len(ours) == 0 {
		return Problem{}, false
	}
	return Problem{Kind: "leftover",
		Detail: fmt.Sprintf("%s holds %d pins of xdpfw's but no state (its %s missing: a command that made or removed it was interrupted), their maps' memory still held", dir, len(ours), xdpfwMapMeta),
		Fix:    "xdpfw detach --all"}, true
}
