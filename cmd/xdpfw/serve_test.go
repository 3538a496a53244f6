package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

const serveConfig = `policy: pass
rules:
  - {proto: udp, dport: 53, action: pass, comment: dns}
  - {proto: udp, dport: 54, action: drop}
`

// serveConfig2 adds a rule; the other two are unchanged.
const serveConfig2 = `policy: pass
rules:
  - {proto: udp, dport: 53, action: pass, comment: dns}
  - {proto: udp, dport: 54, action: drop}
  - {proto: tcp, dport: 23, action: drop, comment: "no telnet"}
`

// The verdict labels of each stats counter, as the metric's help says.
var verdictMetricLabels = map[string]string{
	"pass":      "reason=any,verdict=pass",
	"drop":      "reason=any,verdict=drop",
	"default":   "reason=default,verdict=policy",
	"malformed": "reason=malformed,verdict=drop",
	"neighbor":  "reason=neighbor,verdict=pass",
}

// sendFrames runs n copies of frame through the pinned program with
// BPF_PROG_TEST_RUN, which counts them in the live counters.
func sendFrames(t *testing.T, pin string, frame []byte, n int) {
	t.Helper()
	prog, err := ebpf.LoadPinnedProgram(filepath.Join(pin, "prog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	for range n {
		if _, err := prog.Run(&ebpf.RunOptions{Data: frame}); err != nil {
			t.Fatal(err)
		}
	}
}

// checkMetricsMatchCLI: the scraped rule and verdict counters are those
// rule list --json and stats --json print (nothing moves in between).
func checkMetricsMatchCLI(t *testing.T, pin, url string) {
	t.Helper()
	fams := scrape(t, url)
	rl := decodeJSON[ruleListJSON](t, "rule list --json", mustRunCLI(t, pin, "", "rule", "list", "--json"))
	pkts, bytes := metricValues(fams, "xdpfw_rule_packets_total"), metricValues(fams, "xdpfw_rule_bytes_total")
	if len(pkts) != len(rl.Rules) || len(bytes) != len(rl.Rules) {
		t.Errorf("metrics have %d and %d rule series, rule list %d rules:\n%v", len(pkts), len(bytes), len(rl.Rules), pkts)
	}
	for _, r := range rl.Rules {
		key := fmt.Sprintf("action=%s,comment=%s,id=%d", r.Action, r.Comment, r.ID)
		if p, ok := pkts[key]; !ok || uint64(p) != r.Packets || uint64(bytes[key]) != r.Bytes {
			t.Errorf("rule %d: metrics {%s} %v packets %v bytes, rule list %d and %d", r.ID, key, p, bytes[key], r.Packets, r.Bytes)
		}
	}
	stats := decodeJSON[map[string]loader.Counter](t, "stats --json", mustRunCLI(t, pin, "", "stats", "--json"))
	vp, vb := metricValues(fams, "xdpfw_verdict_packets_total"), metricValues(fams, "xdpfw_verdict_bytes_total")
	for name, key := range verdictMetricLabels {
		if uint64(vp[key]) != stats[name].Packets || uint64(vb[key]) != stats[name].Bytes {
			t.Errorf("verdict %s: metrics {%s} %v packets %v bytes, stats %+v", name, key, vp[key], vb[key], stats[name])
		}
	}
	ifaces := decodeJSON[[]loader.IfaceCounters](t, "stats --interfaces --json", mustRunCLI(t, pin, "", "stats", "--interfaces", "--json"))
	ip := metricValues(fams, "xdpfw_interface_verdict_packets_total")
	if len(ip) != len(ifaces)*len(verdictMetricLabels) {
		t.Errorf("%d per-interface series, want 5 for each of %d interfaces", len(ip), len(ifaces))
	}
	for _, ic := range ifaces {
		for name, key := range verdictMetricLabels {
			if v := ip[fmt.Sprintf("ifindex=%d,interface=%s,%s", ic.Ifindex, ic.Iface, key)]; uint64(v) != ic.Counters[name].Packets {
				t.Errorf("%s %s: metric %v, stats %d", ic.Iface, name, v, ic.Counters[name].Packets)
			}
		}
	}
	ct := decodeJSON[loader.CTStats](t, "ct stats --json", mustRunCLI(t, pin, "", "ct", "stats", "--json"))
	flows, pkts := metricValues(fams, "xdpfw_ct_flows_total"), metricValues(fams, "xdpfw_ct_packets_total")
	idles := metricValues(fams, "xdpfw_ct_idle")
	idle := idles[""]
	if e, c := metricValues(fams, "xdpfw_ct_entries")[""], metricValues(fams, "xdpfw_ct_capacity")[""]; int(e) != ct.Entries || int(c) != ct.Capacity || c == 0 || len(idles) != 1 || (idle == 1) != ct.Idle ||
		uint64(flows["event=inserted"]) != ct.Inserts || uint64(flows["event=evicted"]) != ct.Evictions ||
		uint64(metricValues(fams, "xdpfw_ct_egress_packets_total")[""]) != ct.Egress || len(pkts) != len(ct.States) {
		t.Errorf("conntrack metrics: entries %v capacity %v idle %v flows %v packets %v; ct stats %+v", e, c, idle, flows, pkts, ct)
	}
	for state, n := range ct.States {
		if uint64(pkts["state="+state]) != n {
			t.Errorf("xdpfw_ct_packets_total{state=%s} %v, ct stats %d", state, pkts["state="+state], n)
		}
	}
	if n := metricValues(fams, "xdpfw_rules")[""]; int(n) != len(rl.Rules) {
		t.Errorf("xdpfw_rules %v, rule list has %d", n, len(rl.Rules))
	}
}

func reloadOK(t *testing.T, url string) float64 {
	t.Helper()
	v, ok := metricValues(scrape(t, url), "xdpfw_config_reload_success")[""]
	if !ok {
		t.Fatal("no xdpfw_config_reload_success")
	}
	return v
}

// TestServe runs the real binary: it applies its config, its metrics
// equal the CLI's counters after traffic, it reloads a changed file
// (renamed over, as editors save), keeps the last good ruleset on a
// broken one (the log and the metrics say why), re-applies on SIGHUP,
// and on SIGTERM leaves the firewall pinned; a second run with
// --detach-on-exit removes it.
func TestServe(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	exe := buildXdpfw(t)
	pin := privtest.PinDir(t)
	cfg := writeFile(t, t.TempDir(), "xdpfw.yaml", serveConfig)

	p := startServe(t, exe, pin, cfg)
	url := p.metricsAt()
	p.waitLog("config applied", "trigger=start", "rules=2")

	sendFrames(t, pin, fixtures.UDP("192.0.2.1", "198.51.100.1", 4000, 53), 3)
	sendFrames(t, pin, fixtures.UDP("192.0.2.1", "198.51.100.1", 4000, 54), 2)
	sendFrames(t, pin, fixtures.TCPSyn("192.0.2.1", "198.51.100.1", 4000, 80), 4)
	checkMetricsMatchCLI(t, pin, url)
	if v := reloadOK(t, url); v != 1 {
		t.Errorf("xdpfw_config_reload_success %v after a good start, want 1", v)
	}

	// A changed file is applied; the unchanged rules keep their counters.
	replaceFile(t, cfg, serveConfig2)
	p.waitLog("config applied", `trigger="file changed"`, "rules=3", "unchanged=2", "added=1")
	rl := decodeJSON[ruleListJSON](t, "rule list --json", mustRunCLI(t, pin, "", "rule", "list", "--json"))
	if len(rl.Rules) != 3 || rl.Rules[0].Packets != 3 || rl.Rules[2].Comment != "no telnet" {
		t.Fatalf("after the change: %+v", rl.Rules)
	}
	sendFrames(t, pin, fixtures.TCPSyn("192.0.2.1", "198.51.100.1", 4000, 23), 2)
	checkMetricsMatchCLI(t, pin, url)

	// A broken file changes nothing; the log and the metrics say why.
	saved := mustRunCLI(t, pin, "", "save")
	replaceFile(t, cfg, "policy: drop\nrules:\n  - {proto: udp, dport: 99999, action: drop}\n")
	line := p.waitLog("config not applied: keeping the last good ruleset", cfg+":3:")
	if !strings.Contains(line, "level=ERROR") {
		t.Errorf("the refusal is not logged as an error: %s", line)
	}
	if got := mustRunCLI(t, pin, "", "save"); got != saved {
		t.Errorf("a broken config changed the live ruleset:\n%s\nwas:\n%s", got, saved)
	}
	fams := scrape(t, url)
	if v := metricValues(fams, "xdpfw_config_reload_success")[""]; v != 0 {
		t.Errorf("xdpfw_config_reload_success %v after a broken file, want 0", v)
	}
	why := metricValues(fams, "xdpfw_config_reload_error_info")
	if len(why) != 1 {
		t.Errorf("xdpfw_config_reload_error_info: %v, want one series naming the error", why)
	}
	for labels := range why {
		if !strings.Contains(labels, cfg+":3:") || !strings.Contains(labels, "99999") {
			t.Errorf("xdpfw_config_reload_error_info{%s}: want the file, line and value", labels)
		}
	}
	checkMetricsMatchCLI(t, pin, url)

	// SIGHUP re-reads it (still broken), then the fixed file is applied,
	// and SIGHUP re-applies it.
	p.signal(syscall.SIGHUP)
	p.waitLog("config not applied", "trigger=SIGHUP")
	replaceFile(t, cfg, serveConfig2)
	p.waitLog("config unchanged", `trigger="file changed"`, "rules=3")
	p.signal(syscall.SIGHUP)
	p.waitLog("config unchanged", "trigger=SIGHUP", "rules=3")
	if v := reloadOK(t, url); v != 1 {
		t.Errorf("xdpfw_config_reload_success %v after the fix, want 1", v)
	}
	if why := metricValues(scrape(t, url), "xdpfw_config_reload_error_info"); len(why) != 0 {
		t.Errorf("xdpfw_config_reload_error_info after the fix: %v, want none", why)
	}

	// SIGTERM: exit 0, the firewall stays.
	p.signal(syscall.SIGTERM)
	if code := p.exit(); code != 0 {
		t.Errorf("serve exited %d on SIGTERM, want 0", code)
	}
	if _, err := os.Stat(filepath.Join(pin, "prog")); err != nil {
		t.Fatalf("after serve exited: %v; the pins must stay", err)
	}
	if got := mustRunCLI(t, pin, "", "save"); got != saved {
		t.Errorf("the ruleset after serve exited:\n%s\nwant:\n%s", got, saved)
	}

	// --detach-on-exit: the state goes with the service.
	p2 := startServe(t, exe, pin, cfg, "--detach-on-exit")
	p2.waitLog("config unchanged", "trigger=start")
	p2.signal(syscall.SIGINT)
	if code := p2.exit(); code != 0 {
		t.Errorf("serve --detach-on-exit exited %d on SIGINT, want 0", code)
	}
	p2.waitLog("exiting: detached and removed the state")
	if _, err := os.Stat(pin); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after serve --detach-on-exit: %s: %v, want it removed", pin, err)
	}
}
