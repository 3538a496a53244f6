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
	decode      func(raw []byte) (CaptureRecord, error) // the ring's record type
}

func openRing(ring, stats *ebpf.Map, decode func([]byte) (CaptureRecord, error)) (*Ring, error) {
	r := &Ring{decode: decode}
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
	rec, err = r.decode(raw.RawSample)
	return rec, err == nil, err
}

// RingCounts are a ring's counters: records taken, lost because the ring
// was full (the records not yet read left no room for one more), and
// left out by the rate limit.
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
	r, err := openRing(s.maps.LogRing, s.maps.LogStats, decodeLogRecord)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	return r, nil
}

// errRecord is a record too short for its ring's type: never written by the
// datapath.
var errRecord = errors.New("ring: short record")

// decodeCaptureRecord reads a record of a capture's ring as the datapath
// wrote it (layout.CaptureRec, in this machine's byte order).
func decodeCaptureRecord(raw []byte) (CaptureRecord, error) {
	var r layout.CaptureRec
	if _, err := binary.Decode(raw, binary.NativeEndian, &r); err != nil {
		return CaptureRecord{}, errRecord
	}
	return record(r.Head, r.Data[:]), nil
}

// decodeLogRecord reads a record of the log ring (layout.LogRec). A
// longer record, a capture_rec written by a program built before log_rec
// (same layout version), has the same head and its bytes first.
func decodeLogRecord(raw []byte) (CaptureRecord, error) {
	var r layout.LogRec
	if _, err := binary.Decode(raw, binary.NativeEndian, &r); err != nil {
		return CaptureRecord{}, errRecord
	}
	return record(r.Head, r.Data[:]), nil
}

// record is what head says of the frame, with its caplen bytes of data.
func record(head layout.RingRec, data []byte) CaptureRecord {
	n := min(int(head.Caplen), len(data))
	action := "pass"
	if head.Action == xdpDrop {
		action = "drop"
	}
	return CaptureRecord{
		Time: time.Duration(head.Ts), Ifindex: int(head.Ifindex), Len: int(head.Len),
		Data: append([]byte(nil), data[:n]...), RuleID: head.RuleId,
		Action: action, Reason: model.Reason(head.Reason).String(),
	}
}

// xdpDrop is XDP_DROP, the action the datapath records for a drop.
const xdpDrop = 1
