package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/model"
)

// Ring reads one of the datapath's ring buffers (capture_ring, log_ring)
// and its counters, through handles of its own: it outlives the State it
// was opened from, so a long read holds no lock.
type Ring struct {
	ring, stats *ebpf.Map
	rd          *ringbuf.Reader
}

func openRing(ring, stats *ebpf.Map) (*Ring, error) {
	r := &Ring{}
	var err error
	if r.ring, err = ring.Clone(); err != nil {
		return nil, fmt.Errorf("ring: %w", err)
	}
	if r.stats, err = stats.Clone(); err != nil {
		r.ring.Close()
		return nil, fmt.Errorf("ring counters: %w", err)
	}
	if r.rd, err = ringbuf.NewReader(r.ring); err != nil {
		r.ring.Close()
		r.stats.Close()
		return nil, fmt.Errorf("ring: %w", err)
	}
	return r, nil
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

// Next waits up to timeout for the next record; ok is false when none
// came.
func (r *Ring) Next(timeout time.Duration) (rec CaptureRecord, ok bool, err error) {
	r.rd.SetDeadline(time.Now().Add(timeout))
	raw, err := r.rd.Read()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("read ring: %w", err)
	}
	rec, err = decodeRecord(raw.RawSample)
	return rec, err == nil, err
}

// RingCounts are a ring's counters: records taken, lost because the ring
// was full (the reader fell behind), and left out by the rate limit.
type RingCounts struct {
	Taken, Lost, Limited uint64
}

// Counts reads the ring's counters.
func (r *Ring) Counts() (RingCounts, error) { return ringCounts(r.stats) }

func ringCounts(stats *ebpf.Map) (RingCounts, error) {
	var st xdpfwRingStats
	if err := stats.Lookup(uint32(0), &st); err != nil {
		return RingCounts{}, fmt.Errorf("read ring counters: %w", err)
	}
	return RingCounts{Taken: st.Taken, Lost: st.Lost, Limited: st.Limited}, nil
}

// Close releases the reader.
func (r *Ring) Close() {
	r.rd.Close()
	r.ring.Close()
	r.stats.Close()
}

// LogRingID is the id of the log ring pinned in dir, 0 when none is: a
// reader follows a state created anew (detach --all, then apply) by it.
func LogRingID(dir string) uint32 {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, xdpfwMapLogRing), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return 0
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		return 0
	}
	id, _ := info.ID()
	return uint32(id)
}

// OpenLog reads the frames of rules with `log: true` (`xdpfw serve`
// writes them to its log). At most LogMaxRate a second are kept, each
// with its first LogBytes bytes.
func (s *State) OpenLog() (*Ring, error) {
	r, err := openRing(s.maps.LogRing, s.maps.LogStats)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	return r, nil
}

// errRecord is a record too short for its header: never written by the
// datapath.
var errRecord = errors.New("ring: short record")

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
