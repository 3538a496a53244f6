package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestCaptureIfaceGone: a capture of --iface ends once that interface is
// deleted, failing saying so, its capture stopped, as one of --rule ends
// once its rules are removed (and tcpdump once its interface goes): it
// went on for good, copying nothing, the datapath's capture on. In a
// throwaway network namespace entered with nsenter (the pins stay
// visible).
func TestCaptureIfaceGone(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name, ns := newRandomNS(t, "xdpfw-capif")
	xdpfw := func(stderr *bytes.Buffer, args ...string) *exec.Cmd {
		cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + name, self, "--pin-dir", pin}, args...)...)
		cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1")
		if stderr != nil {
			cmd.Stderr = stderr
		}
		return cmd
	}
	var linkErr error
	inNS(t, ns, func() {
		if linkErr = netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "cig0"}, PeerName: "cig1"}); linkErr != nil {
			return
		}
		for _, n := range []string{"cig0", "cig1"} {
			l, err := netlink.LinkByName(n)
			if err == nil {
				err = netlink.LinkSetUp(l)
			}
			if err != nil {
				linkErr = err
				return
			}
		}
	})
	if linkErr != nil {
		t.Fatal(linkErr)
	}
	if out, err := xdpfw(nil, "attach", "cig0", "--mode", "generic").CombinedOutput(); err != nil {
		t.Fatalf("attach cig0: %v\n%s", err, out)
	}
	t.Cleanup(func() { xdpfw(nil, "detach", "--all").Run() })

	var stderr bytes.Buffer
	cmd := xdpfw(&stderr, "capture", "--iface", "cig0", "--verdict", "all")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitCapturing(t, pin, cmd.Process.Pid) // nsenter runs xdpfw in its own process
	inNS(t, ns, func() {
		l, err := netlink.LinkByName("cig0")
		if err == nil {
			err = netlink.LinkDel(l)
		}
		linkErr = err
	})
	if linkErr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("delete cig0: %v", linkErr)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		want := "capture: interface cig0 is no longer in this network namespace (deleted, or moved to another)"
		if err == nil || !strings.Contains(stderr.String(), want) {
			t.Errorf("capture of cig0 deleted: %v, stderr %q; want it to fail saying %q", err, stderr.String(), want)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		xdpfw(nil, "capture", "--stop").Run()
		t.Fatal("a capture of cig0 went on after cig0 was deleted")
	}
	checkCaptureRing(t, pin, false)
}
