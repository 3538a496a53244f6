package loader

import (
	"fmt"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The connection-tracking agreement tests: sequences of frames going out
// (the egress program; Tracker.Egress) and coming in (XDP;
// EvaluateTracked) run through the datapath and the model, each with its
// own table, and the two must agree frame by frame on the verdict, its
// reason and the state found.

// hostFW is the host firewall of issue 14: replies and errors about this
// host's own flows pass, SSH is open, the rest drops.
const hostFW = `policy: drop
rules:
  - {ct-state: "established,related", action: pass}
  - {proto: tcp, dport: 22, action: pass}
`

// noCT drops everything with no ct-state rule: state is looked up only
// for DHCP replies meeting the policy.
const noCT = "policy: drop\nrules:\n  - {proto: tcp, dport: 22, action: pass}\n"

// ctStep is one frame of a sequence: out is learned, in is placed (want
// is its state; 0 means untracked or not looked up).
type ctStep struct {
	name  string
	out   bool
	frame []byte
	at    time.Duration
	want  model.CTState
	pass  bool // in only: the verdict's action is pass
}

// ctPair is a datapath instance and the model, each with its own table.
type ctPair struct {
	inst    *Instance
	rs      *rules.Ruleset
	sorted  []rules.Rule
	usesCT  bool
	tracker *model.Tracker
}

func newCTPair(t testing.TB, rulesYAML string) *ctPair {
	t.Helper()
	rs := mustRuleset(t, rulesYAML)
	inst, err := NewInstance(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Close)
	sorted := rules.Sorted(rs.Rules)
	return &ctPair{inst: inst, rs: rs, sorted: sorted, usesCT: rules.HasCTState(sorted),
		tracker: model.NewTracker(model.CTConfigOf(rs))}
}

// ctOutcome is what one side did with a frame coming in.
type ctOutcome struct {
	Action rules.Action
	Reason model.Reason
	RuleID uint32
	CT     model.CTState
	Looked bool
}

func (o ctOutcome) String() string {
	return fmt.Sprintf("%v/%v rule %d ct %v (looked %v)", o.Action, o.Reason, o.RuleID, o.CT, o.Looked)
}

// run passes one frame through both sides; for a frame coming in it
// returns both outcomes.
func (c *ctPair) run(t testing.TB, out bool, frame []byte, at time.Duration) (dp, m ctOutcome) {
	t.Helper()
	if err := c.inst.SetClock(uint64(at)); err != nil {
		t.Fatal(err)
	}
	p := model.Decode(frame)
	if out {
		if err := c.inst.RunEgress(frame); err != nil {
			t.Fatal(err)
		}
		c.tracker.Egress(&p, frame, at)
		return
	}
	v, ct, looked, err := c.inst.RunIn(frame, 0)
	if err != nil {
		t.Fatal(err)
	}
	dp = ctOutcome{v.Action, v.Reason, v.RuleID, ct, looked}
	p.Iface = "lo" // where RunIn(frame, 0) puts it
	mv, mlooked := model.EvaluateTracked(c.rs, c.sorted, c.usesCT, &p, frame, c.tracker, at)
	m = ctOutcome{mv.Action, mv.Reason, mv.RuleID, p.CT, mlooked}
	return dp, m
}

func (c *ctPair) steps(t *testing.T, steps []ctStep) {
	t.Helper()
	for _, s := range steps {
		dp, m := c.run(t, s.out, s.frame, s.at)
		if s.out {
			continue
		}
		if dp != m {
			t.Errorf("%s: datapath %v, model %v", s.name, dp, m)
			continue
		}
		if dp.CT != s.want || (dp.Action == rules.Pass) != s.pass {
			t.Errorf("%s: %v, want ct %v, pass %v", s.name, dp, s.want, s.pass)
		}
	}
}

// ctHosts: local is this host, remote a server, router a third party.
type ctHosts struct{ name, local, remote, router string }

var ctFamilies = []ctHosts{
	{"ipv4", "192.0.2.10", "198.51.100.1", "203.0.113.9"},
	{"ipv6", "2001:db8::10", "2001:db8:1::1", "2001:db8:2::9"},
}

const (
	ctNew = model.CTNew
	ctEst = model.CTEstablished
	ctRel = model.CTRelated
	ctInv = model.CTInvalid
)

func TestConntrackAgreement(t *testing.T) {
	privtest.Require(t)
	for _, h := range ctFamilies {
		out := fixtures.Peer{Src: h.local, Dst: h.remote}
		in := out.Reverse()
		router := fixtures.Peer{Src: h.router, Dst: h.local}
		v6 := h.name == "ipv6"
		// Error types: unreachable, time exceeded, and fragmentation
		// needed (IPv4 unreachable code 4) or packet too big.
		unreach, exceeded, tooBig, tooBigCode := uint8(3), uint8(11), uint8(3), uint8(4)
		if v6 {
			unreach, exceeded, tooBig, tooBigCode = 1, 3, 2, 0
		}
		probe := out.UDP(40000, 33434)
		if v6 {
			probe = out.UDPDstOpts(40000, 33434) // the quote's ports lie past an extension header
		}
		cases := []struct {
			name  string
			rules string
			steps []ctStep
		}{
			{"tcp handshake out", hostFW, []ctStep{
				{name: "SYN out", out: true, frame: out.TCP(40001, 443, "S")},
				{name: "SYN-ACK", frame: in.TCP(443, 40001, "SA"), at: time.Second, want: ctEst, pass: true},
				{name: "ACK out", out: true, frame: out.TCP(40001, 443, "A"), at: time.Second},
				{name: "data in", frame: in.TCP(443, 40001, "PA"), at: 2 * time.Second, want: ctEst, pass: true},
				{name: "FIN in", frame: in.TCP(443, 40001, "FA"), at: 3 * time.Second, want: ctEst, pass: true},
				{name: "FIN out", out: true, frame: out.TCP(40001, 443, "FA"), at: 3 * time.Second},
				{name: "last ACK in", frame: in.TCP(443, 40001, "A"), at: 4 * time.Second, want: ctEst, pass: true},
				// The host acknowledged the server's 2000: a RST far from
				// it is a blind spoofer's, and leaves the flow open.
				{name: "RST in, sequence behind", frame: in.TCPSeq(443, 40001, "R", 1999), at: 5 * time.Second, want: ctInv},
				{name: "RST in, sequence past the window", frame: in.TCPSeq(443, 40001, "RA", 2000+layout.CtRstWindow+1), at: 5 * time.Second, want: ctInv},
				{name: "RST in", frame: in.TCP(443, 40001, "R"), at: 5 * time.Second, want: ctEst, pass: true},
				{name: "after the close timeout", frame: in.TCP(443, 40001, "A"), at: 16 * time.Second, want: ctInv},
			}},
			// The host's SYN on the ports of a flow still established
			// (its connection ended unseen: a keepalive timeout, a
			// record picked up) is a new connection, whose refusal
			// carries sequence number 0: the earlier acknowledgement is
			// another connection's, and the RST was invalid, dropped, so
			// connect waited minutes instead of failing at once.
			{"tcp SYN out on an established flow", hostFW, []ctStep{
				{name: "ACK out", out: true, frame: out.TCP(40007, 443, "A")},
				{name: "ACK in", frame: in.TCP(443, 40007, "A"), want: ctEst, pass: true},
				{name: "SYN out", out: true, frame: out.TCP(40007, 443, "S"), at: time.Second},
				{name: "connection refused", frame: in.TCPSeq(443, 40007, "RA", 0), at: time.Second, want: ctEst, pass: true},
				{name: "after the close timeout", frame: in.TCP(443, 40007, "A"), at: 12 * time.Second, want: ctInv},
			}},
			// A RST answering the host's SYN closes the flow only with
			// ACK set and acknowledging the SYN (its number 999 and
			// the one it takes), as Linux in SYN-SENT takes it: a
			// spoofer closed a connection being opened with any RST on
			// its ports. The ones refused leave the flow as it was:
			// a SYN sent, 120 s, not closed, 10 s.
			{"tcp RST in syn-sent", hostFW, []ctStep{
				{name: "SYN out", out: true, frame: out.TCP(40012, 443, "S")},
				{name: "RST without ACK", frame: in.TCPSeq(443, 40012, "R", 0), at: time.Second, want: ctInv},
				{name: "RST-ACK of one past the SYN's", frame: in.TCPRaw(443, 40012, 0x14, 0, 1001), at: time.Second, want: ctInv},
				{name: "RST-ACK of the SYN's own number", frame: in.TCPRaw(443, 40012, 0x14, 0, 999), at: time.Second, want: ctInv},
				{name: "RST-ACK of 0", frame: in.TCPRaw(443, 40012, 0x14, 1000, 0), at: time.Second, want: ctInv},
				{name: "SYN-ACK after the close timeout", frame: in.TCP(443, 40012, "SA"), at: 20 * time.Second, want: ctEst, pass: true},
				{name: "SYN out", out: true, frame: out.TCP(40013, 443, "S"), at: 30 * time.Second},
				{name: "connection refused", frame: in.TCP(443, 40013, "RA"), at: 31 * time.Second, want: ctEst, pass: true},
				{name: "closed", frame: in.TCP(443, 40013, "SA"), at: 42 * time.Second, want: ctInv},
				// Until the host acknowledges the SYN-ACK, its SYN is
				// all a RST can answer.
				{name: "SYN out again", out: true, frame: out.TCP(40014, 443, "S"), at: 50 * time.Second},
				{name: "SYN-ACK", frame: in.TCP(443, 40014, "SA"), at: 50 * time.Second, want: ctEst, pass: true},
				{name: "RST in the window before the host's ACK", frame: in.TCP(443, 40014, "R"), at: 50 * time.Second, want: ctInv},
				{name: "ACK out", out: true, frame: out.TCP(40014, 443, "A"), at: 51 * time.Second},
				{name: "RST in the window after it", frame: in.TCP(443, 40014, "R"), at: 51 * time.Second, want: ctEst, pass: true},
			}},
			// The host's acknowledgement kept is its highest in
			// sequence space, wrapping past 2^32: a segment
			// retransmitted or sent out of order does not move it back,
			// where it let RSTs from before the highest in. Its SYN-ACK
			// starts anew, its number lower or not.
			{"tcp acknowledgement kept is the highest", hostFW, []ctStep{
				{name: "ACK out", out: true, frame: out.TCPRaw(40015, 443, 0x10, 100, 5000)},
				{name: "ACK out, retransmitted", out: true, frame: out.TCPRaw(40015, 443, 0x10, 100, 4000)},
				{name: "RST in behind the highest", frame: in.TCPRaw(443, 40015, 0x04, 4500, 0), want: ctInv},
				{name: "RST in at the highest", frame: in.TCPRaw(443, 40015, 0x04, 5000, 0), want: ctEst, pass: true},
				{name: "ACK out", out: true, frame: out.TCPRaw(40016, 443, 0x10, 100, 0xffffff00), at: 20 * time.Second},
				{name: "ACK out past 2^32", out: true, frame: out.TCPRaw(40016, 443, 0x18, 100, 0x100), at: 20 * time.Second},
				{name: "ACK out before it, again", out: true, frame: out.TCPRaw(40016, 443, 0x10, 100, 0xffffff00), at: 20 * time.Second},
				{name: "RST in behind the highest, past 2^32", frame: in.TCPRaw(443, 40016, 0x14, 0xffffff80, 0), at: 20 * time.Second, want: ctInv},
				{name: "SYN in on the ports", frame: in.TCPRaw(443, 40016, 0x02, 50, 0), at: 20 * time.Second, want: ctEst, pass: true},
				{name: "SYN-ACK out, a lower acknowledgement", out: true, frame: out.TCPRaw(40016, 443, 0x12, 7000, 51), at: 20 * time.Second},
				{name: "RST in at it", frame: in.TCPRaw(443, 40016, 0x04, 51, 0), at: 20 * time.Second, want: ctEst, pass: true},
			}},
			{"tcp port reuse after close", hostFW, []ctStep{
				{name: "SYN out", out: true, frame: out.TCP(40002, 80, "S")},
				{name: "SYN-ACK", frame: in.TCP(80, 40002, "SA"), want: ctEst, pass: true},
				{name: "RST out", out: true, frame: out.TCP(40002, 80, "R"), at: time.Second},
				{name: "SYN out again", out: true, frame: out.TCP(40002, 80, "S"), at: 2 * time.Second},
				{name: "SYN-ACK again", frame: in.TCP(80, 40002, "SA"), at: 3 * time.Second, want: ctEst, pass: true},
				{name: "data long after the close timeout", frame: in.TCP(80, 40002, "PA"), at: 60 * time.Second, want: ctEst, pass: true},
			}},
			// A SYN coming in on the ports of a closing or closed
			// connection starts a new one, as in Linux: new, not
			// established, and the host's SYN-ACK to it a handshake
			// again, so the connection it accepts is established, not
			// left closed (10 s of quiet and its packets were invalid).
			{"tcp port reuse from outside", hostFW, []ctStep{
				{name: "SYN to ssh", frame: in.TCP(5560, 22, "S"), want: ctNew, pass: true},
				{name: "SYN-ACK out", out: true, frame: out.TCP(22, 5560, "SA")},
				{name: "ACK", frame: in.TCP(5560, 22, "A"), want: ctEst, pass: true},
				{name: "data out", out: true, frame: out.TCP(22, 5560, "PA"), at: time.Second},
				{name: "RST at the window's end", frame: in.TCPSeq(5560, 22, "R", 1000+layout.CtRstWindow), at: time.Second, want: ctEst, pass: true},
				{name: "SYN on the closed ports", frame: in.TCP(5560, 22, "S"), at: 2 * time.Second, want: ctNew, pass: true},
				{name: "SYN-ACK out again", out: true, frame: out.TCP(22, 5560, "SA"), at: 2 * time.Second},
				{name: "ACK again", frame: in.TCP(5560, 22, "A"), at: 2 * time.Second, want: ctEst, pass: true},
				{name: "data after a minute of quiet", frame: in.TCP(5560, 22, "PA"), at: 62 * time.Second, want: ctEst, pass: true},
				{name: "SYN out", out: true, frame: out.TCP(40006, 80, "S"), at: 70 * time.Second},
				{name: "SYN-ACK", frame: in.TCP(80, 40006, "SA"), at: 70 * time.Second, want: ctEst, pass: true},
				{name: "FIN out", out: true, frame: out.TCP(40006, 80, "FA"), at: 71 * time.Second},
				{name: "FIN in", frame: in.TCP(80, 40006, "FA"), at: 71 * time.Second, want: ctEst, pass: true},
				{name: "SYN from the closed connection's server", frame: in.TCP(80, 40006, "S"), at: 72 * time.Second, want: ctNew},
				{name: "its ACK after it is still the old one's", frame: in.TCP(80, 40006, "A"), at: 72 * time.Second, want: ctEst, pass: true},
			}},
			{"unsolicited tcp", hostFW, []ctStep{
				{name: "SYN to a closed port", frame: in.TCP(5555, 8080, "S"), want: ctNew},
				{name: "SYN to ssh", frame: in.TCP(5555, 22, "S"), want: ctNew, pass: true},
				{name: "ACK scan", frame: in.TCP(5555, 8080, "A"), want: ctInv},
				{name: "SYN-ACK of no SYN", frame: in.TCP(443, 40003, "SA"), want: ctInv},
				{name: "still nothing after", frame: in.TCP(443, 40003, "A"), at: time.Second, want: ctInv},
			}},
			// A SYN anyone may send (spoofed, in a flood) makes the host
			// answer: that flow lives the short syn-recv timeout until
			// the other side acknowledges it, not the established one.
			{"answering a syn", hostFW, []ctStep{
				{name: "SYN to ssh", frame: in.TCP(5556, 22, "S"), want: ctNew, pass: true},
				{name: "SYN-ACK out", out: true, frame: out.TCP(22, 5556, "SA")},
				{name: "retransmitted SYN", frame: in.TCP(5556, 22, "S"), at: time.Second, want: ctEst, pass: true},
				{name: "never acknowledged: gone after 60 s", frame: in.TCP(5556, 22, "S"), at: 62 * time.Second, want: ctNew, pass: true},
				{name: "SYN again", frame: in.TCP(5557, 22, "S"), at: 63 * time.Second, want: ctNew, pass: true},
				{name: "SYN-ACK again", out: true, frame: out.TCP(22, 5557, "SA"), at: 63 * time.Second},
				{name: "the handshake's ACK", frame: in.TCP(5557, 22, "A"), at: 64 * time.Second, want: ctEst, pass: true},
				{name: "established: lives on past 60 s", frame: in.TCP(5557, 22, "PA"), at: 200 * time.Second, want: ctEst, pass: true},
			}},
			// An answer nothing placed (it came in where xdpfw is not
			// attached, or while no rule read the table): the host's
			// own acknowledgement past the handshake says it came, so
			// the flow is established, not left to the handshake's
			// timeout (120 s, 60 s).
			{"handshake answered unseen", hostFW, []ctStep{
				{name: "SYN out", out: true, frame: out.TCP(40004, 443, "S")},
				{name: "ACK out", out: true, frame: out.TCP(40004, 443, "A"), at: time.Second},
				{name: "data in past the syn-sent timeout", frame: in.TCP(443, 40004, "PA"), at: 200 * time.Second, want: ctEst, pass: true},
				{name: "SYN to ssh", frame: in.TCP(5558, 22, "S"), at: 200 * time.Second, want: ctNew, pass: true},
				{name: "SYN-ACK out", out: true, frame: out.TCP(22, 5558, "SA"), at: 200 * time.Second},
				{name: "data out", out: true, frame: out.TCP(22, 5558, "PA"), at: 201 * time.Second},
				{name: "data in past the syn-recv timeout", frame: in.TCP(5558, 22, "PA"), at: 300 * time.Second, want: ctEst, pass: true},
				// A SYN-ACK retransmitted, or a RST, says nothing of an answer.
				{name: "SYN out again", out: true, frame: out.TCP(40005, 443, "S"), at: 300 * time.Second},
				{name: "RST out", out: true, frame: out.TCP(40005, 443, "RA"), at: 301 * time.Second},
				{name: "gone after the close timeout", frame: in.TCP(443, 40005, "PA"), at: 312 * time.Second, want: ctInv},
				{name: "SYN to ssh again", frame: in.TCP(5559, 22, "S"), at: 400 * time.Second, want: ctNew, pass: true},
				{name: "SYN-ACK out again", out: true, frame: out.TCP(22, 5559, "SA"), at: 400 * time.Second},
				{name: "SYN-ACK retransmitted", out: true, frame: out.TCP(22, 5559, "SA"), at: 401 * time.Second},
				{name: "gone after the syn-recv timeout (ssh is open)", frame: in.TCP(5559, 22, "PA"), at: 462 * time.Second, want: ctInv, pass: true},
			}},
			// A flow picked up from a segment the host sends
			// mid-stream (an ACK of no known flow: its record
			// flushed or evicted, stray ACKs, an ACK scan from here)
			// lives syn-sent's 120 s until a packet comes in on it,
			// then established's, as Linux caps a picked-up
			// connection without a reply at its unacknowledged
			// timeout: it lived five days answered or not. The
			// answer is established, as Linux's reply direction is.
			{"tcp picked up mid-stream", hostFW, []ctStep{
				{name: "stray ACK out", out: true, frame: out.TCP(40007, 443, "A")},
				{name: "answer within 120 s", frame: in.TCP(443, 40007, "A"), at: 119 * time.Second, want: ctEst, pass: true},
				{name: "answered: lives on past 120 s", frame: in.TCP(443, 40007, "PA"), at: 119*time.Second + 24*time.Hour, want: ctEst, pass: true},
				{name: "ACK out, nothing answers", out: true, frame: out.TCP(40008, 443, "A"), at: 200 * time.Second},
				{name: "more out keeps it", out: true, frame: out.TCP(40008, 443, "PA"), at: 300 * time.Second},
				{name: "gone 120 s after the last", frame: in.TCP(443, 40008, "PA"), at: 421 * time.Second, want: ctInv},
			}},
			// tcp-established shorter than tcp-syn-sent times it, as
			// Linux takes the shorter.
			{"tcp picked up, short established", hostFW + "conntrack: {timeouts: {tcp-established: 60s}}\n", []ctStep{
				{name: "stray ACK out", out: true, frame: out.TCP(40009, 443, "A")},
				{name: "within tcp-established", frame: in.TCP(443, 40009, "A"), at: 59 * time.Second, want: ctEst, pass: true},
				{name: "ACK out again", out: true, frame: out.TCP(40010, 443, "A"), at: 100 * time.Second},
				{name: "past tcp-established", frame: in.TCP(443, 40010, "A"), at: 161 * time.Second, want: ctInv},
			}},
			{"udp request and reply", hostFW, []ctStep{
				{name: "reply before the request", frame: in.UDP(53, 40010), want: ctNew},
				{name: "request", out: true, frame: out.UDP(40010, 53), at: time.Second},
				{name: "reply", frame: in.UDP(53, 40010), at: 2 * time.Second, want: ctEst, pass: true},
				{name: "from another port", frame: in.UDP(54, 40010), at: 2 * time.Second, want: ctNew},
				{name: "replied flow lives past 30 s", frame: in.UDP(53, 40010), at: 100 * time.Second, want: ctEst, pass: true},
				{name: "past the replied timeout", frame: in.UDP(53, 40010), at: 221 * time.Second, want: ctNew},
			}},
			{"dns from port 53 with no request", hostFW, []ctStep{
				{name: "dns-style datagram", frame: in.UDP(53, 33000), want: ctNew},
			}},
			{"udp idle past 30 s", hostFW, []ctStep{
				{name: "request", out: true, frame: out.UDP(40011, 123)},
				{name: "within 30 s", frame: in.UDP(123, 40011), at: 29 * time.Second, want: ctEst, pass: true},
				{name: "request again", out: true, frame: out.UDP(40012, 123), at: 30 * time.Second},
				{name: "answered after 31 s", frame: in.UDP(123, 40012), at: 61 * time.Second, want: ctNew},
			}},
			{"echo", hostFW, []ctStep{
				{name: "reply with no request", frame: in.Echo(7, true), want: ctInv},
				{name: "request out", out: true, frame: out.Echo(7, false)},
				{name: "reply", frame: in.Echo(7, true), at: time.Second, want: ctEst, pass: true},
				{name: "reply with another id", frame: in.Echo(8, true), at: time.Second, want: ctInv},
				{name: "request in", frame: in.Echo(7, false), at: time.Second, want: ctNew},
				{name: "answering a ping learns nothing", out: true, frame: out.Echo(9, true), at: time.Second},
				{name: "so a reply to that is invalid", frame: in.Echo(9, true), at: time.Second, want: ctInv},
				{name: "after the icmp timeout", frame: in.Echo(7, true), at: 32 * time.Second, want: ctInv},
			}},
			{"icmp errors", hostFW, []ctStep{
				{name: "unreachable before anything was sent", frame: router.ICMPError(unreach, 3, probe), want: ctInv},
				{name: "probe out", out: true, frame: probe},
				{name: "SYN out", out: true, frame: out.TCP(40020, 443, "S")},
				{name: "port unreachable", frame: router.ICMPError(unreach, 3, probe), at: time.Second, want: ctRel, pass: true},
				{name: "time exceeded", frame: router.ICMPError(exceeded, 0, probe), at: time.Second, want: ctRel, pass: true},
				{name: "too big for the connection", frame: router.ICMPError(tooBig, tooBigCode, out.TCP(40020, 443, "S")), at: time.Second, want: ctRel, pass: true},
				{name: "quoting an unknown flow", frame: router.ICMPError(unreach, 3, out.UDP(40029, 33434)), at: time.Second, want: ctInv},
				{name: "quoting a packet this host did not send", frame: router.ICMPError(unreach, 3, in.UDP(33434, 40000)), at: time.Second, want: ctInv},
				{name: "addressed to another host", frame: fixtures.Peer{Src: h.router, Dst: h.remote}.ICMPError(unreach, 3, probe), at: time.Second, want: ctInv},
			}},
			{"fragmented udp reply", hostFW, []ctStep{
				{name: "later fragment, nothing known", frame: in.UDPFragment(53, 40030, 77, false), want: ctInv},
				{name: "query out", out: true, frame: out.UDP(40030, 53)},
				{name: "first fragment", frame: in.UDPFragment(53, 40030, 77, true), at: time.Second, want: ctEst, pass: true},
				{name: "its later fragment", frame: in.UDPFragment(53, 40030, 77, false), at: time.Second, want: ctEst, pass: true},
				{name: "a later fragment with an unknown id", frame: in.UDPFragment(53, 40030, 78, false), at: time.Second, want: ctInv},
				{name: "after the fragment timeout", frame: in.UDPFragment(53, 40030, 77, false), at: 40 * time.Second, want: ctInv},
			}},
		}
		for _, c := range cases {
			t.Run(h.name+"/"+c.name, func(t *testing.T) {
				newCTPair(t, c.rules).steps(t, c.steps)
			})
		}
	}
}

// TestConntrackAgreementDHCP: with no ct-state rule, a DHCP reply to this
// host's own request passes a drop policy as ARP and ND do (reason
// neighbor); one answering no request drops.
func TestConntrackAgreementDHCP(t *testing.T) {
	privtest.Require(t)
	discover := fixtures.Peer{Src: "0.0.0.0", Dst: "255.255.255.255"}.UDP(68, 67)
	offer := fixtures.Peer{Src: "192.0.2.1", Dst: "192.0.2.50"}.UDP(67, 68)
	solicit := fixtures.Peer{Src: "fe80::10", Dst: "ff02::1:2"}.UDP(546, 547)
	advertise := fixtures.Peer{Src: "fe80::1", Dst: "fe80::10"}.UDP(547, 546)
	c := newCTPair(t, noCT)
	c.steps(t, []ctStep{
		{name: "offer with no discover", frame: offer, want: ctNew},
		{name: "advertise with no solicit", frame: advertise, want: ctNew},
		{name: "discover out", out: true, frame: discover, at: time.Second},
		{name: "solicit out", out: true, frame: solicit, at: time.Second},
		{name: "offer", frame: offer, at: 2 * time.Second, want: ctEst, pass: true},
		{name: "advertise", frame: advertise, at: 2 * time.Second, want: ctEst, pass: true},
		{name: "other udp is not looked up", frame: fixtures.UDP("192.0.2.1", "192.0.2.50", 67, 69), at: 2 * time.Second},
		// Answers to a broadcast request do not keep it open: it ends
		// its timeout after the request (2 min once answered).
		{name: "offer again", frame: offer, at: 100 * time.Second, want: ctEst, pass: true},
		{name: "past the timeout from the request", frame: offer, at: 122 * time.Second, want: ctNew},
		// A unicast renewal is kept by its addresses: the server it
		// went to may answer, no other.
		{name: "renewal out", out: true, frame: fixtures.Peer{Src: "192.0.2.50", Dst: "192.0.2.1"}.UDP(68, 67), at: 130 * time.Second},
		{name: "the server's answer", frame: offer, at: 131 * time.Second, want: ctEst, pass: true},
		{name: "another server's", frame: fixtures.Peer{Src: "192.0.2.9", Dst: "192.0.2.50"}.UDP(67, 68), at: 131 * time.Second, want: ctNew},
	})
	// The reason, beyond the pass: neighbor, as for ARP and ND.
	dp, _ := c.run(t, false, offer, 3*time.Second)
	if dp.Reason != model.ReasonNeighbor {
		t.Errorf("offer: %v, want reason neighbor", dp)
	}
}

// TestConntrackAgreementFragmentOptions: an IPv6 datagram with options
// after its fragment header. Its later fragments' fragment header names
// the options, not UDP, and they are still the established datagram's:
// fragments are one by addresses and id (RFC 8200).
func TestConntrackAgreementFragmentOptions(t *testing.T) {
	privtest.Require(t)
	out := fixtures.Peer{Src: "2001:db8::10", Dst: "2001:db8:1::1"}
	in := out.Reverse()
	newCTPair(t, hostFW).steps(t, []ctStep{
		{name: "query out", out: true, frame: out.UDP(40031, 53)},
		{name: "first fragment", frame: in.UDPFragmentDstOpts(53, 40031, 79, true), at: time.Second, want: ctEst, pass: true},
		{name: "its later fragment", frame: in.UDPFragmentDstOpts(53, 40031, 79, false), at: time.Second, want: ctEst, pass: true},
		{name: "another datagram's", frame: in.UDPFragmentDstOpts(53, 40031, 80, false), at: time.Second, want: ctInv},
	})
}

// TestConntrackAgreementMLD: multicast listener messages are untracked,
// as in Linux, so nftables' usual host ruleset (invalid dropped first,
// then the ICMPv6 a host needs let in) lets a router's query in.
func TestConntrackAgreementMLD(t *testing.T) {
	privtest.Require(t)
	const invalidFirst = `policy: drop
rules:
  - {ct-state: invalid, action: drop}
  - {ct-state: "established,related", action: pass}
  - {proto: icmpv6, icmpv6-type: 130, action: pass}
  - {proto: icmpv6, icmpv6-type: 143, action: pass}
`
	newCTPair(t, invalidFirst).steps(t, []ctStep{
		{name: "query", frame: fixtures.ICMPv6("fe80::1", "ff02::1", 130), pass: true},
		{name: "mldv2 report", frame: fixtures.ICMPv6("fe80::2", "ff02::16", 143), pass: true},
		{name: "another informational type", frame: fixtures.ICMPv6("fe80::1", "ff02::1", 139), want: ctInv},
	})
}

// TestConntrackAgreementTCPFlags: a segment whose flags no stack sends
// (none, FIN without ACK, SYN with FIN or RST: scans and evasions) is
// invalid on a known flow and leaves it as it was, as nftables' ct state
// says; going out, it is not learned. They were established on any
// flow's ports, a SYN-RST closing the flow, and a null or FIN scan from
// the host made its targets' answers established.
func TestConntrackAgreementTCPFlags(t *testing.T) {
	privtest.Require(t)
	for _, h := range ctFamilies {
		out := fixtures.Peer{Src: h.local, Dst: h.remote}
		in := out.Reverse()
		newCTPair(t, hostFW).steps(t, []ctStep{
			{name: h.name + ": SYN out", out: true, frame: out.TCP(40001, 443, "S")},
			{name: h.name + ": SYN-ACK", frame: in.TCP(443, 40001, "SA"), want: ctEst, pass: true},
			{name: h.name + ": no flags", frame: in.TCP(443, 40001, ""), want: ctInv},
			{name: h.name + ": FIN without ACK", frame: in.TCP(443, 40001, "F"), want: ctInv},
			{name: h.name + ": SYN-FIN", frame: in.TCP(443, 40001, "SF"), want: ctInv},
			{name: h.name + ": FIN-RST", frame: in.TCP(443, 40001, "FR"), want: ctInv},
			{name: h.name + ": SYN-RST", frame: in.TCP(443, 40001, "SR"), want: ctInv},
			// past the close timeout: the SYN-RST closed nothing
			{name: h.name + ": data after 20 s", frame: in.TCP(443, 40001, "PA"), at: 20 * time.Second, want: ctEst, pass: true},
			{name: h.name + ": null scan out", out: true, frame: out.TCP(40002, 80, ""), at: 21 * time.Second},
			{name: h.name + ": its answer", frame: in.TCP(80, 40002, "RA"), at: 21 * time.Second, want: ctInv},
			{name: h.name + ": FIN scan out", out: true, frame: out.TCP(40003, 80, "F"), at: 21 * time.Second},
			{name: h.name + ": an ACK back", frame: in.TCP(80, 40003, "A"), at: 21 * time.Second, want: ctInv},
			{name: h.name + ": SYN-FIN out", out: true, frame: out.TCP(40004, 80, "SF"), at: 21 * time.Second},
			{name: h.name + ": a SYN-ACK back", frame: in.TCP(80, 40004, "SA"), at: 21 * time.Second, want: ctInv},
		})
	}
}
