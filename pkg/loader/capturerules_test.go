package loader

import (
	"reflect"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestCaptureFollowsRenumberedRule: a capture of rule 1 goes on copying
// its frames once an apply keeps the rule but renumbers it (a rule put
// before it at its priority), each record naming the new id, and reports
// the new id; once the rule is deleted it reports that none is left. The
// selection kept the old id, which no frame had again: the capture went
// silent.
func TestCaptureFollowsRenumberedRule(t *testing.T) {
	privtest.Require(t)
	s := captureState(t) // rule 1: udp dport 53, drop
	c, err := s.StartCapture(CaptureFilter{Drop: true, Snaplen: MaxSnaplen, Rules: []uint32{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer s.StopCapture(0)

	// Around the switch a frame of either generation is copied: the
	// list holds the old id and the new until the new rules are live.
	frame := fixtures.UDP("192.0.2.7", "192.0.2.1", 1000, 53)
	var around []uint32
	stopChangesAt(s, func(point string) {
		if point != "switch" && point != "switched" {
			return
		}
		if _, err := runFrame(s.progs.Xdpfw, frame); err != nil {
			t.Fatal(err)
		}
		rec, ok, err := c.Next(2 * time.Second)
		if err != nil || !ok {
			t.Errorf("at %s the capture read nothing (%v)", point, err)
		}
		around = append(around, rec.RuleID)
	})
	_, err = s.Apply(mustRuleset(t, "policy: pass\nrules:\n  - {proto: tcp, dport: 23, action: drop}\n  - {proto: udp, dport: 53, action: drop}\n"))
	stopChangesAt(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	live, err := s.Ruleset()
	if err != nil {
		t.Fatal(err)
	}
	var now uint32
	for _, r := range live.Rules {
		if r.Match.Proto.Num == rules.ProtoUDP {
			now = r.ID
		}
	}
	if now == 1 || now == 0 {
		t.Fatalf("the apply left the udp rule id %d: the test needs it renumbered (%+v)", now, live.Rules)
	}
	if want := []uint32{1, now}; !reflect.DeepEqual(around, want) {
		t.Errorf("the frames sent at the switch and just after it were copied as rules %v, want %v", around, want)
	}

	if _, err := runFrame(s.progs.Xdpfw, frame); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := c.Next(2 * time.Second)
	if err != nil || !ok || rec.RuleID != now || string(rec.Data) != string(frame) {
		t.Errorf("after the renumbering the capture read %+v, %v (%v); want the frame, decided by rule %d", rec, ok, err, now)
	}
	changes, left, err := c.RuleChanges()
	if want := []RuleChange{{Was: 1, Now: now}}; err != nil || !left || !reflect.DeepEqual(changes, want) {
		t.Errorf("rule changes %+v (left %v, %v), want %+v", changes, left, err, want)
	}
	if changes, left, err = c.RuleChanges(); err != nil || !left || changes != nil {
		t.Errorf("asked again: rule changes %+v (left %v, %v), want none", changes, left, err)
	}

	if err := s.DeleteRules([]uint32{now}); err != nil {
		t.Fatal(err)
	}
	changes, left, err = c.RuleChanges()
	if want := []RuleChange{{Was: now, Now: 0}}; err != nil || left || !reflect.DeepEqual(changes, want) {
		t.Errorf("after the delete: rule changes %+v (left %v, %v), want %+v and none left", changes, left, err, want)
	}
}

// TestCarryCaptureRules: a captured id goes to the rule of the next
// ruleset that keeps its id or its counter slot, and to 0 when its slot
// is gone or given to a new rule (zeroed); ids not live stay as they are.
func TestCarryCaptureRules(t *testing.T) {
	live := map[uint32]uint32{1: 0, 2: 1, 3: 2, 4: 3}
	next := []rules.Rule{{ID: 1}, {ID: 7}, {ID: 8}, {ID: 9}}
	nextSlots := map[uint32]uint32{1: 0, 7: 1, 8: 2, 9: 5}
	// 2 renumbered (slot 1 kept), 3 deleted and its slot given to new
	// rule 8, 4 deleted, 5 and 0 not live.
	got := carryCaptureRules([]uint32{1, 2, 3, 4, 5, 0}, live, next, nextSlots, []uint32{2, 5})
	if want := []uint32{1, 7, 0, 0, 5, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("carried %v, want %v", got, want)
	}
}
