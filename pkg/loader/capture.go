package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Capture: `xdpfw capture` asks the datapath to copy the frames it
// selects (by verdict, interface and deciding rule) into a ring the
// capture makes and puts in capture_ring, with the rule, action and
// reason of each. Starting and stopping are
// changes of the write path: the selection goes to capture_conf, then the
// capture bit of `active` flips, so the datapath pays nothing while no
// capture runs but the test of a bit of the word it reads anyway. One
// capture runs at a time; capture_conf names its process, so one left
// running by a killed process is found (status) and taken over.

// CaptureFilter selects the frames a capture copies.
type CaptureFilter struct {
	Pass, Drop bool     // verdicts to copy (at least one)
	Ifindex    uint32   // 0: every interface
	Rules      []uint32 // copy only frames these rules decide; none: any
	Snaplen    uint32   // bytes of each frame, 1..MaxSnaplen
	MaxRate    uint32   // records per second; 0: no limit
}

// MaxSnaplen is the most of a frame a capture record holds.
const MaxSnaplen = layout.CaptureMaxBytes

func (f CaptureFilter) check() error {
	switch {
	case !f.Pass && !f.Drop:
		return errors.New("capture: no verdict selected")
	case f.Snaplen < 1 || f.Snaplen > MaxSnaplen:
		return fmt.Errorf("capture: snap length %d out of range 1-%d", f.Snaplen, MaxSnaplen)
	case len(f.Rules) > layout.CaptureMaxRules:
		return fmt.Errorf("capture: %d rules named, at most %d", len(f.Rules), layout.CaptureMaxRules)
	}
	return nil
}

// selects refuses rule r when its action is a verdict f leaves out: the
// frames it decides are never copied.
func (f CaptureFilter) selects(r rules.Rule) error {
	switch {
	case r.Action == rules.Pass && !f.Pass:
		return fmt.Errorf("capture: rule %d passes the frames it decides, and only drops are selected (--verdict pass or all copies them)", r.ID)
	case r.Action == rules.Drop && !f.Drop:
		return fmt.Errorf("capture: rule %d drops the frames it decides, and only passes are selected (--verdict drop or all copies them)", r.ID)
	}
	return nil
}

func (f CaptureFilter) conf(owner uint32) xdpfwCaptureConf {
	c := xdpfwCaptureConf{Ifindex: f.Ifindex, Snaplen: f.Snaplen, MaxRate: f.MaxRate, Owner: owner, Nrules: uint32(len(f.Rules))}
	if f.Pass {
		c.Verdicts |= layout.CaptureVerdictPass
	}
	if f.Drop {
		c.Verdicts |= layout.CaptureVerdictDrop
	}
	copy(c.Rules[:], f.Rules)
	return c
}

// captureChange is a capture starting (conf set, with its ring) or
// stopping.
type captureChange struct {
	start bool
	conf  xdpfwCaptureConf
	ring  *ebpf.Map
}

// commitCapture writes the selection, the ring and zeroed counters
// before the bit goes on, so the first frame copied is already selected
// as asked and has a ring; a stop takes the ring out after the bit goes
// off, so the memory is the capture's alone. A start that fails once its
// ring is in takes it out again, as a stop does: nothing shows a capture
// that never started, so its ring would hold its memory unseen until
// capture --stop. The selection and counters it replaced are put back
// too: a failed takeover of a capture left on would otherwise name this
// process as its owner, with another selection and its counts lost, and
// a failed start with none running would leave its selection behind.
func (t *tx) commitCapture(c *captureChange) (err error) {
	if c.start {
		var conf xdpfwCaptureConf
		var stats xdpfwRingStats
		if err := t.m.CaptureConf.Lookup(uint32(0), &conf); err != nil {
			return fmt.Errorf("read capture selection: %w", err)
		}
		if err := t.m.CaptureStats.Lookup(uint32(0), &stats); err != nil {
			return fmt.Errorf("read capture counters: %w", err)
		}
		defer func() {
			if err == nil {
				return
			}
			if perr := t.m.CaptureConf.Put(uint32(0), &conf); perr != nil {
				err = errors.Join(err, fmt.Errorf("put the capture selection back: %w", perr))
			}
			if perr := t.m.CaptureStats.Put(uint32(0), &stats); perr != nil {
				err = errors.Join(err, fmt.Errorf("put the capture counters back: %w", perr))
			}
		}()
		if err := t.m.CaptureConf.Put(uint32(0), &c.conf); err != nil {
			return fmt.Errorf("write capture selection: %w", err)
		}
		if err := t.m.CaptureStats.Put(uint32(0), &xdpfwRingStats{}); err != nil {
			return fmt.Errorf("zero capture counters: %w", err)
		}
		if err := t.m.CaptureRing.Put(uint32(0), c.ring); err != nil {
			return fmt.Errorf("give the capture its ring: %w", err)
		}
		defer func() {
			if err == nil {
				return
			}
			if derr := t.m.CaptureRing.Delete(uint32(0)); derr != nil && !errors.Is(derr, ebpf.ErrKeyNotExist) {
				err = errors.Join(err, fmt.Errorf("take the capture's ring out: %w", derr))
			}
		}()
		t.reached("capture:ring")
	}
	if c.start != t.word.capturing() {
		if err := switchActive(t.m, t.word, activeCapture); err != nil {
			return err
		}
	}
	if !c.start {
		if err := t.m.CaptureRing.Delete(uint32(0)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("take the capture's ring out: %w", err)
		}
	}
	return nil
}

