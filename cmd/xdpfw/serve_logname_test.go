package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestServeLogsRenamedInterface: a logged frame's line names the
// interface it came in on as it is named now: an interface renamed
// after serve logged a frame of it was logged under its first name for
// as long as serve ran.
func TestServeLogsRenamedInterface(t *testing.T) {
	privtest.Require(t)
	exe := buildXdpfw(t)
	pin := privtest.PinDir(t)
	cfg := writeFile(t, t.TempDir(), "xdpfw.yaml", `policy: pass
rules:
  - {proto: tcp, dport: 23, action: drop, log: true, comment: telnet}
`)
	const first, renamed = "xsrvlog0", "xsrvlog1"
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: first}, PeerName: first + "p"}); err != nil {
		t.Fatal(err)
	}
	link, err := netlink.LinkByName(first)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(link) })
	p := startServe(t, exe, pin, cfg)
	p.waitLog("config applied", "trigger=start")

	prog, err := ebpf.LoadPinnedProgram(filepath.Join(pin, "prog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	frame := fixtures.TCPSyn("203.0.113.9", "198.51.100.1", 41000, 23)
	// The program's context: the frame came in on the veth.
	type xdpMD struct{ Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32 }
	send := func() {
		t.Helper()
		ctx := xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(link.Attrs().Index)}
		if _, err := prog.Run(&ebpf.RunOptions{Data: frame, Context: ctx}); err != nil {
			t.Fatal(err)
		}
	}
	send()
	p.waitLog("msg=frame", "rule=1", "iface="+first+" ")

	if err := netlink.LinkSetName(link, renamed); err != nil {
		t.Fatal(err)
	}
	// A frame every 200 ms until one is logged under the new name.
	for deadline := time.Now().Add(30 * time.Second); ; {
		send()
		time.Sleep(200 * time.Millisecond)
		logged := false
		for _, l := range p.log() {
			logged = logged || strings.Contains(l, "iface="+renamed+" ")
		}
		if logged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frames on %s (renamed from %s) not logged under its name in 30 s", renamed, first)
		}
	}
	p.signal(syscall.SIGTERM)
	p.exit()
	mustRunCLI(t, pin, "", "detach", "--all")
}
