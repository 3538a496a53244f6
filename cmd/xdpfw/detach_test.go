package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
)

// TestDetachAllSaysWhatItDid: detach --all that fails part-way prints the
// interfaces it did detach before the error (they stay detached); it
// printed the error alone. The failure: the second interface deleted, and
// its egress link pin (egress_IFINDEX) a directory with an entry, which
// forgetting the interface cannot remove.
func TestDetachAllSaysWhatItDid(t *testing.T) {
	t.Parallel()
	c := newNSCLI(t, "ifd0")
	var second int
	c.in(func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ifd1"}, PeerName: "ifd1p"}); err != nil {
			return err
		}
		l, err := netlink.LinkByName("ifd1")
		if err != nil {
			return err
		}
		second = l.Attrs().Index
		return nil
	})
	c.mustRun("attach", "ifd0", "ifd1", "--mode", "generic")
	c.in(func() error { return netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ifd1"}}) })
	pin := filepath.Join(c.dir, fmt.Sprintf("egress_%d", second))
	os.Remove(pin)
	if err := os.MkdirAll(filepath.Join(pin, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	defer func() {
		os.RemoveAll(pin)
		c.run("detach", "--all")
	}()
	out, _, err := c.run("detach", "--all")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("forget ifindex %d", second)) || out != "detached from ifd0\n" {
		t.Errorf("detach --all: printed %q, error %v; want detached from ifd0, then the error forgetting ifindex %d", out, err, second)
	}
}

// TestDetachGoneRecordOfNameMadeAgain: an interface deleted while
// attached and made again under its name (a new ifindex), attached by
// hand, leaves the gone one's record, which status lists as missing.
// Its fix forgets that record alone: it was `detach NAME`, which
// detached the live interface, taking the firewall off it, and left the
// gone record. detach NAME now detaches the live one and warns that the
// gone record stays, the state kept; detach --ifindex of no record is
// refused in one line, changing nothing.
func TestDetachGoneRecordOfNameMadeAgain(t *testing.T) {
	t.Parallel()
	c := newNSCLI(t, "agn0")
	defer c.run("detach", "--all")
	c.mustRun("attach", "agn0", "--mode", "generic")
	// makeAgain deletes agn0 and makes it again, attached by hand, and
	// returns the gone one's ifindex.
	makeAgain := func() int {
		var gone int
		c.in(func() error {
			link, err := netlink.LinkByName("agn0")
			if err != nil {
				return err
			}
			gone = link.Attrs().Index
			if err := netlink.LinkDel(link); err != nil {
				return err
			}
			return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "agn0"}, PeerName: "agn0p"})
		})
		c.mustRun("attach", "agn0", "--mode", "generic")
		return gone
	}
	gone := makeAgain()
	live := c.xdpProg()
	if live == 0 {
		t.Fatal("agn0 made again runs no program after attach")
	}
	st := decodeJSON[statusJSON](t, "status --json", c.wantFail("is gone", "status", "--json"))
	want := fmt.Sprintf("xdpfw detach --ifindex %d", gone)
	if len(st.Problems) != 1 || st.Problems[0].Kind != "missing" || st.Problems[0].Fix != want {
		t.Fatalf("status: problems %+v, want agn0 (ifindex %d) missing, fixed by %s", st.Problems, gone, want)
	}
	out := c.mustRun(strings.Fields(st.Problems[0].Fix)[1:]...)
	if out != fmt.Sprintf("removed the record of agn0 (ifindex %d): xdpfw was no longer running there\n", gone) {
		t.Errorf("%s printed %q", want, out)
	}
	if got := c.xdpProg(); got != live {
		t.Errorf("after %s: agn0 runs program %d, want %d (the firewall kept on the live interface)", want, got, live)
	}
	st = decodeJSON[statusJSON](t, "status --json", c.mustRun("status", "--json"))
	if len(st.Problems) != 0 || len(st.Interfaces) != 1 || !st.Interfaces[0].Attached || st.Interfaces[0].Ifindex == gone {
		t.Errorf("after %s: interfaces %+v, problems %+v; want the live agn0 alone, attached, no problem", want, st.Interfaces, st.Problems)
	}
	c.wantFail(fmt.Sprintf("no interface record has ifindex %d (xdpfw status lists them)", gone), "detach", "--ifindex", fmt.Sprint(gone))
	c.wantFail("detach: interface names, --ifindex, --all and --orphans each go alone: give one", "detach", "agn0", "--ifindex", fmt.Sprint(gone))
	if got := c.xdpProg(); got != live {
		t.Errorf("a refused detach --ifindex: agn0 runs program %d, want %d", got, live)
	}

	// detach NAME detaches the live one, as asked, and says the gone
	// record stays: forgetting it could remove the state with it.
	gone = makeAgain()
	out, stderr, err := c.run("detach", "agn0")
	wantWarn := fmt.Sprintf("xdpfw: warning: a record of agn0 whose interface is gone (ifindex %d) stays, keeping the state pinned (forget it: xdpfw detach --ifindex %d)\n", gone, gone)
	if err != nil || out != "detached from agn0\n" || stderr != wantWarn {
		t.Errorf("detach agn0: printed %q, warned %q, error %v; want detached from agn0 and the warning %q", out, stderr, err, wantWarn)
	}
	if got := c.xdpProg(); got != 0 {
		t.Errorf("after detach agn0: agn0 runs program %d", got)
	}
	out = c.mustRun("detach", "--ifindex", fmt.Sprint(gone))
	if out != fmt.Sprintf("removed the record of agn0 (ifindex %d): xdpfw was no longer running there\nno interface left: removed %s\n", gone, c.dir) {
		t.Errorf("detach --ifindex %d, the last record: printed %q", gone, out)
	}
}

