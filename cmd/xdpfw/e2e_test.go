package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// statusJSON is what `status --json` prints.
type statusJSON struct {
	PinDir     string              `json:"pin_dir"`
	Loaded     bool                `json:"loaded"`
	Policy     string              `json:"policy"`
	Rules      int                 `json:"rules"`
	CTFlows    int                 `json:"ct_flows"`
	CTIdle     bool                `json:"ct_idle"`
	Interfaces []loader.Attachment `json:"interfaces"`
	Problems   []loader.Problem    `json:"problems"`
}

// ruleListJSON is what `rule list --json` prints.
type ruleListJSON struct {
	Policy string           `json:"policy"`
	Rules  []loader.RuleRow `json:"rules"`
}

func decodeJSON[T any](t *testing.T, what, out string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: bad JSON (%v):\n%s", what, err, out)
	}
	return v
}

func (l *lab) status() statusJSON {
	return decodeJSON[statusJSON](l.t, "status --json", l.mustCLI("status", "--json"))
}

func (l *lab) ruleList() ruleListJSON {
	return decodeJSON[ruleListJSON](l.t, "rule list --json", l.mustCLI("rule", "list", "--json"))
}

func (l *lab) stats() map[string]loader.Counter {
	return decodeJSON[map[string]loader.Counter](l.t, "stats --json", l.mustCLI("stats", "--json"))
}

// addRule runs `rule add ARGS...` and checks it printed the wanted id.
func (l *lab) addRule(wantID uint32, args ...string) {
	l.t.Helper()
	out := l.mustCLI(append([]string{"rule", "add"}, args...)...)
	if got := strings.TrimSpace(out); got != fmt.Sprint(wantID) {
		l.t.Fatalf("rule add %s printed %q, want the id %d", strings.Join(args, " "), out, wantID)
	}
}

