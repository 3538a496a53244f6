package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// The egress learner: connection tracking learns flows from the packets
// an interface sends (xdpfw_egress, a TC program), so every interface
// xdpfw filters also gets it on its egress. Where the kernel has tcx
// (6.6), it is a bpf_link pinned in the state's directory, so it
// outlives the process as the pinned programs do and goes when its pin
// does; before, it is a direct-action filter on the interface's clsact
// qdisc, named so xdpfw finds its own and never touches another's.

// Egress hooks as Attachment and status name them.
const (
	EgressNone   = "none"
	EgressTCX    = "tcx"
	EgressClsact = "clsact"
)

// egressFilterName names xdpfw's clsact filter (TCA_BPF_NAME), which is
// how detach tells it from the filters others put there.
const egressFilterName = "xdpfw_egress"

// egressLinkPrefix starts the pin of an interface's tcx link: the
// ifindex follows. bpffs refuses names with dots.
const egressLinkPrefix = "egress_"

// egressHooks are the hooks attach tries, in order: the first the kernel
// has is used. Tests narrow it (export_test.go) to prove the clsact path
// on a kernel with tcx.
var egressHooks = []uint32{layout.EgressTcx, layout.EgressClsact}

func egressName(hook uint32) string {
	switch hook {
	case layout.EgressTcx:
		return EgressTCX
	case layout.EgressClsact:
		return EgressClsact
	}
	return EgressNone
}

func egressLinkPin(dir string, ifindex int) string {
	return filepath.Join(dir, egressLinkPrefix+strconv.Itoa(ifindex))
}

// isEgressLinkPin reports whether name is how attach pins a tcx link.
func isEgressLinkPin(name string) bool {
	n, ok := strings.CutPrefix(name, egressLinkPrefix)
	if !ok {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// attachEgress puts prog on l's egress and returns the hook used. xdpfw's
// egress program already there (by the recorded hook, or a filter or pin
// a crash left) is replaced in place, atomically, so an interface never
// has two; otherwise the first of egressHooks the kernel has is used.
func (s *State) attachEgress(l netlink.Link, prog *ebpf.Program) (uint32, error) {
	ifindex := l.Attrs().Index
	if tl, err := loadEgressLink(s.dir, ifindex); err == nil {
		err = tl.Update(prog)
		tl.Close()
		if err == nil {
			return layout.EgressTcx, nil
		}
		// Defunct (the interface it was made for is gone): a new one.
		if err := removeEgressLink(s.dir, ifindex); err != nil {
			return 0, err
		}
	}
	if f, err := ourEgressFilter(l); err != nil {
		return 0, err
	} else if f != nil {
		return layout.EgressClsact, replaceEgressFilter(f, prog)
	}
	for _, hook := range egressHooks {
		var err error
		switch hook {
		case layout.EgressTcx:
			err = s.attachTCX(ifindex, prog)
			if errors.Is(err, ebpf.ErrNotSupported) {
				continue // before 6.6: clsact
			}
		case layout.EgressClsact:
			err = attachClsact(l, prog)
		}
		return hook, err
	}
	return 0, errors.New("no egress hook to try")
}

// attachTCX puts prog first on ifindex's tcx egress (link.Head): a
// program before it that ends the chain (TCX_PASS, TCX_DROP) would hide
// the packet from it, and a flow sent unseen is a reply dropped. First is
// safe for the others: the learner never decides (TC_ACT_UNSPEC is
// TCX_NEXT), so every program after it still sees every packet.
func (s *State) attachTCX(ifindex int, prog *ebpf.Program) error {
	tl, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: prog, Attach: ebpf.AttachTCXEgress, Anchor: link.Head()})
	if err != nil {
		return err
	}
	defer tl.Close() // the pin holds it
	if err := pinOver(s.dir, filepath.Base(egressLinkPin(s.dir, ifindex)), tl); err != nil {
		return err
	}
	return nil
}

func loadEgressLink(dir string, ifindex int) (link.Link, error) {
	return link.LoadPinnedLink(egressLinkPin(dir, ifindex), nil)
}

