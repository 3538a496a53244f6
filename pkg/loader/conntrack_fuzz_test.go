package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Random conversations over a small space of hosts, ports and
// identifiers, so that frames keep meeting flows the sequence learned:
// each runs through the datapath and the model, which must agree on every
// frame coming in.

// ctGen draws a sequence's choices; pick(n) is in [0, n). acks is the
// highest acknowledgement number the host sent on each TCP flow, where the
// sequence numbers of the segments drawn coming in on it cluster; syns
// the number after its last lone SYN's, where their acknowledgement
// numbers do (a RST must acknowledge that SYN); last
// is the flow it last sent a segment on, where many go either way (most
// would meet no flow else, and say nothing of the RST window).
type ctGen struct {
	pick    func(n int) int
	acks    map[ctGenFlow]uint32
	syns    map[ctGenFlow]uint32
	last    ctGenFlow
	hasLast bool
}

// ctGenFlow names a flow from the host's side, as the generator draws it.
type ctGenFlow struct {
	local, remote string
	lport, rport  uint16
}

func newCTGen(pick func(n int) int) *ctGen {
	return &ctGen{pick: pick, acks: map[ctGenFlow]uint32{}, syns: map[ctGenFlow]uint32{}}
}

func (g *ctGen) of(xs ...uint16) uint16 { return xs[g.pick(len(xs))] }

// u32 is any 32-bit number.
func (g *ctGen) u32() uint32 {
	var x uint32
	for range 4 {
		x = x<<8 | uint32(g.pick(256))
	}
	return x
}

// ackNumber is an acknowledgement number the host sends: one whose RST
// window wraps past 0 or 2^31, 0, or any.
func (g *ctGen) ackNumber() uint32 {
	w := uint32(layout.CtRstWindow)
	anchors := []uint32{0, 1, 2000, 1<<31 - 1, 1 << 31, ^uint32(0), -(w / 2)}
	if i := g.pick(len(anchors) + 1); i < len(anchors) {
		return anchors[i]
	}
	return g.u32()
}

// seqNear is a sequence number a segment coming in carries: at an edge
// of the RST window from ack (at it, one past and one before it, the
// window's last number and the two around it, a window before it, half
// the space away), 0, or any.
func (g *ctGen) seqNear(ack uint32) uint32 {
	w := uint32(layout.CtRstWindow)
	deltas := []uint32{0, 0, 1, ^uint32(0), w - 1, w, w + 1, -w, 1 << 31, 1<<31 - 1}
	if i := g.pick(len(deltas) + 2); i < len(deltas) {
		return ack + deltas[i]
	}
	if g.pick(2) == 0 {
		return 0 // a RST refusing a SYN (RFC 9293 3.10.7.1)
	}
	return g.u32()
}

// tcpFlags is a flag byte: mostly what stacks send, else a combination
// none sends (tcpValid's edges: none, FIN alone, SYN with FIN or RST,
// URG without ACK, the xmas scan's) or any byte.
func (g *ctGen) tcpFlags() (uint8, string) {
	switch g.pick(4) {
	case 0, 1:
		names := []string{"S", "SA", "A", "PA", "FA", "R", "RA"}
		bytes := []uint8{0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14}
		i := g.pick(len(names))
		return bytes[i], names[i]
	case 2:
		odd := []uint8{0x00, 0x01, 0x03, 0x06, 0x16, 0x07, 0x29, 0x20, 0x22, 0x30, 0x31, 0x24, 0xc2, 0xd2, 0x3f, 0xff}
		f := odd[g.pick(len(odd))]
		return f, fmt.Sprintf("%#02x", f)
	}
	f := uint8(g.pick(256))
	return f, fmt.Sprintf("%#02x", f)
}

