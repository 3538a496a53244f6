package serve

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// TestReloadHints: an attach of the config's interfaces that is refused
// names what serve's operator can do, the config's mode: key or the
// command to run by hand, not a flag of xdpfw attach serve does not take.
// In a throwaway network namespace: a bridge (no native XDP) and a veth
// running an XDP program xdpfw did not attach.
func TestReloadHints(t *testing.T) {
	privtest.Require(t)
	ns, err := perf.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "xdp_pass",
		Type:         ebpf.XDP,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}, // XDP_PASS
		License:      "GPL",
	})
	if err != nil {
		t.Fatalf("load a trivial XDP program: %v", err)
	}
	defer prog.Close() // the attachment holds it
	if err := perf.InNetns(ns, func() error {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "hint0"}}); err != nil {
			return err
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "hint1"}, PeerName: "hint1p"}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(veth, prog.FD(), nl.XDP_FLAGS_SKB_MODE)
	}); err != nil {
		t.Fatal(err)
	}
	pin, dir := privtest.PinDir(t), t.TempDir()
	for _, c := range []struct {
		iface, want, not string
	}{
		{"hint0: {name: hint0, mode: native}", "the driver has no native XDP: give it mode: generic (or auto) in the file's interfaces list", "--mode"},
		{"hint1: {name: hint1}", "remove it, or replace it by hand (xdpfw attach hint1 --force)", "use --force"},
	} {
		name, entry, _ := strings.Cut(c.iface, ": ")
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte("policy: pass\ninterfaces: ["+entry+"]\nrules: []\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		r := &reloader{dir: pin, path: path, log: newLogger(&out, time.Minute)}
		if err := perf.InNetns(ns, func() error {
			r.reload("start", true)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if log := out.String(); !strings.Contains(log, "config not applied") || !strings.Contains(log, c.want) || strings.Contains(log, c.not) {
			t.Errorf("%s: the log says:\n%s\nwant the refusal saying %q, not %q", name, log, c.want, c.not)
		}
	}
}
