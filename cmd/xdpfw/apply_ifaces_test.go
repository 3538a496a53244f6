package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// TestApplyInterfaces: a ruleset file's interfaces: list makes the
// attachments match it (attach, change mode, detach), checked before
// anything changes; interfaces: [] detaches all and keeps the ruleset; a
// file without the key leaves attachments alone. Two veths in a
// throwaway network namespace.
func TestApplyInterfaces(t *testing.T) {
	t.Parallel()
	c := newNSCLI(t, "ifa0")
	c.in(func() error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ifb0"}, PeerName: "ifb0p"})
	})
	attachments := func() map[string]string {
		t.Helper()
		st := decodeJSON[statusJSON](t, "status --json", c.mustRun("status", "--json"))
		out := map[string]string{}
		for _, a := range st.Interfaces {
			out[a.Iface] = fmt.Sprintf("%s attached=%v", a.Mode, a.Attached)
		}
		return out
	}
	file := func(name, ifaces string) string {
		return writeFile(t, t.TempDir(), name, "policy: pass\n"+ifaces+"rules:\n  - {proto: udp, dport: 9, action: drop}\n")
	}
	want := func(step string, got map[string]string, want ...string) {
		t.Helper()
		if len(got) != len(want)/2 {
			t.Errorf("%s: attachments %v, want %v", step, got, want)
			return
		}
		for i := 0; i < len(want); i += 2 {
			if got[want[i]] != want[i+1] {
				t.Errorf("%s: attachments %v, want %s %s", step, got, want[i], want[i+1])
			}
		}
	}

	out := c.mustRun("apply", "-f", file("both.yaml", "interfaces:\n  - {name: ifa0, mode: generic}\n  - name: ifb0\n"))
	if !strings.Contains(out, "attached to ifa0 (generic mode") || !strings.Contains(out, "attached to ifb0 (native mode") {
		t.Errorf("first apply printed %q", out)
	}
	want("after the first apply", attachments(), "ifa0", "generic attached=true", "ifb0", "native attached=true")

	// The same file again changes nothing.
	if out := c.mustRun("apply", "-f", file("again.yaml", "interfaces:\n  - {name: ifa0, mode: generic}\n  - name: ifb0\n")); out != "unchanged: 1 rule, policy pass\n" {
		t.Errorf("the same file again printed %q", out)
	}

	// An unknown interface is refused before anything changes.
	c.wantFail(`unknown interface "nosuch0"`, "apply", "-f", file("typo.yaml", "interfaces: [{name: ifb0, mode: generic}, {name: nosuch0}]\n"))
	want("after a refused file", attachments(), "ifa0", "generic attached=true", "ifb0", "native attached=true")

	out = c.mustRun("apply", "--json", "-f", file("one.yaml", "interfaces: [{name: ifb0, mode: generic}]\n"))
	res := decodeJSON[struct {
		Attached                         []loader.Attachment
		Detached                         []string
		Policy                           string
		Rules, Unchanged, Added, Removed int
		Committed                        bool
		SetsCreated                      int `json:"sets_created"`
		SetsRemoved                      int `json:"sets_removed"`
		SetsChanged                      int `json:"sets_changed"`
		ElementsAdded                    int `json:"set_elements_added"`
		ElementsRemoved                  int `json:"set_elements_removed"`
	}](t, "apply --json", out)
	if len(res.Attached) != 1 || res.Attached[0].Iface != "ifb0" || res.Attached[0].Mode != loader.ModeGeneric || len(res.Detached) != 1 || res.Detached[0] != "ifa0" {
		t.Errorf("apply --json of one interface: %s", out)
	}
	want("after listing only ifb0 in generic mode", attachments(), "ifb0", "generic attached=true")
	if id := c.xdpProg(); id != 0 {
		t.Errorf("ifa0 still runs XDP program %d after apply detached it", id)
	}

	// A file without interfaces: leaves them alone.
	c.mustRun("apply", "-f", file("none.yaml", ""))
	want("after a file without interfaces", attachments(), "ifb0", "generic attached=true")

	// interfaces: [] detaches from all, and the ruleset stays pinned.
	if out := c.mustRun("apply", "-f", file("empty.yaml", "interfaces: []\n")); !strings.Contains(out, "detached from ifb0") {
		t.Errorf("apply of interfaces: [] printed %q", out)
	}
	want("after interfaces: []", attachments())
	if st := decodeJSON[statusJSON](t, "status --json", c.mustRun("status", "--json")); st.Rules != 1 {
		t.Errorf("after interfaces: [], status has %d rules, want the file's 1", st.Rules)
	}

	// An attach that fails past the checks (a bridge has no native XDP)
	// says the new ruleset is live, and the interfaces listed after it
	// are attached all the same; its hint names the file's key (apply
	// has no --mode).
	c.in(func() error { return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "ifc0"}}) })
	failing := writeFile(t, t.TempDir(), "native.yaml", "policy: pass\ninterfaces: [{name: ifc0, mode: native}, {name: ifb0, mode: generic}]\nrules:\n  - {proto: udp, dport: 10, action: drop}\n")
	c.wantFail("the ruleset is applied, but attach to ifc0 in native mode: operation not supported (the driver has no native XDP: give it mode: generic (or auto) in the file's interfaces list)", "apply", "-f", failing)
	want("after an attach failed", attachments(), "ifb0", "generic attached=true")
	if out := c.mustRun("rule", "list"); !strings.Contains(out, "proto udp dport 10") {
		t.Errorf("after the failed attach, the live rules are:\n%s\nwant the file's", out)
	}
	c.mustRun("detach", "--all")
	// With no state before and no interface attached, the apply's own
	// state is removed, and the error says nothing is applied.
	alone := writeFile(t, t.TempDir(), "alone.yaml", "policy: pass\ninterfaces: [{name: ifc0, mode: native}]\nrules: []\n")
	c.wantFail("nothing applied (the state this apply made is removed): attach to ifc0 in native mode", "apply", "-f", alone)
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("a first apply whose attach failed left %s (%v)", c.dir, err)
	}
}

// TestApplyCheckInterfaces: apply --check refuses a file whose
// interfaces: apply would refuse (not here, not Ethernet), with no state
// yet and with one live, in one line, as the apply itself does: it said
// ok, and the apply then failed.
func TestApplyCheckInterfaces(t *testing.T) {
	t.Parallel()
	c := newNSCLI(t, "ick0")
	c.in(func() error {
		return netlink.LinkAdd(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "ict0"}, Mode: netlink.TUNTAP_MODE_TUN})
	})
	file := func(name, ifaces string) string {
		return writeFile(t, t.TempDir(), name, "policy: pass\ninterfaces: "+ifaces+"\nrules:\n  - {proto: udp, dport: 9, action: drop}\n")
	}
	typo, tun, good := file("typo.yaml", "[{name: nosuch0}]"), file("tun.yaml", "[{name: ict0}]"), file("good.yaml", "[{name: ick0, mode: generic}]")
	for _, state := range []string{"no state", "a live state"} {
		c.wantFail(`unknown interface "nosuch0"`, "apply", "--check", "-f", typo)
		c.wantFail("ict0 has no Ethernet header", "apply", "--check", "-f", tun)
		if out := c.mustRun("apply", "--check", "-f", good); !strings.Contains(out, ": ok: 1 rule") {
			t.Errorf("%s: apply --check of a good file printed %q", state, out)
		}
		c.wantFail("ict0 has no Ethernet header", "apply", "-f", tun)
		c.mustRun("apply", "-f", good)
	}
}