// tcp is a segment of the flow lp-rp between local and remote, going
// out or coming in, with drawn flags and numbers: going out, its
// acknowledgement is remembered; coming in, its sequence number is near
// the one remembered (or a drawn one).
func (g *ctGen) tcp(out bool, local, remote string, lp, rp uint16) ([]byte, string) {
	flags, name := g.tcpFlags()
	fl := ctGenFlow{local, remote, lp, rp}
	if out {
		seq, ack := g.ackNumber(), g.ackNumber()
		if kept, ok := g.acks[fl]; flags&0x10 != 0 && (!ok || flags&0x02 != 0 || int32(ack-kept) > 0) {
			g.acks[fl] = ack // the highest, as the flow keeps it
		} else if flags&0x02 != 0 {
			g.syns[fl] = seq + 1
		}
		g.last, g.hasLast = fl, true
		p := fixtures.Peer{Src: local, Dst: remote}
		return p.TCPRaw(lp, rp, flags, seq, ack), fmt.Sprintf("tcp %s seq %d ack %d %s", name, seq, ack, p)
	}
	near, ok := g.acks[fl]
	if !ok || g.pick(4) == 0 {
		near = g.ackNumber()
	}
	seq, ack := g.seqNear(near), g.ackNumber()
	if syn, ok := g.syns[fl]; ok && g.pick(2) == 0 {
		ack = syn + []uint32{0, 0, 1, ^uint32(0)}[g.pick(4)] // it, one past, one before
	}
	p := fixtures.Peer{Src: remote, Dst: local}
	return p.TCPRaw(rp, lp, flags, seq, ack), fmt.Sprintf("tcp %s seq %d ack %d %s", name, seq, ack, p)
}

// ctRandomStep is one random frame: its direction and bytes.
func (g *ctGen) step() (out bool, frame []byte, desc string) {
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
		if g.hasLast && g.pick(2) == 0 {
			frame, desc := g.tcp(out, g.last.local, g.last.remote, g.last.lport, g.last.rport)
			return out, frame, desc
		}
		remote := p.Dst
		if !out {
			remote = p.Src
		}
		frame, desc := g.tcp(out, h[0], remote, lp, rp)
		return out, frame, desc
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
func ctRandomRun(t *testing.T, c *ctPair, g *ctGen, n int) {
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
				ctRandomRun(t, newCTPair(t, rs), newCTGen(rng.IntN), 400)
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
		ctRandomRun(t, c, newCTGen(pick), min(len(choices)/4+1, 64))
	})
}

// reset empties both sides' tables.
func (c *ctPair) reset(t testing.TB) {
	if err := c.inst.ForgetFlows(); err != nil {
		t.Fatal(err)
	}
	c.tracker = model.NewTracker(model.CTConfigOf(c.rs))
}

// Any frame as the start of a flow: it goes out, then its answer, the
// frame itself, an ICMP error quoting it and (TCP) a RST answering it
// come in. Where the parsers of the two sides could part (VLAN tags,
// IPv6 extension chains, fragments, malformed headers, quotes of every
// shape), this is where they would.

// answer is frame coming back: addresses and ports swapped, an echo
// request made a reply, a SYN made a SYN-ACK. Checksums are left as
// they are: neither side reads them.
func answer(frame []byte) []byte {
	p := model.Decode(frame)
	f := append([]byte(nil), frame...)
	if p.Malformed || p.L3Off == 0 || !p.Src.IsValid() {
		return f
	}
	swap := func(a, b, n int) {
		if b+n > len(f) {
			return
		}
		for i := 0; i < n; i++ {
			f[a+i], f[b+i] = f[b+i], f[a+i]
		}
	}
	if p.Src.Is4() {
		swap(p.L3Off+12, p.L3Off+16, 4)
	} else {
		swap(p.L3Off+8, p.L3Off+24, 16)
	}
	switch {
	case p.HasPorts:
		swap(p.L4Off, p.L4Off+2, 2)
		if p.Proto == rules.ProtoTCP && p.TCPFlags&0x02 != 0 && p.L4Off+13 < len(f) {
			f[p.L4Off+13] |= 0x10
		}
	case p.HasICMP && p.L4Off < len(f):
		switch f[p.L4Off] {
		case 8:
			f[p.L4Off] = 0
		case 128:
			f[p.L4Off] = 129
		}
	}
	return f
}