// newCaptureRing makes a capture's ring, as the datapath's template for
// it says.
func newCaptureRing() (*ebpf.Map, error) {
	spec, err := objectSpec()
	if err != nil {
		return nil, err
	}
	return ebpf.NewMap(spec.Maps[xdpfwMapCaptureRing].InnerMap)
}

// CaptureOwner is the process a running capture belongs to, 0 if none
// runs; Alive is false when that process is gone (killed without
// stopping it).
func (s *State) CaptureOwner() (pid uint32, alive bool, err error) {
	err = s.read(func(v *view) error {
		if !v.word.capturing() {
			return nil
		}
		var c xdpfwCaptureConf
		if err := s.maps.CaptureConf.Lookup(uint32(0), &c); err != nil {
			return fmt.Errorf("read capture selection: %w", err)
		}
		pid, alive = c.Owner, processAlive(c.Owner)
		return nil
	})
	return pid, alive, err
}

func processAlive(pid uint32) bool {
	if pid == 0 {
		return false
	}
	err := syscall.Kill(int(pid), 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// StartCapture starts a capture of what f selects, refusing if a live
// process (this one included) captures, and returns the reader of its
// records. The Capture holds its own handles: close the State while it
// runs, so other commands are not kept waiting.
func (s *State) StartCapture(f CaptureFilter) (*Capture, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	me := uint32(os.Getpid())
	ring, err := newCaptureRing()
	if err != nil {
		return nil, fmt.Errorf("capture: make its ring: %w", err)
	}
	defer ring.Close() // the Ring and the slot hold their own
	info, err := ring.Info()
	if err != nil {
		return nil, fmt.Errorf("capture: its ring: %w", err)
	}
	ringID, _ := info.ID()
	r, err := openRing(ring, s.maps.CaptureStats, decodeCaptureRecord)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	err = s.change(func(t *tx) error {
		if err := t.refuseRunningCapture(s.dir, me); err != nil {
			return err
		}
		// A rule that is not live would capture nothing, silently, for
		// as long as the capture runs; so would one whose action the
		// verdicts leave out (a frame a rule decides has its action, and
		// an id keeps its action for life: apply gives a rule whose
		// action changed a new one).
		if len(f.Rules) > 0 {
			rs, _, err := t.ruleset()
			if err != nil {
				return err
			}
			for _, id := range f.Rules {
				i := slices.IndexFunc(rs.Rules, func(r rules.Rule) bool { return r.ID == id })
				if i < 0 {
					return fmt.Errorf("capture: no rule %d in the live ruleset (see xdpfw rule list)", id)
				}
				if err := f.selects(rs.Rules[i]); err != nil {
					return err
				}
			}
		}
		if f.Ifindex != 0 {
			if err := s.capturable(int(f.Ifindex)); err != nil {
				return err
			}
		}
		t.capture = &captureChange{start: true, conf: f.conf(me), ring: ring}
		return nil
	})
	if err != nil {
		r.Close()
		return nil, err
	}
	capturesHere.Store(s.dir, true)
	return &Capture{Ring: r, dir: s.dir, owner: me, ring: ringID, rules: slices.Clone(f.Rules), ifindex: f.Ifindex}, nil
}

// capturable refuses a capture of an interface the state's program does
// not run on, whose frames never reach the program (a capture would copy
// nothing for as long as it ran): one the state is not attached to (a
// typo for one that is), one whose ifindex is a gone interface's record
// (a new interface took it: status's missing), or one where another
// program replaced the state's (status's replaced). A record alone is
// not enough: Attachments checks the kernel, as status does.
func (s *State) capturable(ifindex int) error {
	atts, err := s.Attachments()
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	name, prog := fmt.Sprintf("ifindex %d", ifindex), uint32(0)
	if link, err := netlink.LinkByIndex(ifindex); err == nil {
		name = link.Attrs().Name
		if x := link.Attrs().Xdp; x != nil {
			prog = x.ProgId
		}
	}
	const nothing = "nothing arriving there would be copied"
	i := slices.IndexFunc(atts, func(a Attachment) bool { return a.Ifindex == ifindex })
	switch {
	case i < 0:
		return fmt.Errorf("capture: xdpfw is not attached to %s: %s (see xdpfw status)", name, nothing)
	case atts[i].Attached:
		return nil
	case atts[i].recorded != name:
		// Attachments keeps the record's name when the interface at
		// its ifindex is another (not the state's program).
		return fmt.Errorf("capture: xdpfw is not attached to %s: its ifindex %d is the record of %s, which is gone (status: %s missing): %s (see xdpfw status)",
			name, ifindex, atts[i].recorded, atts[i].recorded, nothing)
	case prog != 0:
		return fmt.Errorf("capture: xdpfw is not attached to %s: it runs XDP program id %d, not the pinned xdpfw's (status: %s replaced): %s (see xdpfw status)",
			name, prog, name, nothing)
	default:
		return fmt.Errorf("capture: xdpfw is not attached to %s: it runs no XDP program, not the pinned xdpfw's (status: %s replaced): %s (see xdpfw status)",
			name, name, nothing)
	}
}

// capturesHere holds the pin directories this process runs a capture on.
var capturesHere sync.Map

// refuseRunningCapture refuses a start while a live process captures,
// this one included (a second start would take the first's ring, whose
// reader would then read nothing more). A capture naming this process
// that this process does not run is a leftover of an earlier one with
// the same pid (a container's first process, killed mid-capture): taken
// over, as a dead owner's is.
func (t *tx) refuseRunningCapture(dir string, me uint32) error {
	if !t.word.capturing() {
		return nil
	}
	var c xdpfwCaptureConf
	if err := t.m.CaptureConf.Lookup(uint32(0), &c); err != nil {
		return fmt.Errorf("read capture selection: %w", err)
	}
	if _, mine := capturesHere.Load(dir); !processAlive(c.Owner) || c.Owner == me && !mine {
		return nil
	}
	return fmt.Errorf("a capture is running (pid %d): one at a time (xdpfw capture --stop ends it)", c.Owner)
}

// StopCapture stops the running capture if pid runs it (any capture when
// pid is 0: `capture --stop`), and reports whether one was stopped.
func (s *State) StopCapture(pid uint32) (bool, error) {
	stopped := false
	err := s.change(func(t *tx) error {
		if !t.word.capturing() {
			if pid == 0 {
				// a ring a stop cut short left in its slot
				t.capture = &captureChange{}
			}
			return nil
		}
		var c xdpfwCaptureConf
		if err := t.m.CaptureConf.Lookup(uint32(0), &c); err != nil {
			return fmt.Errorf("read capture selection: %w", err)
		}
		if pid != 0 && c.Owner != pid {
			return nil // another process took it over
		}
		t.capture, stopped = &captureChange{}, true
		return nil
	})
	return stopped, err
}

// Capture is a running capture's reader.
type Capture struct {
	*Ring
	dir     string
	owner   uint32
	ring    ebpf.MapID // its ring's, as the capture slot holds it
	rules   []uint32   // the rules it selects, as RuleChanges last saw them
	ifindex uint32     // the interface it selects (0: every one)
}

// IfaceGone reports whether the interface the capture selects is gone
// from this network namespace (deleted, or moved to another): nothing
// more of it would be copied, and a new interface of its name has
// another ifindex. It asks the kernel, not the state, so takes no lock.
func (c *Capture) IfaceGone() bool {
	return c.ifindex != 0 && vanished(int(c.ifindex))
}

// Running reports whether the capture still runs: its ring is the one
// in the pin directory's capture slot. It is not when capture --stop
// ended it, another process took it over, or detach --all removed the
// state (and an attach made a new one): its ring then gets nothing more.
// It reads the pinned slot without the state's lock, so a long command
// holding the lock neither holds the capture up nor is held up by it.
func (c *Capture) Running() (bool, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(c.dir, xdpfwMapCaptureRing), &ebpf.LoadPinOptions{ReadOnly: true})
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("capture: read its slot: %w", err)
	}
	defer m.Close()
	var id uint32
	switch err := m.Lookup(uint32(0), &id); {
	case errors.Is(err, ebpf.ErrKeyNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("capture: read its slot: %w", err)
	}
	return ebpf.MapID(id) == c.ring, nil
}

// Stop stops the capture (unless another process took it over) and
// releases the reader.
func (c *Capture) Stop() error {
	defer c.Close()
	defer capturesHere.Delete(c.dir)
	s, err := Open(c.dir)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.StopCapture(c.owner)
	return err
}