// removeEgressLink detaches the interface's tcx link and unpins it; no
// pin is no error. Detached first because the kernel frees an unpinned
// link in deferred work: the program would run on a moment after detach
// returned.
func removeEgressLink(dir string, ifindex int) error {
	return unpinEgressLink(egressLinkPin(dir, ifindex))
}

func unpinEgressLink(path string) error {
	// Looked up first: bpffs answers unlink of a missing name with EPERM.
	if _, err := os.Lstat(path); err != nil {
		return nil
	}
	if tl, err := link.LoadPinnedLink(path, nil); err == nil {
		tl.Detach() // a defunct link (its interface gone) has nothing to detach
		tl.Close()
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove the egress link pin: %w", err)
	}
	return nil
}

// attachClsact adds the clsact qdisc if the interface has none (another
// one's is shared, never replaced) and xdpfw's direct-action filter on
// its egress, at a priority the kernel picks. That puts it first, as
// attachTCX does and for the same reason: with no priority given, the
// kernel (tcf_auto_prio) gives one less than the first filter's, and
// filters run by priority, lowest first. Its TC_ACT_UNSPEC hands the
// packet on to the next filter.
func attachClsact(l netlink.Link, prog *ebpf.Program) error {
	has, err := hasClsact(l)
	if err != nil {
		return err
	}
	if !has {
		q := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT,
		}, QdiscType: "clsact"}
		if err := netlink.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add the clsact qdisc: %w", err)
		}
	}
	f := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{
		LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_MIN_EGRESS, Protocol: unix.ETH_P_ALL,
	}, Fd: prog.FD(), Name: egressFilterName, DirectAction: true}
	if err := netlink.FilterAdd(f); err != nil {
		return fmt.Errorf("add the egress filter: %w", err)
	}
	return nil
}

// replaceEgressFilter swaps the program of xdpfw's filter f: the same
// priority and handle, so the kernel replaces it in place.
func replaceEgressFilter(f *netlink.BpfFilter, prog *ebpf.Program) error {
	nf := &netlink.BpfFilter{FilterAttrs: f.FilterAttrs, Fd: prog.FD(), Name: egressFilterName, DirectAction: true}
	if err := netlink.FilterReplace(nf); err != nil {
		return fmt.Errorf("replace the egress filter: %w", err)
	}
	return nil
}

func hasClsact(l netlink.Link) (bool, error) {
	qs, err := netlink.QdiscList(l)
	if err != nil {
		return false, fmt.Errorf("list qdiscs of %s: %w", l.Attrs().Name, err)
	}
	for _, q := range qs {
		if q.Type() == "clsact" {
			return true, nil
		}
	}
	return false, nil
}

// ourEgressFilter finds xdpfw's filter on l's egress: nil if none (or no
// clsact qdisc at all). Xdpfw's is named as xdpfw names it and runs a
// program the kernel names as xdpfw's egress program: a name alone is
// anyone's to give, and a filter that is not xdpfw's is not xdpfw's to
// replace or remove.
func ourEgressFilter(l netlink.Link) (*netlink.BpfFilter, error) {
	fs, err := ourEgressFilters(l)
	if err != nil || len(fs) == 0 {
		return nil, err
	}
	return fs[0], nil
}

// ourEgressFilters are all of xdpfw's filters on l's egress, as
// ourEgressFilter tells them.
func ourEgressFilters(l netlink.Link) ([]*netlink.BpfFilter, error) {
	if has, err := hasClsact(l); err != nil || !has {
		return nil, err
	}
	fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_EGRESS)
	if err != nil {
		return nil, fmt.Errorf("list egress filters of %s: %w", l.Attrs().Name, err)
	}
	var out []*netlink.BpfFilter
	for _, f := range fs {
		if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name == egressFilterName && isEgressProgram(uint32(bf.Id)) {
			out = append(out, bf)
		}
	}
	return out, nil
}

// isEgressProgram reports whether the kernel names program id as xdpfw's
// egress program (any build's, any state's).
func isEgressProgram(id uint32) bool {
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return false
	}
	defer p.Close()
	info, err := p.Info()
	return err == nil && info.Name == xdpfwProgXdpfwEgress
}