// agreeOnFrame runs frame's sequence through c (its tables emptied
// first) and reports the first disagreement; it returns the states the
// datapath found, by step.
func agreeOnFrame(t testing.TB, c *ctPair, frame []byte) (found map[string]model.CTState) {
	t.Helper()
	if len(frame) < 14 {
		return nil
	}
	// The skb test run refuses an IP EtherType with less than an IP
	// header behind it (the stack never sends one): nothing to compare.
	if err := c.inst.RunEgress(frame); errors.Is(err, unix.EINVAL) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	c.reset(t)
	seq := []struct {
		name  string
		out   bool
		frame []byte
		at    time.Duration
	}{
		{"out", true, frame, 0},
		{"answer", false, answer(frame), time.Second},
		{"itself, in", false, frame, time.Second},
	}
	// (A v4-mapped source has no error the builder can address.)
	if p := model.Decode(frame); !p.Malformed && p.Src.IsValid() && !p.Src.Is4In6() {
		router := "203.0.113.9"
		typ := uint8(3)
		if p.Src.Is6() {
			router, typ = "2001:db8:2::9", 1
		}
		seq = append(seq, struct {
			name  string
			out   bool
			frame []byte
			at    time.Duration
		}{"an error quoting it", false, fixtures.Peer{Src: router, Dst: p.Src.String()}.ICMPError(typ, 3, frame), 2 * time.Second})
	}
	// Last, as it closes the flow: a RST answering a TCP segment, with
	// the segment's own sequence number and acknowledging the number
	// after it, as a refusal of a SYN does (the frame going out is the
	// only one the flow learns, so a RST among the steps before met no
	// flow); before it, two a SYN's flow refuses: one without ACK, one
	// acknowledging a number past.
	if p := model.Decode(frame); !p.Malformed && p.HasTCPFlags {
		for _, r := range []struct {
			name  string
			flags uint8
			past  uint32
		}{{"a RST without ACK", 0x04, 1}, {"a RST acknowledging past it", 0x14, 2}, {"a RST answering it", 0x14, 1}} {
			rst := answer(frame)
			rst[p.L4Off+13] = r.flags
			binary.BigEndian.PutUint32(rst[p.L4Off+8:], p.TCPSeq+r.past)
			seq = append(seq, struct {
				name  string
				out   bool
				frame []byte
				at    time.Duration
			}{r.name, false, rst, 3 * time.Second})
		}
	}
	found = map[string]model.CTState{}
	for _, s := range seq {
		dp, m := c.run(t, s.out, s.frame, s.at)
		if dp != m {
			t.Errorf("% x\n%s: datapath %v, model %v", frame, s.name, dp, m)
			return found
		}
		found[s.name] = dp.CT
	}
	return found
}

// TestConntrackAgreementFixtures: every frame of the fixture captures,
// under both rulesets. Under hostfw, many answers must be established
// and many errors related, or the test proves little.
func TestConntrackAgreementFixtures(t *testing.T) {
	privtest.Require(t)
	for name, rs := range map[string]string{"hostfw": hostFW, "no-ct": noCT} {
		c := newCTPair(t, rs)
		established, related, refused := 0, 0, 0
		for _, fx := range fixtures.All() {
			if fx.Name == "multiflow" {
				continue // many flows of the same few shapes
			}
			for _, f := range fx.Frames {
				if len(f) > maxLinearFrame() {
					continue // the egress test run takes one page
				}
				found := agreeOnFrame(t, c, f)
				if found["answer"] == model.CTEstablished {
					established++
				}
				if found["an error quoting it"] == model.CTRelated {
					related++
				}
				if found["a RST without ACK"] == model.CTInvalid && found["a RST acknowledging past it"] == model.CTInvalid &&
					found["a RST answering it"] == model.CTEstablished {
					refused++ // a SYN's flow: only its refusal closes it
				}
			}
			if t.Failed() {
				t.Fatalf("%s: %s disagrees", name, fx.Name)
			}
		}
		t.Logf("%s: %d answers established, %d errors related, %d SYNs refused only by their refusal", name, established, related, refused)
		if name == "hostfw" && (established < 100 || related < 100 || refused < 20) {
			t.Errorf("%s: only %d answers established, %d errors related and %d SYNs refused only by their refusal", name, established, related, refused)
		}
	}
}

// FuzzConntrackFrames: any bytes as a frame starting a flow.
func FuzzConntrackFrames(f *testing.F) {
	privtest.Require(f)
	for _, fx := range fixtures.All() {
		if fx.Name == "multiflow" || fx.Name == "jumbo" {
			continue
		}
		for _, fr := range fx.Frames {
			f.Add(fr)
		}
	}
	c := newCTPair(f, hostFW)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > 1500 {
			return
		}
		agreeOnFrame(t, c, frame)
	})
}
