package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
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
