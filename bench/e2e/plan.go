package e2e

import (
	"net"
	"net/netip"

	"github.com/xdpfw/xdpfw/bench/gen"
	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/internal/fixtures"
)

// Plan is the end-to-end traffic and the denylist every receiver
// enforces. Sources are 10.1.0.0 and 2001:db8:1:: plus 0..2*Addrs-1; the
// first half of them are denied, and every destination port the traffic
// uses (DportBase and the Ports after it) is denied too: every frame is
// dropped, half of them by their source address, so what is measured is
// how fast each receiver can discard a flood.
type Plan struct {
	Addrs, Ports int
}

const (
	dportBase = 10000
	srcV4     = "10.1.0.0"
	srcV6     = "2001:db8:1::"
)

// Flows is how the generator varies the templates.
func (p Plan) Flows() gen.Flows {
	return gen.Flows{SrcCount: uint16(2 * p.Addrs), DportBase: dportBase, DportCount: uint16(p.Ports)}
}

// Denylist is the rules: the denied sources (IPv4 and IPv6) and ports.
func (p Plan) Denylist() workload.Denylist {
	var d workload.Denylist
	for _, base := range []netip.Addr{netip.MustParseAddr(srcV4), netip.MustParseAddr(srcV6)} {
		a := base
		for range p.Addrs {
			d.Addrs = append(d.Addrs, a)
			a = a.Next()
		}
	}
	for i := range p.Ports {
		d.Ports = append(d.Ports, uint16(dportBase+i))
	}
	return d
}

// Templates are the frames the generator rewrites, taking turns: UDP and
// TCP over IPv4 and IPv6, addressed to the receiver's MAC (else the
// kernel's IP input would discard them as another host's before iptables).
func (p Plan) Templates(dst net.HardwareAddr) [][]byte {
	out := [][]byte{
		fixtures.UDP(srcV4, "192.0.2.1", 1, dportBase),
		fixtures.TCPSyn(srcV4, "192.0.2.1", 1, dportBase),
		fixtures.UDP(srcV6, "2001:db8:ffff::1", 1, dportBase),
		fixtures.TCPSyn(srcV6, "2001:db8:ffff::1", 1, dportBase),
	}
	for _, f := range out {
		copy(f, dst)
	}
	return out
}