func findRule(t *testing.T, rl ruleListJSON, id uint32) loader.RuleRow {
	t.Helper()
	for _, r := range rl.Rules {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("rule %d missing from rule list: %+v", id, rl.Rules)
	return loader.RuleRow{}
}

// Frame sizes the datapath counts (Ethernet header, no FCS): veth does
// not pad short frames.
const (
	udp4Overhead = 14 + 20 + 8
	udp6Overhead = 14 + 40 + 8
)

// TestEndToEnd drives the CLI against real traffic between two network
// namespaces: attach, rules for UDP, TCP and ICMP, exact per-rule
// counters and their reset, a live rule deletion under load, a drop
// policy that keeps ARP and neighbour discovery working, stats, and a
// detach that leaves nothing behind.
func TestEndToEnd(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	l := newLab(t)

	// Sockets: a client UDP socket per family, server UDP listeners on
	// ports 5001 and 5002 in both families, two TCP listeners, ICMP.
	c4, c6 := l.clientUDP(l.clientV4), l.clientUDP(l.clientV6)
	type udpDst struct {
		from *net.UDPConn
		to   *net.UDPConn
		dst  netip.AddrPort
	}
	udpTo := func(from *net.UDPConn, ip netip.Addr, port uint16) udpDst {
		return udpDst{from, l.serverUDP(ip, port), netip.AddrPortFrom(ip, port)}
	}
	v4a, v4b := udpTo(c4, l.serverV4, 5001), udpTo(c4, l.serverV4, 5002)
	v6a, v6b := udpTo(c6, l.serverV6, 5001), udpTo(c6, l.serverV6, 5002)
	tcpDropped, tcpOpen := l.serverTCP(), l.serverTCP()
	icmp := l.clientICMP()

	expectUDP := func(stage string, u udpDst, arrive bool) {
		t.Helper()
		const n = 5
		got := l.udpProbe(u.from, u.to, u.dst, n, arrive)
		switch {
		case arrive && got != n:
			t.Fatalf("%s: %d of %d UDP datagrams to %s arrived, want all", stage, got, n, u.dst)
		case !arrive && got != 0:
			t.Fatalf("%s: %d of %d UDP datagrams to %s arrived, want none", stage, got, n, u.dst)
		}
	}
	expectTCP := func(stage string, port uint16, connect bool) {
		t.Helper()
		// A dropped SYN shows as a 300ms timeout; a connect that should
		// work gets longer, so a slow machine does not fail the test.
		timeout := 300 * time.Millisecond
		if connect {
			timeout = 2 * time.Second
		}
		err := l.dialTCP(port, timeout)
		switch {
		case connect && err != nil:
			t.Fatalf("%s: TCP connect to port %d: %v, want success", stage, port, err)
		case !connect && err == nil:
			t.Fatalf("%s: TCP connect to port %d succeeded, want a timeout", stage, port)
		case !connect && !isTimeout(err):
			t.Fatalf("%s: TCP connect to port %d: %v, want a timeout (the SYN dropped)", stage, port, err)
		}
	}
	expectPing := func(stage string, reply bool) {
		t.Helper()
		wait := 300 * time.Millisecond
		if reply {
			wait = 2 * time.Second
		}
		if got := l.ping(icmp, wait); got != reply {
			t.Fatalf("%s: echo reply received = %v, want %v", stage, got, reply)
		}
	}

	// Attach in native mode.
	out := l.mustCLI("attach", serverIf, "--mode", "native")
	if !strings.Contains(out, "attached to "+serverIf) || !strings.Contains(out, "native mode") {
		t.Fatalf("attach printed %q, want it to say it attached to %s in native mode", out, serverIf)
	}
	progID := l.serverXDPProg()
	if progID == 0 {
		t.Fatalf("no XDP program on %s after attach", serverIf)
	}
	st := l.status()
	if st.PinDir != l.pinDir || st.Policy != "pass" || st.Rules != 0 {
		t.Errorf("status after attach: %+v, want pin dir %s, policy pass, 0 rules", st, l.pinDir)
	}
	if len(st.Interfaces) != 1 || st.Interfaces[0].Iface != serverIf || !st.Interfaces[0].Attached ||
		st.Interfaces[0].Mode != loader.ModeNative || st.Interfaces[0].ProgID != progID {
		t.Fatalf("status interfaces: %+v, want %s attached in native mode with program %d", st.Interfaces, serverIf, progID)
	}

	// No rules, policy pass: everything arrives.
	stage := "no rules"
	for _, u := range []udpDst{v4a, v4b, v6a, v6b} {
		expectUDP(stage, u, true)
	}
	expectTCP(stage, tcpDropped, true)
	expectTCP(stage, tcpOpen, true)
	expectPing(stage, true)

	// Rule 1: UDP to 5001 dropped, in both families; 5002 unaffected.
	// Every datagram sent to 5001 from here to the counter check must
	// be counted by rule 1, exactly.
	l.addRule(1, "--proto", "udp", "--dport", "5001", "--action", "drop")
	stage = "udp dport 5001 dropped"
	const n4, n6 = 20, 10
	tok4, tok6 := l.token("rule1-v4"), l.token("rule1-v6")
	payload := l.sendUDP(c4, v4a.dst, tok4, n4)
	wantBytes := uint64(payload + n4*udp4Overhead)
	payload = l.sendUDP(c6, v6a.dst, tok6, n6)
	wantBytes += uint64(payload + n6*udp6Overhead)
	if got := l.recvUDP(v4a.to, tok4, 0, 300*time.Millisecond); got != 0 {
		t.Fatalf("%s: %d of %d IPv4 datagrams to 5001 arrived, want none", stage, got, n4)
	}
	if got := l.recvUDP(v6a.to, tok6, 0, 300*time.Millisecond); got != 0 {
		t.Fatalf("%s: %d of %d IPv6 datagrams to 5001 arrived, want none", stage, got, n6)
	}
	expectUDP(stage, v4b, true)
	expectUDP(stage, v6b, true)

	// Rule 2: TCP from the client to one port dropped; another port
	// still connects.
	l.addRule(2, "--src", l.clientV4.String()+"/32", "--proto", "tcp", "--dport", fmt.Sprint(tcpDropped), "--action", "drop")
	stage = "tcp from client to one port dropped"
	expectTCP(stage, tcpDropped, false)
	expectTCP(stage, tcpOpen, true)

	// Rule 3: ICMP dropped.
	l.addRule(3, "--proto", "icmp", "--action", "drop")
	expectPing("icmp dropped", false)

	// Per-rule counters.
	rl := l.ruleList()
	if rl.Policy != "pass" || len(rl.Rules) != 3 {
		t.Fatalf("rule list: policy %s, %d rules, want pass and 3: %+v", rl.Policy, len(rl.Rules), rl.Rules)
	}
	if r := findRule(t, rl, 1); r.Packets != n4+n6 || r.Bytes != wantBytes {
		t.Errorf("rule 1 (%s) counted %d packets, %d bytes; the test sent it exactly %d frames, %d bytes",
			r.Match, r.Packets, r.Bytes, n4+n6, wantBytes)
	}
	if r := findRule(t, rl, 2); r.Packets == 0 || r.Bytes == 0 {
		t.Errorf("rule 2 (%s) counted nothing, but dropped a TCP connect: %+v", r.Match, r)
	}
	if r := findRule(t, rl, 3); r.Packets == 0 || r.Bytes == 0 {
		t.Errorf("rule 3 (%s) counted nothing, but dropped an echo request: %+v", r.Match, r)
	}
	// rule reset zeroes the rule named, the others keep theirs.
	l.mustCLI("rule", "reset", "2")
	rl = l.ruleList()
	if r := findRule(t, rl, 2); r.Packets != 0 || r.Bytes != 0 {
		t.Errorf("rule 2 after rule reset 2: %+v, want no packets", r)
	}
	if r := findRule(t, rl, 1); r.Packets != n4+n6 {
		t.Errorf("rule 1 after rule reset 2: %d packets, want %d", r.Packets, n4+n6)
	}

	// Delete rule 1 while a sender keeps sending to 5001 every 5ms:
	// datagrams arrive again soon after.
	bgTok := l.token("bg")
	stop := make(chan struct{})
	var (
		wg      sync.WaitGroup
		sendErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := c4.WriteToUDPAddrPort(fmt.Appendf(nil, "%s%06d", bgTok, i), v4a.dst); err != nil {
				sendErr = err
				return
			}
		}
	}()
	var stopOnce sync.Once
	stopSender := func() {
		stopOnce.Do(func() { close(stop); wg.Wait() })
	}
	t.Cleanup(stopSender)
	if got := l.recvUDP(v4a.to, bgTok, 0, 200*time.Millisecond); got != 0 {
		t.Fatalf("%d datagrams to 5001 arrived while rule 1 drops them", got)
	}
	out = l.mustCLI("rule", "del", "1")
	deleted := time.Now()
	if strings.TrimSpace(out) != "deleted rule 1" {
		t.Errorf("rule del 1 printed %q, want \"deleted rule 1\"", out)
	}
	if got := l.recvUDP(v4a.to, bgTok, 1, 2*time.Second); got == 0 {
		t.Fatalf("no datagram to 5001 arrived within 2s of deleting rule 1")
	}
	t.Logf("datagrams to 5001 arrive again %v after rule del returned", time.Since(deleted).Round(time.Millisecond))
	stopSender()
	if sendErr != nil {
		t.Fatalf("background sender: %v", sendErr)
	}
	if rl := l.ruleList(); len(rl.Rules) != 2 || rl.Rules[0].ID != 2 || rl.Rules[1].ID != 3 {
		t.Fatalf("rule list after rule del 1: %+v, want rules 2 and 3", rl.Rules)
	}

	// Policy drop: unmatched traffic stops, ARP and neighbour discovery
	// still work.
	if out := l.mustCLI("policy", "drop"); strings.TrimSpace(out) != "policy drop" {
		t.Errorf("policy drop printed %q", out)
	}
	stage = "policy drop"
	expectUDP(stage, v4b, false)
	expectUDP(stage, v6b, false)
	expectTCP(stage, tcpOpen, false)
	before := l.stats()
	for _, ip := range []netip.Addr{l.serverV4, l.serverV6} {
		from := c4
		if ip.Is6() {
			from = c6
		}
		l.forgetNeighbor(ip)
		// The datagram is dropped by the policy; resolving the
		// server's address for it is what has to get through.
		l.sendUDP(from, netip.AddrPortFrom(ip, 5002), l.token("resolve"), 1)
		if !poll(3*time.Second, func() bool { return l.neighborResolved(ip) }) {
			t.Errorf("%s: the client could not resolve %s again (ARP/ND blocked?)", stage, ip)
		}
	}
	after := l.stats()
	if after["neighbor"].Packets <= before["neighbor"].Packets {
		t.Errorf("stats: neighbor counter %d -> %d, want it to grow with ARP and ND under policy drop",
			before["neighbor"].Packets, after["neighbor"].Packets)
	}
	for _, name := range loader.StatNames {
		if _, ok := after[name]; !ok {
			t.Errorf("stats --json has no %q counter: %+v", name, after)
		}
	}
	for _, name := range []string{"pass", "drop", "default", "neighbor"} {
		if after[name].Packets == 0 || after[name].Bytes == 0 {
			t.Errorf("stats: %s counter is zero after traffic: %+v", name, after)
		}
	}
	if after["malformed"].Packets != 0 {
		t.Errorf("stats: %d malformed frames, want 0 (the lab sends only well-formed traffic)", after["malformed"].Packets)
	}
	// vs is the only interface with frames: its own counters are the
	// totals (read before and after them: neighbour traffic may go on).
	ifaces := decodeJSON[[]loader.IfaceCounters](t, "stats --interfaces --json", l.mustCLI("stats", "--interfaces", "--json"))
	again := l.stats()
	if len(ifaces) != 1 || ifaces[0].Iface != serverIf {
		t.Errorf("stats --interfaces: %+v, want %s alone", ifaces, serverIf)
	} else {
		for _, name := range loader.StatNames {
			if c := ifaces[0].Counters[name]; c.Packets < after[name].Packets || c.Packets > again[name].Packets {
				t.Errorf("stats --interfaces: %s %s %d packets, the totals %d then %d", serverIf, name, c.Packets, after[name].Packets, again[name].Packets)
			}
		}
	}

	// Detach: the program and the pins are gone, traffic flows again.
	out = l.mustCLI("detach", serverIf)
	if !strings.Contains(out, "detached from "+serverIf) || !strings.Contains(out, "removed "+l.pinDir) {
		t.Errorf("detach printed %q, want it to say it detached from %s and removed %s", out, serverIf, l.pinDir)
	}
	if _, err := os.Stat(l.pinDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin directory after the last detach: %v, want it gone", err)
	}
	if id := l.serverXDPProg(); id != 0 {
		t.Errorf("XDP program %d still on %s after detach", id, serverIf)
	}
	if _, err := l.cli("status"); err == nil || !strings.Contains(err.Error(), "not attached") {
		t.Errorf("status after detach: %v, want a not-attached error", err)
	}
	expectUDP("after detach", v4b, true)
	expectPing("after detach", true)
}

