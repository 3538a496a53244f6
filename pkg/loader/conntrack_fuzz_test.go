package loader

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/model"
)

// Random conversations over a small space of hosts, ports and
// identifiers, so that frames keep meeting flows the sequence learned:
// each runs through the datapath and the model, which must agree on every
// frame coming in.

// ctGen draws a sequence's choices; pick(n) is in [0, n).
type ctGen struct{ pick func(n int) int }

func (g ctGen) of(xs ...uint16) uint16 { return xs[g.pick(len(xs))] }

// ctRandomStep is one random frame: its direction and bytes.
func (g ctGen) step() (out bool, frame []byte, desc string) {
	fams := [][3]string{
		{"192.0.2.10", "198.51.100.1", "198.51.100.2"},
		{"2001:db8::10", "2001:db8:1::1", "2001:db8:1::2"},
	}
	h := fams[g.pick(2)]
	out = g.pick(2) == 0
	p := fixtures.Peer{Src: h[0], Dst: h[1+g.pick(2)]}
	if !out {
		p = p.Reverse()
	}
	lp, rp := g.of(40000, 40001), g.of(53, 80)
	sport, dport := lp, rp
	if !out {
		sport, dport = rp, lp
	}
	switch k := g.pick(7); k {
	case 0, 1:
		flags := []string{"S", "SA", "A", "PA", "FA", "R", "RA", "SF"}[g.pick(8)]
		return out, p.TCP(sport, dport, flags), fmt.Sprintf("tcp %s %s", flags, p)
	case 2:
		return out, p.UDP(sport, dport), fmt.Sprintf("udp %s", p)
	case 3:
		return out, p.Echo(g.of(1, 2), g.pick(2) == 0), fmt.Sprintf("echo %s", p)
	case 4:
		// An error from a router about a packet this host sent (or not).
		local, remote := p.Src, p.Dst
		if !out {
			local, remote = p.Dst, p.Src
		}
		q := fixtures.Peer{Src: local, Dst: remote}.UDP(lp, rp)
		if g.pick(2) == 0 {
			q = fixtures.Peer{Src: local, Dst: remote}.TCP(lp, rp, "S")
		}
		typ := []uint8{3, 11}[g.pick(2)]
		if local[0] == '2' {
			typ = []uint8{1, 2, 3}[g.pick(3)]
		}
		return false, fixtures.Peer{Src: remote, Dst: local}.ICMPError(typ, 0, q), fmt.Sprintf("icmp error %d", typ)
	case 5:
		first := g.pick(2) == 0
		return out, p.UDPFragment(sport, dport, uint32(g.of(7, 8)), first), fmt.Sprintf("fragment first=%v %s", first, p)
	default:
		if h[0][0] == '1' {
			if out {
				return true, fixtures.Peer{Src: "0.0.0.0", Dst: "255.255.255.255"}.UDP(68, 67), "dhcp discover"
			}
			return false, fixtures.Peer{Src: "192.0.2.1", Dst: "192.0.2.10"}.UDP(67, 68), "dhcp offer"
		}
		if out {
			return true, fixtures.Peer{Src: "fe80::10", Dst: "ff02::1:2"}.UDP(546, 547), "dhcpv6 solicit"
		}
		return false, fixtures.Peer{Src: "fe80::1", Dst: "fe80::10"}.UDP(547, 546), "dhcpv6 advertise"
	}
}

// ctRandomRun runs n random frames through a fresh pair under rulesYAML,
// the clock moving on by up to 40 s now and then so timeouts come into
// play, and fails on the first disagreement.
func ctRandomRun(t *testing.T, c *ctPair, g ctGen, n int) {
	var now time.Duration
	var trail []string // the sequence so far, for the failure message
	for i := 0; i < n; i++ {
		if g.pick(4) == 0 {
			now += time.Duration(g.pick(40)) * time.Second
		}
		out, frame, desc := g.step()
		trail = append(trail, fmt.Sprintf("%v out=%v %s", now, out, desc))
		dp, m := c.run(t, out, frame, now)
		if dp != m {
			t.Fatalf("frame %d: datapath %v, model %v; sequence:\n%v", i, dp, m, trail)
		}
	}
}

// TestConntrackAgreementRandom: fixed seeds, both rulesets (a ct-state
// rule, and none: DHCP replies only).
func TestConntrackAgreementRandom(t *testing.T) {
	privtest.Require(t)
	for _, seed := range []uint64{1, 2, 3, 5, 8, 13, 21, 34} {
		for name, rs := range map[string]string{"hostfw": hostFW, "no-ct": noCT} {
			t.Run(fmt.Sprintf("%s/seed%d", name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 14))
				ctRandomRun(t, newCTPair(t, rs), ctGen{pick: rng.IntN}, 400)
			})
		}
	}
}

// FuzzConntrackAgreement: the fuzzer's bytes choose the sequence. One
// instance serves every input (loading one costs far more than a run),
// its tables emptied before each.
func FuzzConntrackAgreement(f *testing.F) {
	privtest.Require(f)
	c := newCTPair(f, hostFW)
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0})
	f.Add([]byte{1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 3, 2, 0, 1, 1, 6, 0, 0})
	f.Fuzz(func(t *testing.T, choices []byte) {
		i := 0
		pick := func(n int) int {
			if i >= len(choices) {
				return 0
			}
			i++
			return int(choices[i-1]) % n
		}
		c.reset(t)
		ctRandomRun(t, c, ctGen{pick: pick}, min(len(choices)/4+1, 64))
	})
}

// reset empties both sides' tables.
func (c *ctPair) reset(t testing.TB) {
	for _, m := range []*ebpf.Map{c.inst.objs.Ct, c.inst.objs.CtFrags} {
		var k []byte
		var keys [][]byte
		it := m.Iterate()
		for v := []byte(nil); it.Next(&k, &v); {
			keys = append(keys, append([]byte(nil), k...))
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if err := m.Delete(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.tracker = model.NewTracker(model.CTConfigOf(c.rs.Conntrack))
}
