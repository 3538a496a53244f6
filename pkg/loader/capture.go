package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/model"
)

// Capture: `xdpfw capture` asks the datapath to copy the frames it
// selects (by verdict, interface and deciding rule) into capture_ring,
// with the rule, action and reason of each. Starting and stopping are
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

// captureChange is a capture starting (conf set) or stopping.
type captureChange struct {
	start bool
	conf  xdpfwCaptureConf
}

// commitCapture writes the selection and zeroes the counters before the
// bit goes on, so the first frame copied is already selected as asked.
func (t *tx) commitCapture(c *captureChange) error {
	if c.start {
		if err := t.m.CaptureConf.Put(uint32(0), &c.conf); err != nil {
			return fmt.Errorf("write capture selection: %w", err)
		}
		if err := t.m.CaptureStats.Put(uint32(0), &xdpfwCaptureStats{}); err != nil {
			return fmt.Errorf("zero capture counters: %w", err)
		}
	}
	if c.start == t.word.capturing() {
		return nil
	}
	return switchActive(t.m, t.word, activeCapture)
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

// StartCapture starts a capture of what f selects, refusing if another
// live process captures, and returns the reader of its records. The
// Capture holds its own handles: close the State while it runs, so other
// commands are not kept waiting.
func (s *State) StartCapture(f CaptureFilter) (*Capture, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	me := uint32(os.Getpid())
	if pid, alive, err := s.CaptureOwner(); err != nil {
		return nil, err
	} else if alive && pid != me {
		return nil, fmt.Errorf("a capture is running (pid %d): one at a time", pid)
	}
	ring, err := s.maps.CaptureRing.Clone()
	if err != nil {
		return nil, fmt.Errorf("capture ring: %w", err)
	}
	stats, err := s.maps.CaptureStats.Clone()
	if err != nil {
		ring.Close()
		return nil, fmt.Errorf("capture counters: %w", err)
	}
	rd, err := ringbuf.NewReader(ring)
	if err != nil {
		ring.Close()
		stats.Close()
		return nil, fmt.Errorf("capture ring: %w", err)
	}
	err = s.change(func(t *tx) error {
		t.capture = &captureChange{start: true, conf: f.conf(me)}
		return nil
	})
	if err != nil {
		rd.Close()
		ring.Close()
		stats.Close()
		return nil, err
	}
	return &Capture{dir: s.dir, ring: ring, stats: stats, rd: rd, owner: me}, nil
}

// StopCapture stops the running capture if pid runs it (any capture when
// pid is 0: `capture --stop`), and reports whether one was stopped.
func (s *State) StopCapture(pid uint32) (bool, error) {
	stopped := false
	err := s.change(func(t *tx) error {
		if !t.word.capturing() {
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
	dir         string
	ring, stats *ebpf.Map
	rd          *ringbuf.Reader
	owner       uint32
}

// CaptureRecord is one copied frame.
type CaptureRecord struct {
	Time    time.Duration // since boot (CLOCK_MONOTONIC), as the kernel took it
	Ifindex int
	Len     int    // the frame's length
	Data    []byte // its first bytes, up to the snap length
	RuleID  uint32 // 0 unless Reason is "rule"
	Action  string // pass or drop
	Reason  string
}

// errRecord is a record too short for its header: never written by the
// datapath.
var errRecord = errors.New("capture: short record")

// Next waits up to timeout for the next record; ok is false when none
// came.
func (c *Capture) Next(timeout time.Duration) (rec CaptureRecord, ok bool, err error) {
	c.rd.SetDeadline(time.Now().Add(timeout))
	raw, err := c.rd.Read()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("read capture ring: %w", err)
	}
	rec, err = decodeRecord(raw.RawSample)
	return rec, err == nil, err
}

// CaptureCounts are a capture's counters: records taken, lost because
// the ring was full (the reader fell behind), and left out by the rate
// limit.
type CaptureCounts struct {
	Taken, Lost, Limited uint64
}

// Counts reads the capture's counters.
func (c *Capture) Counts() (CaptureCounts, error) {
	var st xdpfwCaptureStats
	if err := c.stats.Lookup(uint32(0), &st); err != nil {
		return CaptureCounts{}, fmt.Errorf("read capture counters: %w", err)
	}
	return CaptureCounts{Taken: st.Taken, Lost: st.Lost, Limited: st.Limited}, nil
}

// Stop stops the capture (unless another process took it over) and
// releases the reader.
func (c *Capture) Stop() error {
	defer c.close()
	s, err := Open(c.dir)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.StopCapture(c.owner)
	return err
}

func (c *Capture) close() {
	c.rd.Close()
	c.ring.Close()
	c.stats.Close()
}

// decodeRecord reads a record as the datapath wrote it (layout.CaptureRec,
// in this machine's byte order).
func decodeRecord(raw []byte) (CaptureRecord, error) {
	var r layout.CaptureRec
	if _, err := binary.Decode(raw, binary.NativeEndian, &r); err != nil {
		return CaptureRecord{}, errRecord
	}
	n := min(int(r.Caplen), len(r.Data))
	action := "pass"
	if r.Action == xdpDrop {
		action = "drop"
	}
	return CaptureRecord{
		Time: time.Duration(r.Ts), Ifindex: int(r.Ifindex), Len: int(r.Len),
		Data: append([]byte(nil), r.Data[:n]...), RuleID: r.RuleId,
		Action: action, Reason: model.Reason(r.Reason).String(),
	}, nil
}

// xdpDrop is XDP_DROP, the action the datapath records for a drop.
const xdpDrop = 1
