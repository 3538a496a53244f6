package loader

import (
	"fmt"
	"net"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestIfaceMadeAgain: a rule naming an interface goes on matching it
// after the interface is deleted and made again under its name (a new
// ifindex): attach finds the name's new interface, and so does an apply
// of the same file, where before either left the rule on the old
// ifindex, matching nothing, with the ruleset unchanged.
func TestIfaceMadeAgain(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "ifa0")
		if err != nil {
			return err
		}
		defer s.Close()
		rs := mustRuleset(t, "policy: pass\nrules:\n  - {iface: ifa0, proto: icmp, action: drop}\n")
		if _, err := s.Apply(rs); err != nil {
			return err
		}
		tr, err := s.NewInstance(true)
		if err != nil {
			return err
		}
		defer tr.Close()
		ping := fixtures.Echo("192.0.2.1", "192.0.2.2")
		dropped := func(when string) error {
			ifi, err := net.InterfaceByName("ifa0")
			if err != nil {
				return err
			}
			v, err := tr.RunOn(ping, ifi.Index)
			if err != nil {
				return err
			}
			if v.Action != rules.Drop {
				return fmt.Errorf("%s: a ping arriving on ifa0 (ifindex %d) got %v, want drop by the iface rule", when, ifi.Index, v)
			}
			return nil
		}
		if err := dropped("first attached"); err != nil {
			return err
		}
		again := func() error {
			if err := delLink("ifa0"); err != nil {
				return err
			}
			return addVeths("ifa0")
		}

		if err := again(); err != nil {
			return err
		}
		if _, _, err := s.Attach("ifa0", ModeGeneric, false); err != nil {
			return err
		}
		if err := dropped("made again, attached again"); err != nil {
			return err
		}

		if err := again(); err != nil {
			return err
		}
		res, err := s.Apply(rs)
		if err != nil {
			return err
		}
		if !res.Committed {
			t.Error("apply of the same file after ifa0 was made again committed nothing")
		}
		if err := dropped("made again, the same file applied"); err != nil {
			return err
		}
		// Nothing made again: the same file changes nothing.
		if res, err := s.Apply(rs); err != nil || res.Committed {
			t.Errorf("apply of the same file again: %+v, %v; want nothing committed", res, err)
		}
		return nil
	})
}
