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
// tries again, and applies it once the interface exists, attaching to
// it; a config listing none detaches. In a throwaway network namespace,
// entered with nsenter (which changes nothing else, so the BPF filesystem
// stays); the retry comes every 30 s, so this test takes that long.
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

	var linkErr error
	inNS(t, ns, func() {
		linkErr = netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "late0"}, PeerName: "late0p"})
	})
	if linkErr != nil {
		t.Fatal(linkErr)
	}
	p.waitLog("attached", "interface=late0", "mode=generic")
	p.waitLog("config applied", "trigger=retry", "rules=1")
	st := decodeJSON[statusJSON](t, "status --json", in("status", "--json"))
	if len(st.Interfaces) != 1 || st.Interfaces[0].Iface != "late0" || !st.Interfaces[0].Attached || st.Rules != 1 {
		t.Errorf("status after the retry: %+v", st)
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
