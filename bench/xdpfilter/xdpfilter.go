// Package xdpfilter runs xdp-filter (Debian's xdp-tools) through its own
// CLI on a veth in a throwaway network namespace, so its program can be
// measured beside xdpfw's: the program it loads is found by its id and
// driven with BPF_PROG_TEST_RUN like any other.
package xdpfilter

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/xdpfw/xdpfw/pkg/perf"
)

const ifname = "xf0"

// Filter is one xdp-filter instance, loaded in allow mode (entries are
// denied, everything else passes) on its own veth.
type Filter struct {
	ns     netns.NsHandle
	nsFile *os.File // the namespace as fd 3 of each xdp-filter process
	bpffs  string   // xdp-filter's pins, private to this instance
	Prog   *ebpf.Program
}

// Load creates the namespace and veth and runs `xdp-filter load`.
func Load() (_ *Filter, err error) {
	// Not the named result: returning nil would leave the deferred
	// Close nothing to close, and the namespace behind.
	f := &Filter{ns: netns.None()}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if f.ns, err = perf.NewNetns(); err != nil {
		return nil, err
	}
	if f.nsFile, err = perf.NetnsFile(f.ns); err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(f.ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ifname}, PeerName: ifname + "p"}); err != nil {
		return nil, fmt.Errorf("create veth: %w", err)
	}
	// libxdp pins under LIBXDP_BPFFS; a private directory keeps parallel
	// runs (and anyone's real xdp-filter) apart.
	f.bpffs = filepath.Join("/sys/fs/bpf", fmt.Sprintf("xdpfw-bench-xdpfilter-%d-%d", os.Getpid(), f.nsFile.Fd()))
	if err := os.Mkdir(f.bpffs, 0o700); err != nil {
		return nil, err
	}
	if err := f.Run("load", "--mode", "native", "--policy", "allow", "--features", "all", ifname); err != nil {
		return nil, err
	}
	link, err := h.LinkByName(ifname)
	if err != nil {
		return nil, err
	}
	if link.Attrs().Xdp == nil || link.Attrs().Xdp.ProgId == 0 {
		return nil, fmt.Errorf("xdp-filter load left no XDP program on %s", ifname)
	}
	if f.Prog, err = ebpf.NewProgramFromID(ebpf.ProgramID(link.Attrs().Xdp.ProgId)); err != nil {
		return nil, fmt.Errorf("open xdp-filter's program: %w", err)
	}
	return f, nil
}

// Run runs one xdp-filter command in the instance's namespace.
func (f *Filter) Run(args ...string) error {
	// Without the libxdp dispatcher the program is xdp-filter's own, as
	// xdpfw's is: no extra call in front of it.
	return perf.ExecIn(f.nsFile, []string{"LIBXDP_BPFFS=" + f.bpffs, "LIBXDP_SKIP_DISPATCHER=1"}, nil, "xdp-filter", args...)
}

// Deny adds the denylist: each address as a source, each port as a TCP and
// UDP destination port, one CLI call each (the only way xdp-filter takes
// them).
func (f *Filter) Deny(addrs []netip.Addr, ports []uint16) error {
	for _, a := range addrs {
		if err := f.Run("ip", "--mode", "src", a.String()); err != nil {
			return err
		}
	}
	for _, p := range ports {
		if err := f.Run("port", "--mode", "dst", "--proto", "tcp,udp", strconv.Itoa(int(p))); err != nil {
			return err
		}
	}
	return nil
}

// Close unloads xdp-filter and removes the namespace and the pins, as far
// as they were made.
func (f *Filter) Close() {
	if f.Prog != nil {
		f.Run("unload", ifname) // the namespace goes anyway; this frees the pins cleanly
		f.Prog.Close()
	}
	if f.nsFile != nil {
		f.nsFile.Close()
	}
	if f.ns.IsOpen() {
		f.ns.Close()
	}
	if f.bpffs != "" {
		os.RemoveAll(f.bpffs)
	}
}
