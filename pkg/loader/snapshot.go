package loader

import (
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Snapshot is what a monitor reads of a live state at one moment: the
// rules with their counters, the verdict counters, the sets and the
// attachments. Each part is one read of the maps; the parts are read one
// after the other, so counters may advance in between.
type Snapshot struct {
	Policy      rules.Action
	Rules       []RuleRow          // evaluation order
	Verdicts    map[string]Counter // by StatNames name
	Sets        []SetInfo
	Attachments []Attachment
	Interfaces  []IfaceCounters // verdict counters per attached interface
	Capture     RingCounts      // the running (or last) capture's records
	Log         RingCounts      // the records of rules with log: true
	Conntrack   CTStats         // the connection-tracking table and its counters
}

// The capacities a snapshot's sizes fill.
const (
	MaxRules = rules.MaxRules
	MaxSets  = layout.MaxSets
)

// Snapshot reads the live rules, counters, sets and attachments.
func (s *State) Snapshot() (snap Snapshot, err error) {
	if snap.Policy, snap.Rules, err = s.RuleList(); err != nil {
		return snap, err
	}
	if snap.Verdicts, err = s.VerdictCounters(); err != nil {
		return snap, err
	}
	if snap.Sets, err = s.Sets(); err != nil {
		return snap, err
	}
	if snap.Attachments, err = s.Attachments(); err != nil {
		return snap, err
	}
	if snap.Interfaces, err = s.InterfaceCounters(); err != nil {
		return snap, err
	}
	if snap.Capture, err = ringCounts(s.maps.CaptureStats); err != nil {
		return snap, err
	}
	if snap.Log, err = ringCounts(s.maps.LogStats); err != nil {
		return snap, err
	}
	snap.Conntrack, err = s.ConntrackStats()
	return snap, err
}
