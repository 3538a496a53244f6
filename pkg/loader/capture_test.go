package loader

import (
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
)

// captureState makes a state with one rule in a new pin directory, and
// opens it.
func captureState(t *testing.T) *State {
	t.Helper()
	dir := privtest.PinDir(t)
	t.Cleanup(func() { removeState(dir) })
	if err := Provision(dir, func(s *State) error {
		_, err := s.Apply(mustRuleset(t, "policy: pass\nrules:\n  - {proto: udp, dport: 53, action: drop}\n"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var captureAll = CaptureFilter{Pass: true, Drop: true, Snaplen: MaxSnaplen}

// ringInSlot reports whether capture_ring's slot holds a ring.
func ringInSlot(t *testing.T, s *State) bool {
	t.Helper()
	var id uint32
	err := s.maps.CaptureRing.Lookup(uint32(0), &id)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// receives runs a frame through s's program and checks that c copies it.
func receives(t *testing.T, s *State, c *Capture, what string) {
	t.Helper()
	frame := fixtures.UDP("192.0.2.7", "192.0.2.1", 1000, 53)
	if _, err := runFrame(s.progs.Xdpfw, frame); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := c.Next(5 * time.Second)
	if err != nil || !ok || string(rec.Data) != string(frame) || rec.Action != "drop" {
		t.Errorf("%s: the capture read %+v, %v (%v); want the frame sent, dropped", what, rec, ok, err)
	}
}

// TestCaptureStartFails: a start whose switch of `active` fails, after
// its ring went into the slot, takes the ring out again: the state is as
// before (no capture, the slot empty, the rules as they were), and the
// next capture starts and copies frames.
func TestCaptureStartFails(t *testing.T) {
	privtest.Require(t)
	s := captureState(t)
	_, rules, err := s.RuleList()
	if err != nil {
		t.Fatal(err)
	}
	word, err := readActive(&s.maps)
	if err != nil {
		t.Fatal(err)
	}
	// Once the ring is in, `active` is a frozen stand-in: the switch's
	// write fails as any failed write would.
	frozen, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close()
	if err := frozen.Freeze(); err != nil {
		t.Fatal(err)
	}
	active := s.maps.Active
	stopChangesAt(s, func(point string) {
		if point == "capture:ring" {
			if !ringInSlot(t, s) {
				t.Error("at capture:ring, no ring in the slot")
			}
			s.maps.Active = frozen
		}
	})
	c, err := s.StartCapture(captureAll)
	s.maps.Active = active
	stopChangesAt(s, nil)
	if err == nil {
		c.Close()
		t.Fatal("a capture started, its switch failing")
	}
	if !strings.Contains(err.Error(), "switch generation") {
		t.Errorf("the failed start: %v", err)
	}
	if ringInSlot(t, s) {
		t.Error("a failed start left its ring in the slot")
	}
	if w, err := readActive(&s.maps); err != nil || w != word {
		t.Errorf("active %#x (%v) after a failed start, was %#x", w, err, word)
	}
	if pid, _, err := s.CaptureOwner(); err != nil || pid != 0 {
		t.Errorf("a capture of pid %d (%v) after a failed start", pid, err)
	}
	if _, after, err := s.RuleList(); err != nil || !reflect.DeepEqual(after, rules) {
		t.Errorf("rules after a failed start %+v (%v), were %+v", after, err, rules)
	}

	c, err = s.StartCapture(captureAll)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	receives(t, s, c, "a capture after the failed start")
	if stopped, err := s.StopCapture(0); err != nil || !stopped || ringInSlot(t, s) {
		t.Errorf("stop: %v (%v), ring in the slot %v", stopped, err, ringInSlot(t, s))
	}
}

// TestCaptureOneAtATime: a second capture of the same process is refused
// as another process's is, and the first keeps its ring and its frames.
func TestCaptureOneAtATime(t *testing.T) {
	privtest.Require(t)
	s := captureState(t)
	first, err := s.StartCapture(captureAll)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := s.StartCapture(captureAll)
	if err == nil {
		second.Close()
		t.Error("a second capture of the same process started")
	} else if want := "a capture is running (pid " + strconv.Itoa(os.Getpid()) + "): one at a time (xdpfw capture --stop ends it)"; err.Error() != want {
		t.Errorf("the second capture: %v, want %q", err, want)
	}
	receives(t, s, first, "the first capture, a second refused")
	if stopped, err := s.StopCapture(uint32(os.Getpid())); err != nil || !stopped || ringInSlot(t, s) {
		t.Errorf("stop: %v (%v), ring in the slot %v", stopped, err, ringInSlot(t, s))
	}
}

// TestCaptureLeftoverOfThisPid: a capture naming this process that this
// process does not run (an earlier process with the same pid, a
// container's first, killed mid-capture) is taken over, as a dead
// owner's is, not refused as running.
func TestCaptureLeftoverOfThisPid(t *testing.T) {
	privtest.Require(t)
	s := captureState(t)
	left, err := s.StartCapture(captureAll)
	if err != nil {
		t.Fatal(err)
	}
	defer left.Close()
	capturesHere.Delete(s.dir) // as if the process that started it were gone
	c, err := s.StartCapture(captureAll)
	if err != nil {
		t.Fatalf("a leftover capture naming this pid: %v, want it taken over", err)
	}
	defer c.Close()
	receives(t, s, c, "the capture that took the leftover over")
	if stopped, err := s.StopCapture(uint32(os.Getpid())); err != nil || !stopped || ringInSlot(t, s) {
		t.Errorf("stop: %v (%v), ring in the slot %v", stopped, err, ringInSlot(t, s))
	}
}

// captureWords are capture_conf's and capture_stats' values as stored.
func captureWords(t *testing.T, s *State) (xdpfwCaptureConf, xdpfwRingStats) {
	t.Helper()
	var c xdpfwCaptureConf
	var st xdpfwRingStats
	if err := s.maps.CaptureConf.Lookup(uint32(0), &c); err != nil {
		t.Fatal(err)
	}
	if err := s.maps.CaptureStats.Lookup(uint32(0), &st); err != nil {
		t.Fatal(err)
	}
	return c, st
}

// frozenArray is an array of one 4-byte value that no write changes.
func frozenArray(t *testing.T) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCaptureFailedStartKeepsSelection: a start that fails after writing
// its selection puts capture_conf and capture_stats back as they were:
// with no capture running (its switch failing), and taking over a
// capture left on (its ring refused), which kept its dead owner, its
// selection and its counts rather than naming this process.
func TestCaptureFailedStartKeepsSelection(t *testing.T) {
	privtest.Require(t)
	s := captureState(t)
	// A capture of its own selection, with a count, stopped: what a
	// state holds once a capture has run.
	c, err := s.StartCapture(CaptureFilter{Drop: true, Snaplen: 64, MaxRate: 7, Rules: []uint32{1}})
	if err != nil {
		t.Fatal(err)
	}
	receives(t, s, c, "the first capture")
	c.Close()
	if stopped, err := s.StopCapture(0); err != nil || !stopped {
		t.Fatalf("stop: %v (%v)", stopped, err)
	}
	conf, stats := captureWords(t, s)
	if stats.Taken != 1 {
		t.Fatalf("the first capture's counters %+v, want one taken", stats)
	}

	active := s.maps.Active
	stopChangesAt(s, func(point string) {
		if point == "capture:ring" {
			s.maps.Active = frozenArray(t)
		}
	})
	c, err = s.StartCapture(captureAll)
	s.maps.Active = active
	stopChangesAt(s, nil)
	if err == nil {
		c.Close()
		t.Fatal("a capture started, its switch failing")
	}
	if gc, gs := captureWords(t, s); gc != conf || gs != stats {
		t.Errorf("after a failed start: selection %+v, counters %+v; were %+v, %+v", gc, gs, conf, stats)
	}

	// Left on by a process that is gone (as far as this one knows).
	left, err := s.StartCapture(CaptureFilter{Drop: true, Snaplen: 64, MaxRate: 7, Rules: []uint32{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer left.Close()
	receives(t, s, left, "the capture left on")
	capturesHere.Delete(s.dir)
	conf, stats = captureWords(t, s)
	conf.Owner = 1 << 30 // no such process: a takeover
	if err := s.maps.CaptureConf.Put(uint32(0), &conf); err != nil {
		t.Fatal(err)
	}
	ring := s.maps.CaptureRing
	s.maps.CaptureRing = frozenArray(t)
	c, err = s.StartCapture(captureAll)
	s.maps.CaptureRing = ring
	if err == nil {
		c.Close()
		t.Fatal("a capture took over, its ring refused")
	}
	if gc, gs := captureWords(t, s); gc != conf || gs != stats {
		t.Errorf("after a failed takeover: selection %+v, counters %+v; were %+v, %+v", gc, gs, conf, stats)
	}
	if pid, alive, err := s.CaptureOwner(); err != nil || pid != conf.Owner || alive {
		t.Errorf("after a failed takeover the capture is pid %d's (alive %v, %v), want the dead %d's", pid, alive, err, conf.Owner)
	}
	receives(t, s, left, "the capture left on, a takeover failed")
	if stopped, err := s.StopCapture(0); err != nil || !stopped || ringInSlot(t, s) {
		t.Errorf("stop: %v (%v), ring in the slot %v", stopped, err, ringInSlot(t, s))
	}
}

// TestCaptureRuleVerdictLeftOut: a capture naming a rule whose action
// the verdicts leave out is refused, nothing started: a frame the rule
// decides has its action, so the capture would copy nothing for as long
// as it ran. Named with its verdict, the rule is taken.
func TestCaptureRuleVerdictLeftOut(t *testing.T) {
	privtest.Require(t)
	s := captureState(t) // rule 1 drops
	const want = "capture: rule 1 drops the frames it decides, and only passes are selected (--verdict drop or all copies them)"
	if c, err := s.StartCapture(CaptureFilter{Pass: true, Snaplen: 64, Rules: []uint32{1}}); err == nil {
		s.StopCapture(uint32(os.Getpid()))
		c.Close()
		t.Fatalf("a capture of passes by a drop rule started; want %q", want)
	} else if err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
	if ringInSlot(t, s) {
		t.Fatal("the refused capture left a ring in the slot")
	}
	c, err := s.StartCapture(CaptureFilter{Pass: true, Drop: true, Snaplen: 64, Rules: []uint32{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	receives(t, s, c, "rule 1, every verdict")
	if stopped, err := s.StopCapture(uint32(os.Getpid())); err != nil || !stopped {
		t.Errorf("stop: %v (%v)", stopped, err)
	}
}

// TestCaptureIfaceNotAttached: a capture of an interface the state is
// not attached to (lo here) is refused, nothing started: its frames never
// reach the program, so it would copy nothing for as long as it ran.
func TestCaptureIfaceNotAttached(t *testing.T) {
	privtest.Require(t)
	s := captureState(t) // attached nowhere
	const want = "capture: xdpfw is not attached to lo: nothing arriving there would be copied (see xdpfw status)"
	if c, err := s.StartCapture(CaptureFilter{Drop: true, Snaplen: 64, Ifindex: 1}); err == nil {
		s.StopCapture(uint32(os.Getpid()))
		c.Close()
		t.Fatalf("a capture of an interface not attached started; want %q", want)
	} else if err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
	if ringInSlot(t, s) {
		t.Fatal("the refused capture left a ring in the slot")
	}
}