// detachEgress removes xdpfw's egress program from l, whichever hook
// holds it: the tcx link's pin, or xdpfw's clsact filter (the qdisc
// stays: others may use it, and an empty one costs nothing).
func (s *State) detachEgress(l netlink.Link) error {
	if err := removeEgressLink(s.dir, l.Attrs().Index); err != nil {
		return err
	}
	return removeEgressFilter(l, s.dir)
}

// removeEgressFilter removes xdpfw's clsact filters from l's egress (a
// crash between an add and its record could leave more than one), but
// not another state's: one running the egress program pinned in another
// pin directory than dir. That state took the interface over (attach
// --force replaces the filter in place, so there is one), and its XDP
// program, enforcing there, needs the flows it learns.
func removeEgressFilter(l netlink.Link, dir string) error {
	fs, err := ourEgressFilters(l)
	if err != nil || len(fs) == 0 {
		return err
	}
	elsewhere := pinnedElsewhere(dir, namesOf())
	for _, f := range fs {
		if elsewhere.holds(uint32(f.Id)) {
			continue
		}
		if err := netlink.FilterDel(f); err != nil {
			return fmt.Errorf("remove the egress filter of %s: %w", l.Attrs().Name, err)
		}
	}
	return nil
}

// egressOn names the hook xdpfw's egress program is on at l, as the
// kernel has it now: EgressNone when neither is. Where the state has its
// egress program, the hook must run that very program: another build's or
// another state's learner writes flows into a table this state's XDP
// program never reads, which status reports as no learner.
func (s *State) egressOn(l netlink.Link) string {
	var want uint32 // 0: any xdpfw egress program
	if s.progs.XdpfwEgress != nil {
		if id, err := progID(s.progs.XdpfwEgress); err == nil {
			want = id
		}
	}
	if id, ok := tcxEgressOn(s.dir, l); ok && (want == 0 || id == want) {
		return EgressTCX
	}
	if f, err := ourEgressFilter(l); err == nil && f != nil && (want == 0 || uint32(f.Id) == want) {
		return EgressClsact
	}
	return EgressNone
}

// runsOwnEgress reports whether l runs the state's own egress program
// (not any xdpfw's): only an interface the state attached to can, so one
// at a record's ifindex under another name is the recorded interface
// renamed, not a new one given its ifindex. Its own is its pinned one,
// by id, or a clsact filter's xdpfw egress program pinned in no other
// state that uses the state's maps (usesMapsOf, as a migration's
// takeover proves it): a growth, a conntrack resize or a migration
// passes over a renamed interface whose XDP program another replaced
// (programsOn), leaving its filter on the program pinned before.
func (s *State) runsOwnEgress(l netlink.Link) bool {
	if s.progs.XdpfwEgress == nil {
		return false
	}
	if _, err := progID(s.progs.XdpfwEgress); err != nil {
		return false // egressOn would take any xdpfw's
	}
	if s.egressOn(l) != EgressNone {
		return true
	}
	fs, err := ourEgressFilters(l)
	if err != nil || len(fs) == 0 {
		return false
	}
	mine, err := s.mapIDs()
	if err != nil {
		return false
	}
	elsewhere := pinnedElsewhere(s.dir, namesOf())
	for _, f := range fs {
		if !elsewhere.holds(uint32(f.Id)) && usesMapsOf(uint32(f.Id), mine) {
			return true
		}
	}
	return false
}

// tcxEgressOn returns the program of the tcx link pinned for l, if the
// link is on l (not defunct).
func tcxEgressOn(dir string, l netlink.Link) (uint32, bool) {
	tl, err := loadEgressLink(dir, l.Attrs().Index)
	if err != nil {
		return 0, false
	}
	defer tl.Close()
	info, err := tl.Info()
	if err != nil {
		return 0, false
	}
	if tcx := info.TCX(); tcx == nil || int(tcx.Ifindex) != l.Attrs().Index {
		return 0, false
	}
	return uint32(info.Program), true
}

// hasEgress reports whether l has an egress learner xdpfw would replace
// in place (attachEgress): what a failed attach leaves where it was.
func (s *State) hasEgress(l netlink.Link) (bool, error) {
	if _, ok := tcxEgressOn(s.dir, l); ok {
		return true, nil
	}
	f, err := ourEgressFilter(l)
	return f != nil, err
}
