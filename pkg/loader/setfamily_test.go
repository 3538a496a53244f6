package loader

import (
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestApplySetFamilyChanged: a file that gives a live set another family
// is refused, changing nothing, and the refusal says what to do: while
// live rules use the set, give it another name in the file (the rules
// move to the new set in the same commit: both applies it takes go
// through), and when none does, set destroy first. It said only to
// destroy the set, which set destroy refuses while a rule uses it, so
// serve, reloading a file whose set the CLI had made anew in another
// family, was refused for good.
func TestApplySetFamilyChanged(t *testing.T) {
	s := openLive(t)
	file := func(name, family string, use bool) *rules.Ruleset {
		t.Helper()
		y := "policy: pass\nsets:\n  " + name + ": {family: " + family + ", elements: [2001:db8::/32]}\n"
		if family == "ipv4" {
			y = strings.Replace(y, "2001:db8::/32", "192.0.2.0/24", 1)
		}
		if use {
			y += "rules:\n  - {src: \"@" + name + "\", action: drop}\n"
		}
		rs, err := rules.ParseYAML("feed.yaml", []byte(y), rules.FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	refused := func(rs *rules.Ruleset, want string) {
		t.Helper()
		live, err := s.Ruleset()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(rs); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("apply: %v, want it refused: %s", err, want)
		}
		if now, err := s.Ruleset(); err != nil || len(now.Rules) != len(live.Rules) || now.Sets["feed"].Family != live.Sets["feed"].Family {
			t.Fatalf("the refused apply changed the live ruleset: %+v (%v), was %+v", now, err, live)
		}
	}
	mustApply := func(rs *rules.Ruleset) {
		t.Helper()
		if _, err := s.Apply(rs); err != nil {
			t.Fatal(err)
		}
	}

	mustApply(file("feed", "ipv4", true))
	refused(file("feed", "ipv6", true), "set feed is ipv4, the ruleset makes it ipv6: a set keeps its family under its name, "+
		"and it is used by live rule 1: give the set another name in the file and apply it (the rules move to the new set in the same commit, and feed goes), "+
		"or delete those rules and run xdpfw set destroy feed first")
	// The way the refusal gives, and back to the name.
	mustApply(file("feed6", "ipv6", true))
	mustApply(file("feed", "ipv6", true))
	rs, err := s.Ruleset()
	if err != nil || rs.Sets["feed"] == nil || rs.Sets["feed"].Family != rules.FamilyIPv6 || rs.Sets["feed6"] != nil || rs.Rules[0].Match.SrcSet != "feed" {
		t.Fatalf("after the renames: %+v (%v), want set feed ipv6 alone, the rule on it", rs, err)
	}

	// A set no live rule uses (made anew by the CLI in another family).
	mustApply(file("feed", "ipv6", false))
	if err := s.DestroySet("feed"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSet("feed", rules.FamilyIPv4); err != nil {
		t.Fatal(err)
	}
	refused(file("feed", "ipv6", true), "set feed is ipv4, the ruleset makes it ipv6: a set keeps its family under its name, "+
		"and no live rule uses it: run xdpfw set destroy feed, then apply again")
	if err := s.DestroySet("feed"); err != nil {
		t.Fatal(err)
	}
	mustApply(file("feed", "ipv6", true))
}
