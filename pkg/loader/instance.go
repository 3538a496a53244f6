package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// ErrRunt is returned for frames shorter than an Ethernet header: the
// kernel never hands XDP such a frame, and BPF_PROG_TEST_RUN refuses one.
var ErrRunt = errors.New("shorter than an Ethernet header (14 bytes): never reaches XDP")

// Instance is a private copy of xdpfw's programs, loaded into the kernel
// but attached to no interface: it runs frames one at a time with
// BPF_PROG_TEST_RUN and says what the datapath did with each. It is the
// engine of replay (`xdpfw replay`, pkg/replay), of the datapath tests
// and of the benchmarks. Its maps are fresh (NewInstance) or the live
// classifier maps (State.NewInstance); either way its counters are its
// own, so running frames never disturbs the live counters.
type Instance struct {
	objs  xdpfwObjects
	slots map[uint32]uint32
	trace bool
	live  bool // on the live classifier maps (State.NewInstance)
	seq   uint32
}

// NewInstance loads a private instance enforcing rs. With trace set, each
// Run reports the matched rule (a replay build); without it the program
// is exactly the production one (for benchmarks).
func NewInstance(rs *rules.Ruleset, trace bool) (*Instance, error) {
	t, err := newInstance(nil, trace, rs.CTFlows())
	if err != nil {
		return nil, err
	}
	if err := t.Load(rs); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Load makes rs the instance's ruleset (a commit into its own maps), so
// one instance can try many rulesets; its counters are not reset. An
// instance on the live maps refuses: its maps are the live state's, which
// change only through the State's write path (its lock, its repair of a
// change cut short), never by a commit from outside it.
func (t *Instance) Load(rs *rules.Ruleset) error {
	if t.live {
		return errors.New("an instance on the live maps cannot load a ruleset: change the live one through its state (xdpfw apply, rule add)")
	}
	// The instance's own maps: nothing else writes them. Its conntrack
	// table is resized for a ruleset that reads it (or sets max-flows),
	// not shrunk for one that does not (tx.anyIdleCT).
	load := func(c *tx) error {
		c.anyIdleCT = true
		return c.replaceWithSets(rs)
	}
	// As State.changeGrowing: a growth and a resize, each once.
	grown, resized := false, false
	for {
		err := runChange(&t.objs.xdpfwMaps, nil, load)
		var full *mapsFull
		var resize *ctResize
		if !grown && errors.As(err, &full) {
			grown = true
			err = t.growInstance(full)
		} else if !resized && errors.As(err, &resize) {
			resized = true
			err = t.resizeCT(resize.flows)
		} else if err == nil {
			break
		}
		if err != nil {
			return err
		}
	}
	_, slots, err := readRuleset(&t.objs.xdpfwMaps)
	if err != nil {
		return err
	}
	t.slots = slots
	return nil
}

// NewInstance loads a private instance that classifies with the live maps:
// it sees every change to the live ruleset as it happens. It keeps no
// rule counters (RuleCounters refuses): it would count by the live
// generations' ranks, which live commits give to other rules, and no
// commit folds its counts into rules as a state's are. Its verdict
// counters are its own, and a trace names each frame's rule.
func (s *State) NewInstance(trace bool) (*Instance, error) {
	live := s.mapsByName()
	repl := make(map[string]*ebpf.Map, len(classifierMaps))
	for _, name := range classifierMaps {
		repl[name] = live[name]
	}
	// Its own conntrack table, of the live one's size, timed by the live
	// ruleset's timeouts (ct_conf, which it only reads), as the model of
	// the live ruleset assumes: its own ct_conf, never written, timed
	// flows by the defaults.
	repl[xdpfwMapCtConf] = live[xdpfwMapCtConf]
	t, err := newInstance(repl, trace, s.maps.Ct.MaxEntries())
	if err != nil {
		return nil, err
	}
	t.live = true
	return t, nil
}

// newInstance loads the object with repl for its maps, and conntrack
// tables of flows flows (the ruleset's it is made for, so loading that
// ruleset does not load the programs again to resize them).
func newInstance(repl map[string]*ebpf.Map, trace bool, flows uint32) (*Instance, error) {
	if err := checkRoot(); err != nil {
		return nil, err
	}
	spec, err := objectSpec()
	if err != nil {
		return nil, err
	}
	if trace {
		if err := spec.Variables[xdpfwVarTraceEnabled].Set(uint32(1)); err != nil {
			return nil, err
		}
	}
	spec.Maps[xdpfwMapCt].MaxEntries = flows
	spec.Maps[xdpfwMapCtFrags].MaxEntries = rules.CTFragsFor(flows)
	t := &Instance{trace: trace}
	if err := load(spec, &t.objs, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		return nil, err
	}
	return t, nil
}

// checkRoot fails without the capabilities xdpfw needs, root's or given
// another user (MissingCapabilities).
func checkRoot() error {
	missing, err := MissingCapabilities()
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return ErrNotRoot
	}
	return nil
}

