package main

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestServeInterfaceLater: serve on a config listing an interface that
// does not exist yet (a boot where the NIC comes up late) refuses it,
// and applies it once the interface is made, attaching to it then, not
// at the retry 30 s later (with the network up meanwhile); the interface
// made again (a bond or VLAN recreated) is attached to again, where
// serve had left it without the firewall until the file next changed; a
// config listing none detaches. In a throwaway network namespace,
// entered with nsenter (which changes nothing else, so the BPF filesystem
// stays).
func TestServeInterfaceLater(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	exe := buildXdpfw(t)
	pin := privtest.PinDir(t)
	name, ns := newRandomNS(t, "xdpfw-serve")
	in := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + name, exe, "--pin-dir", pin}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("xdpfw %v in %s: %v\n%s", args, name, err, out)
		}
		return string(out)
	}
	cfg := writeFile(t, t.TempDir(), "xdpfw.yaml", "policy: pass\ninterfaces: [{name: late0, mode: generic}]\nrules:\n  - {proto: udp, dport: 9, action: drop}\n")

	p := startProc(t, "nsenter", "--net=/run/netns/"+name, exe, "--pin-dir", pin, "serve", "--config", cfg)
	p.waitLog("config not applied", "trigger=start", "unknown interface", "late0")
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Errorf("a refused first config left %s: %v", pin, err)
	}

	// The reload is the link watch's (its trigger), not the retry's
	// 30 s later: no timing is asserted.
	addLate := func() {
		t.Helper()
		var linkErr error
		inNS(t, ns, func() {
			linkErr = netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "late0"}, PeerName: "late0p"})
		})
		if linkErr != nil {
			t.Fatal(linkErr)
		}
	}
	addLate()
	p.waitLog("attached", "interface=late0", "mode=generic")
	p.waitLog("config applied", `trigger="interface late0 added"`, "rules=1")
	st := decodeJSON[statusJSON](t, "status --json", in("status", "--json"))
	if len(st.Interfaces) != 1 || st.Interfaces[0].Iface != "late0" || !st.Interfaces[0].Attached || st.Rules != 1 {
		t.Errorf("status once late0 is made: %+v", st)
	}

	inNS(t, ns, func() {
		if l, err := netlink.LinkByName("late0"); err != nil || netlink.LinkDel(l) != nil {
			t.Fatalf("delete late0: %v", err)
		}
	})
	addLate()
	p.waitLog("attached", "interface=late0", "mode=generic")
	st = decodeJSON[statusJSON](t, "status --json", in("status", "--json"))
	if len(st.Interfaces) != 1 || st.Interfaces[0].Iface != "late0" || !st.Interfaces[0].Attached {
		t.Errorf("status once late0 is made again: %+v", st)
	}

	replaceFile(t, cfg, "policy: pass\ninterfaces: []\nrules:\n  - {proto: udp, dport: 9, action: drop}\n")
	p.waitLog("detached", "interface=late0")
	p.waitLog("config applied: its interfaces changed, its rules did not", `trigger="file changed"`)
	if st := decodeJSON[statusJSON](t, "status --json", in("status", "--json")); len(st.Interfaces) != 0 || st.Rules != 1 {
		t.Errorf("status after interfaces: []: %+v", st)
	}
	p.signal(syscall.SIGTERM)
	if code := p.exit(); code != 0 {
		t.Errorf("serve exited %d on SIGTERM", code)
	}
}
