package loader

import (
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestAttachAfterCutShortResize: a conntrack resize (a ct-state rule onto
// a ruleset without one) cut short after the programs' pins were
// replaced leaves the interfaces running the programs it began with, on
// the state's maps, which no pin holds; status lists them replaced and
// names xdpfw attach IFACE. That attach, and a file's interfaces: listing
// them, refused each as an orphan or another pin directory's, before the
// change that finishes the resize: the way out status named failed.
func TestAttachAfterCutShortResize(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "acr0", "acr1")
		if err != nil {
			return err
		}
		defer func() { s.Close() }()
		cutShort(t, s, "ctresize:programs", func(func(int, int)) { s.Apply(ctRuleset(t, "")) })
		s.Close()
		if s, err = Open(dir); err != nil {
			return err
		}
		if err := s.CanAttach("acr1", false); err != nil {
			t.Errorf("CanAttach(acr1): %v", err)
		}
		file := ctRuleset(t, "")
		file.Interfaces = []rules.Interface{{Name: "acr0", Mode: "generic"}, {Name: "acr1", Mode: "generic"}}
		if err := s.checkInterfaces(file); err != nil {
			t.Errorf("a file listing both: %v", err)
		}
		if _, _, err := s.AttachAll([]string{"acr0"}, ModeGeneric, false); err != nil {
			return fmt.Errorf("attach acr0: %w", err)
		}
		ids, err := s.progIDs()
		if err != nil {
			return err
		}
		for _, name := range []string{"acr0", "acr1"} {
			link, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			if id := xdpProgOf(link); !ids.ours(id) {
				t.Errorf("after the attach %s runs program %d, want the state's (%+v)", name, id, ids)
			}
		}
		return nil
	})
}
