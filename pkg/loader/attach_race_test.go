package loader

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// TestAttachRaceTwoStates: two states attaching to one interface at once
// (each pin directory has its own lock, so nothing orders them): one
// wins, and the other is refused as it is when it comes second, naming
// the program another pin directory's state put there. Attached between
// its look and its native attach, auto mode took the kernel's refusal
// for a driver without native XDP and tried generic mode, which the
// kernel refused too: "attach to ra0 in generic mode: file exists
// (another XDP program is attached)", on a veth that has native XDP.
func TestAttachRaceTwoStates(t *testing.T) {
	privtest.Require(t)
	dirs := [2]string{privtest.PinDir(t), privtest.PinDir(t)}
	ns, err := perf.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var states [2]*State
	err = perf.InNetns(ns, func() error {
		if err := addVeths("ra0"); err != nil {
			return err
		}
		// Each keeps an interface of its own, so detaching ra0 leaves it.
		for i, dir := range dirs {
			if states[i], err = attachedState(dir, fmt.Sprintf("rb%d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	for _, s := range states {
		if s != nil {
			defer removeState(s.Dir())
			defer s.Close()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 30
	for round := 0; round < rounds; round++ {
		var errs [2]chan error
		start := make(chan struct{})
		for i, s := range states {
			errs[i] = make(chan error, 1)
			go func() {
				errs[i] <- perf.InNetns(ns, func() error {
					<-start
					_, _, err := s.Attach("ra0", ModeAuto, false)
					return err
				})
			}()
		}
		close(start)
		got := [2]error{<-errs[0], <-errs[1]}
		won := -1
		for i, err := range got {
			switch {
			case err == nil:
				won = i
			case !strings.Contains(err.Error(), "that this pin directory does not hold"):
				t.Errorf("round %d: the second attach to ra0: %v, want it refused naming the other state's program", round, err)
			}
		}
		if won < 0 || got[1-won] == nil {
			t.Fatalf("round %d: attaches %v, want one to win", round, got)
		}
		// The one refused left nothing of its own on ra0.
		lost := states[1-won]
		if err := perf.InNetns(ns, func() error {
			l := linkNamed(t, "ra0")
			if _, err := os.Lstat(egressLinkPin(lost.Dir(), l.Attrs().Index)); err == nil {
				t.Errorf("round %d: the refused state's egress link pin on ra0 is left", round)
			}
			if tcx, clsact := egressProgs(t, l); len(tcx)+len(clsact) != 1 {
				t.Errorf("round %d: egress programs on ra0: tcx %v, clsact %v, want the winner's alone", round, tcx, clsact)
			}
			atts, err := lost.Attachments()
			if err != nil {
				return err
			}
			for _, a := range atts {
				if a.Iface == "ra0" {
					t.Errorf("round %d: the refused state records ra0: %+v", round, a)
				}
			}
			_, err = states[won].Detach("ra0")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
	}
}