// TestDetachNameOfGoneInterface: detach NAME of an interface deleted
// while attached forgets its record and says so; it said "detached from
// NAME", as if a program had been taken off a live interface.
func TestDetachNameOfGoneInterface(t *testing.T) {
	t.Parallel()
	c := newNSCLI(t, "dgi0")
	defer c.run("detach", "--all")
	var gone int
	c.in(func() error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "dgi1"}, PeerName: "dgi1p"})
	})
	c.mustRun("attach", "dgi0", "dgi1", "--mode", "generic")
	c.in(func() error {
		l, err := netlink.LinkByName("dgi1")
		if err != nil {
			return err
		}
		gone = l.Attrs().Index
		return netlink.LinkDel(l)
	})
	if out := c.mustRun("detach", "dgi1"); out != fmt.Sprintf("removed the record of dgi1 (ifindex %d): its interface is gone\n", gone) {
		t.Errorf("detach dgi1, deleted: printed %q", out)
	}
	if out := c.mustRun("detach", "dgi0"); out != fmt.Sprintf("detached from dgi0\nno interface left: removed %s\n", c.dir) {
		t.Errorf("detach dgi0: printed %q", out)
	}
}

// TestDetachNameOfReplacedProgram: detach NAME of an interface whose
// xdpfw program another replaced leaves that program and says only the
// record went, as detach --ifindex does: it said detached from NAME, as
// if the program there had been removed.
func TestDetachNameOfReplacedProgram(t *testing.T) {
	t.Parallel()
	c := newNSCLI(t, "rpl0")
	defer c.run("detach", "--all")
	c.mustRun("attach", "rpl0", "--mode", "generic")
	other, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "other", Type: ebpf.XDP, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var id uint32
	c.in(func() error {
		l, err := netlink.LinkByName("rpl0")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetXdpFdWithFlags(l, other.FD(), nl.XDP_FLAGS_SKB_MODE); err != nil {
			return err
		}
		if l, err = netlink.LinkByName("rpl0"); err != nil {
			return err
		}
		id = l.Attrs().Xdp.ProgId
		return nil
	})
	out := c.mustRun("detach", "rpl0")
	want := fmt.Sprintf("xdpfw was no longer running there (XDP program id %d, not xdpfw's, left in place)", id)
	if !strings.Contains(out, "removed the record of rpl0") || !strings.Contains(out, want) {
		t.Errorf("detach rpl0 of a replaced program printed %q, want it to say the record was removed and %q", out, want)
	}
	c.in(func() error {
		l, err := netlink.LinkByName("rpl0")
		if err != nil {
			return err
		}
		if x := l.Attrs().Xdp; x == nil || x.ProgId != id {
			t.Errorf("after detach rpl0 runs %+v, want the other program %d left", x, id)
		}
		return nil
	})
}