// Close releases the instance.
func (t *Instance) Close() { t.objs.Close() }

// Program is the instance's one-buffer program, what an interface with a
// usual MTU runs. Frames longer than one buffer need ProgramFor.
func (t *Instance) Program() *ebpf.Program { return t.objs.Xdpfw }

// Maps are the instance's maps by name: all the object's, those its
// programs use and the control plane's (rule and set definitions, meta):
// make bench counts the memory of them all, and runs another build of
// the object on exactly the same state. They stay the
// instance's: the caller must not close them.
func (t *Instance) Maps() map[string]*ebpf.Map {
	s := State{maps: t.objs.xdpfwMaps}
	return s.mapsByName()
}

// ProgramFor is the program an interface receiving these frames runs: the
// frags one if any of them is longer than one buffer.
func (t *Instance) ProgramFor(frames [][]byte) *ebpf.Program {
	longest := 0
	for _, f := range frames {
		longest = max(longest, len(f))
	}
	return t.programFor(longest)
}

// ProgramForLength is ProgramFor of frames the longest of which is
// longest bytes: for frames streamed, not held.
func (t *Instance) ProgramForLength(longest int) *ebpf.Program { return t.programFor(longest) }

func (t *Instance) programFor(frameLen int) *ebpf.Program {
	if frameLen > maxLinearFrame() {
		return t.objs.XdpfwFrags
	}
	return t.objs.Xdpfw
}

// Run passes one frame through the program as if it arrived on the
// loopback interface (the kernel's choice when no interface is named).
// Without trace only Action is known.
func (t *Instance) Run(frame []byte) (model.Verdict, error) { return t.RunOn(frame, 0) }

// RunOn passes one frame through the program as if it arrived on the
// interface with index ifindex (0: loopback).
func (t *Instance) RunOn(frame []byte, ifindex int) (model.Verdict, error) {
	v, _, _, err := t.RunIn(frame, ifindex)
	return v, err
}

// RunIn is RunOn that also says what connection tracking found for the
// frame: its state, with looked false when the program looked nothing up
// (no rule of the ruleset names ct-state, and no DHCP reply met a drop
// policy). Without trace only the Action is known, and looked is false.
func (t *Instance) RunIn(frame []byte, ifindex int) (v model.Verdict, ct model.CTState, looked bool, err error) {
	if len(frame) < 14 {
		return model.Verdict{}, 0, false, ErrRunt
	}
	opts := &ebpf.RunOptions{Data: frame}
	if ifindex != 0 {
		opts.Context = xdpfwXdpMd{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)}
	}
	// Each frame runs through the program that would see it live, so
	// replay proves both against the reference model.
	ret, err := t.programFor(len(frame)).Run(opts)
	if err != nil {
		return model.Verdict{}, 0, false, testRunError(frame, err)
	}
	v = model.Verdict{Action: rules.Action(ret)}
	if !t.trace {
		return v, 0, false, nil
	}
	var tr xdpfwTrace
	if err := t.objs.Trace.Lookup(uint32(0), &tr); err != nil {
		return model.Verdict{}, 0, false, fmt.Errorf("read trace: %w", err)
	}
	t.seq++
	if tr.Seq != t.seq || tr.Action != ret {
		return model.Verdict{}, 0, false, fmt.Errorf("trace out of step (seq %d, want %d; action %d, returned %d)", tr.Seq, t.seq, tr.Action, ret)
	}
	v.Reason = model.Reason(tr.Reason)
	v.RuleID = tr.RuleId
	if tr.Ct == layout.CtNotLooked {
		return v, model.CTUntracked, false, nil
	}
	return v, model.CTState(tr.Ct), true, nil
}

func testRunError(frame []byte, err error) error {
	if errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("BPF_PROG_TEST_RUN refused a %d-byte frame: %w", len(frame), err)
	}
	return fmt.Errorf("BPF_PROG_TEST_RUN: %w", err)
}

// RuleCounters are the instance's own per-rule counters, by rule id; an
// instance on the live maps has none.
func (t *Instance) RuleCounters() (map[uint32]Counter, error) {
	if t.live {
		return nil, errors.New("an instance on the live maps keeps no rule counters (the live ranks it counts by change with every commit)")
	}
	return ruleCounters(&t.objs.xdpfwMaps, t.slots)
}

// VerdictCounters are the instance's own per-verdict counters.
func (t *Instance) VerdictCounters() (map[string]Counter, error) {
	return verdictCounters(&t.objs.xdpfwMaps)
}
