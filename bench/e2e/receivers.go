package e2e

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// Receiver is one way of filtering on the receiving veth: set up before
// its measurement, removed after.
type Receiver struct {
	Name     string
	Setup    func(*Lab) error
	Teardown func(*Lab) error
}

// XDP attaches prog (native mode) to the receiving veth.
func XDP(name string, prog *ebpf.Program) Receiver {
	attach := func(l *Lab, fd int) error {
		return perf.InNetns(l.recvNS, func() error {
			return netlink.LinkSetXdpFdWithFlags(l.recv, fd, unix.XDP_FLAGS_DRV_MODE)
		})
	}
	return Receiver{
		Name:     name,
		Setup:    func(l *Lab) error { return attach(l, prog.FD()) },
		Teardown: func(l *Lab) error { return attach(l, -1) },
	}
}

const nftTable = "xdpfw_bench"

// Nftables is the denylist as an nftables netdev table whose ingress
// chain looks the sources and ports up in sets: the fastest way nftables
// offers before the IP stack.
func Nftables(d workload.Denylist) Receiver {
	v4, v6, ports := nftSets(d)
	return Receiver{
		Name: "nftables (netdev ingress, sets)",
		Setup: func(l *Lab) error {
			var b strings.Builder
			fmt.Fprintf(&b, "table netdev %s {\n", nftTable)
			writeNftSets(&b, v4, v6, ports)
			fmt.Fprintf(&b, "  chain ingress {\n    type filter hook ingress device %q priority 0; policy accept;\n", l.recvIf)
			b.WriteString(nftDenyRules + "  }\n}\n")
			return l.Exec([]byte(b.String()), "nft", "-f", "-")
		},
		Teardown: func(l *Lab) error { return l.Exec(nil, "nft", "delete", "table", "netdev", nftTable) },
	}
}

// NftablesCT is the denylist behind `ct state established accept`, as a
// stateful nftables host firewall has it: an inet table's prerouting
// chain (connection tracking runs at prerouting, so no earlier hook can
// ask for the state), where every frame is looked up in the conntrack
// table (and gets a new, unconfirmed entry) before the sets.
func NftablesCT(d workload.Denylist) Receiver {
	v4, v6, ports := nftSets(d)
	return Receiver{
		Name: "nftables (ct state established accept, then sets)",
		Setup: func(l *Lab) error {
			var b strings.Builder
			fmt.Fprintf(&b, "table inet %s {\n", nftTable)
			writeNftSets(&b, v4, v6, ports)
			b.WriteString("  chain prerouting {\n    type filter hook prerouting priority 0; policy accept;\n")
			b.WriteString("    ct state established accept\n" + nftDenyRules + "  }\n}\n")
			return l.Exec([]byte(b.String()), "nft", "-f", "-")
		},
		Teardown: func(l *Lab) error { return l.Exec(nil, "nft", "delete", "table", "inet", nftTable) },
	}
}

const nftDenyRules = "    ip saddr @deny4 drop\n    ip6 saddr @deny6 drop\n    meta l4proto { tcp, udp } th dport @dports drop\n"

func writeNftSets(b *strings.Builder, v4, v6, ports []string) {
	fmt.Fprintf(b, "  set deny4 { type ipv4_addr; elements = { %s } }\n", strings.Join(v4, ", "))
	fmt.Fprintf(b, "  set deny6 { type ipv6_addr; elements = { %s } }\n", strings.Join(v6, ", "))
	fmt.Fprintf(b, "  set dports { type inet_service; elements = { %s } }\n", strings.Join(ports, ", "))
}

// nftSets is the denylist as nftables set elements.
func nftSets(d workload.Denylist) (v4, v6, ports []string) {
	for _, a := range d.Addrs {
		if a.Is4() {
			v4 = append(v4, a.String())
		} else {
			v6 = append(v6, a.String())
		}
	}
	for _, p := range d.Ports {
		ports = append(ports, strconv.Itoa(int(p)))
	}
	return v4, v6, ports
}

// Iptables is the denylist as iptables and ip6tables rules in the raw
// table's PREROUTING chain, the earliest iptables hook: one rule per
// address (iptables has no sets without ipset) and multiport rules of 15
// ports, its limit.
func Iptables(d workload.Denylist) Receiver {
	rules := func(v6 bool) []byte {
		var b strings.Builder
		b.WriteString("*raw\n:PREROUTING ACCEPT [0:0]\n")
		for _, a := range d.Addrs {
			if a.Is6() == v6 {
				fmt.Fprintf(&b, "-A PREROUTING -s %s -j DROP\n", a)
			}
		}
		for i := 0; i < len(d.Ports); i += 15 {
			var ps []string
			for _, p := range d.Ports[i:min(i+15, len(d.Ports))] {
				ps = append(ps, strconv.Itoa(int(p)))
			}
			for _, proto := range []string{"udp", "tcp"} {
				fmt.Fprintf(&b, "-A PREROUTING -p %s -m multiport --dports %s -j DROP\n", proto, strings.Join(ps, ","))
			}
		}
		b.WriteString("COMMIT\n")
		return []byte(b.String())
	}
	return Receiver{
		Name: "iptables (raw PREROUTING)",
		Setup: func(l *Lab) error {
			if err := l.Exec(rules(false), "iptables-restore"); err != nil {
				return err
			}
			return l.Exec(rules(true), "ip6tables-restore")
		},
		Teardown: func(l *Lab) error {
			if err := l.Exec(nil, "iptables", "-t", "raw", "-F", "PREROUTING"); err != nil {
				return err
			}
			return l.Exec(nil, "ip6tables", "-t", "raw", "-F", "PREROUTING")
		},
	}
}