// expectCLIError runs a command that must fail with a one-line error
// containing want and print nothing.
func expectCLIError(t *testing.T, l *lab, want string, args ...string) {
	t.Helper()
	cmd := "xdpfw " + strings.Join(args, " ")
	out, err := l.cli(args...)
	if err == nil {
		t.Errorf("%s: succeeded (printed %q), want an error mentioning %q", cmd, out, want)
		return
	}
	msg := err.Error()
	if strings.TrimSpace(msg) == "" || strings.Contains(msg, "\n") {
		t.Errorf("%s: error %q is not one line", cmd, msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("%s: error %q does not mention %q", cmd, msg, want)
	}
	if out != "" {
		t.Errorf("%s: failed but printed %q", cmd, out)
	}
}

func assertNoPinDir(t *testing.T, l *lab, after string) {
	t.Helper()
	if _, err := os.Stat(l.pinDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after %s: pin directory %s: %v, want none", after, l.pinDir, err)
	}
}

// TestCLIErrors checks that bad input fails with one clear line and
// changes nothing.
func TestCLIErrors(t *testing.T) {
	privtest.Require(t)
	t.Parallel()

	t.Run("usage", func(t *testing.T) {
		privtest.Require(t)
		t.Parallel()
		l := newLab(t)
		dir := t.TempDir()
		valid := filepath.Join(dir, "valid.yaml")
		bad := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(valid, []byte("policy: drop\nrules:\n  - {proto: tcp, dport: 22, action: pass}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// Line 4 has the bad CIDR.
		if err := os.WriteFile(bad, []byte("policy: pass\nrules:\n  - action: drop\n    src: 10.0.0.0/33\n"), 0o600); err != nil {
			t.Fatal(err)
		}

		// Nothing attached yet: none of these may create state.
		expectCLIError(t, l, "not attached", "rule", "list")
		assertNoPinDir(t, l, "rule list")
		expectCLIError(t, l, "nosuchif0", "attach", "nosuchif0")
		assertNoPinDir(t, l, "attach nosuchif0")
		expectCLIError(t, l, "/nonexistent.pcap", "replay", "/nonexistent.pcap", "--rules", valid)
		expectCLIError(t, l, bad+":4:", "replay", "x.pcap", "--rules", bad)
		expectCLIError(t, l, "maybe", "policy", "maybe")
		assertNoPinDir(t, l, "replay and policy")

		// Attached with one rule: failures leave rules, ids and policy.
		l.mustCLI("attach", serverIf, "--mode", "native")
		l.addRule(1, "--proto", "tcp", "--dport", "22", "--action", "drop")
		rulesBefore := l.mustCLI("rule", "list", "--json")
		statusBefore := l.mustCLI("status", "--json")

		expectCLIError(t, l, "10.0.0.300", "rule", "add", "--src", "10.0.0.300/8", "--action", "drop")
		expectCLIError(t, l, "70000", "rule", "add", "--dport", "70000", "--action", "drop")
		expectCLIError(t, l, "icmp", "rule", "add", "--proto", "icmp", "--dport", "80", "--action", "drop")
		expectCLIError(t, l, "999", "rule", "del", "999")
		expectCLIError(t, l, "maybe", "policy", "maybe")
		expectCLIError(t, l, bad+":4:", "replay", "x.pcap", "--rules", bad)

		if got := l.mustCLI("rule", "list", "--json"); got != rulesBefore {
			t.Errorf("rule list --json changed after failed commands:\nbefore: %s\nafter:  %s", rulesBefore, got)
		}
		if got := l.mustCLI("status", "--json"); got != statusBefore {
			t.Errorf("status --json changed after failed commands:\nbefore: %s\nafter:  %s", statusBefore, got)
		}
		// No failed add used up an id.
		l.addRule(2, "--proto", "udp", "--dport", "53", "--action", "pass")
	})

	t.Run("foreign program", func(t *testing.T) {
		privtest.Require(t)
		t.Parallel()
		l := newLab(t)

		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "xdp_pass",
			Type: ebpf.XDP,
			Instructions: asm.Instructions{
				asm.Mov.Imm(asm.R0, 2), // XDP_PASS
				asm.Return(),
			},
			License: "GPL",
		})
		if err != nil {
			t.Fatalf("load a trivial XDP program: %v", err)
		}
		defer prog.Close() // the attachment keeps it loaded
		link := l.link(l.hs, serverIf)
		inNS(t, l.serverNS, func() {
			err = netlink.LinkSetXdpFdWithFlags(link, prog.FD(), nl.XDP_FLAGS_DRV_MODE)
		})
		if err != nil {
			t.Fatalf("attach the foreign program: %v", err)
		}
		foreign := l.serverXDPProg()
		if foreign == 0 {
			t.Fatalf("foreign program not on %s", serverIf)
		}

		for _, mode := range []string{"auto", "native", "generic"} {
			expectCLIError(t, l, "--force", "attach", serverIf, "--mode", mode)
			if id := l.serverXDPProg(); id != foreign {
				t.Fatalf("attach --mode %s without --force: program on %s is %d, want the foreign %d untouched", mode, serverIf, id, foreign)
			}
			assertNoPinDir(t, l, "a refused attach --mode "+mode)
		}

		out := l.mustCLI("attach", serverIf, "--force")
		if !strings.Contains(out, "attached to "+serverIf) {
			t.Errorf("attach --force printed %q", out)
		}
		id := l.serverXDPProg()
		if id == 0 || id == foreign {
			t.Fatalf("after attach --force the program on %s is %d (foreign was %d), want xdpfw's", serverIf, id, foreign)
		}
		st := l.status()
		if len(st.Interfaces) != 1 || !st.Interfaces[0].Attached || st.Interfaces[0].ProgID != id {
			t.Errorf("status after attach --force: %+v, want %s attached with program %d", st.Interfaces, serverIf, id)
		}
		l.mustCLI("detach", serverIf)
		if id := l.serverXDPProg(); id != 0 {
			t.Errorf("XDP program %d on %s after detach, want none", id, serverIf)
		}
		assertNoPinDir(t, l, "detach")
	})
}
