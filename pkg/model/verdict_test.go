package model

import (
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{ReasonRule.String(), "rule"},
		{ReasonDefault.String(), "default"},
		{ReasonMalformed.String(), "malformed"},
		{ReasonNeighbor.String(), "neighbor"},
		{Reason(9).String(), "reason(9)"},
		{Verdict{Action: rules.Drop, Reason: ReasonRule, RuleID: 4}.String(), "drop (rule 4)"},
		{Verdict{Action: rules.Pass, Reason: ReasonNeighbor}.String(), "pass (neighbor)"},
		{KindIPv4.String() + KindIPv6.String() + KindARP.String() + KindOther.String(), "ipv4ipv6arpother"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("#%d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}
