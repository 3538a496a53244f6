package loader

import (
	"bytes"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestLogRingHoldsASecond: the log ring holds a second of a flood's
// records at the rate limit with nothing reading it, every one decoded
// with the frame's first LogBytes bytes and what decided it. With records
// sized for a capture (2 KiB of frame) it held 125.
func TestLogRingHoldsASecond(t *testing.T) {
	// The rate limit takes LogMaxRate in a second; a second's turn during
	// the run lets more through, not fewer.
	const n = layout.LogMaxRate
	s := openLive(t)
	rs := &rules.Ruleset{Policy: rules.Pass, Rules: []rules.Rule{{ID: 1, Action: rules.Drop, Log: true,
		Match: rules.Match{Proto: rules.Proto{Set: true, Num: rules.ProtoTCP}, Dport: rules.PortRange{Set: true, Lo: 23, Hi: 23}}}}}
	if _, err := s.Apply(rs); err != nil {
		t.Fatal(err)
	}
	// Longer than a log record holds: its bytes past LogBytes are left out.
	frame := fixtures.TCPSyn("203.0.113.9", "192.0.2.10", 41000, 23)
	for i := len(frame); i < 300; i++ {
		frame = append(frame, byte(i))
	}
	if _, err := s.progs.Xdpfw.Run(&ebpf.RunOptions{Data: frame, Repeat: n}); err != nil {
		t.Fatal(err)
	}

	r, err := s.OpenLog()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, bad := 0, 0
	for {
		rec, ok, err := r.Next(100 * time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got++
		if rec.RuleID != 1 || rec.Action != "drop" || rec.Reason != "rule" || rec.Len != len(frame) ||
			!bytes.Equal(rec.Data, frame[:layout.LogBytes]) {
			if bad++; bad == 1 {
				t.Errorf("record %d: rule %d, %s, %s, length %d, %d bytes %x; want rule 1, drop, rule, length %d, its first %d bytes",
					got, rec.RuleID, rec.Action, rec.Reason, rec.Len, len(rec.Data), rec.Data, len(frame), layout.LogBytes)
			}
		}
	}
	if bad > 1 {
		t.Errorf("%d records in all not as the frame", bad)
	}
	c, err := r.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if got != n || c != (RingCounts{Taken: n}) {
		t.Errorf("%d records read, counts %+v; want %d taken, none lost or limited", got, c, n)
	}
}
