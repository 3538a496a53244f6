package main

import (
	"strings"
	"syscall"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestServeLogsRules: a rule with log: true puts a line in serve's log for
// each frame it decides, with the rule, action, interface and frame; a
// rule without it puts none; turning logging off by the file stops the
// lines and keeps the rule's counters.
func TestServeLogsRules(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	exe := buildXdpfw(t)
	pin := privtest.PinDir(t)
	cfg := writeFile(t, t.TempDir(), "xdpfw.yaml", `policy: pass
rules:
  - {proto: tcp, dport: 23, action: drop, log: true, comment: telnet}
  - {proto: udp, dport: 54, action: drop}
`)
	p := startServe(t, exe, pin, cfg)
	url := p.metricsAt()
	p.waitLog("config applied", "trigger=start", "rules=2")
	if out := mustRunCLI(t, pin, "", "rule", "list"); !strings.Contains(out, "drop log") {
		t.Errorf("rule list does not show the log flag:\n%s", out)
	}
	sendFrames(t, pin, fixtures.UDP("192.0.2.1", "198.51.100.1", 4000, 54), 2)
	sendFrames(t, pin, fixtures.TCPSyn("203.0.113.9", "198.51.100.1", 41000, 23), 3)
	p.waitLog("msg=frame", "rule=1", "action=drop", "iface=lo", `frame="tcp 203.0.113.9:41000 > 198.51.100.1:23"`)
	lines := 0
	for _, l := range p.log() {
		if strings.Contains(l, "msg=frame") {
			lines++
			if !strings.Contains(l, "rule=1") {
				t.Errorf("a frame of a rule without log: true was logged: %s", l)
			}
		}
	}
	if lines > 3 {
		t.Errorf("%d frame lines for 3 logged frames", lines)
	}
	if got := metricValues(scrape(t, url), "xdpfw_ring_records_total")["result=taken,ring=log"]; got != 3 {
		t.Errorf("xdpfw_ring_records_total{ring=log,result=taken} %v, want 3", got)
	}

	replaceFile(t, cfg, `policy: pass
rules:
  - {proto: tcp, dport: 23, action: drop, comment: telnet}
  - {proto: udp, dport: 54, action: drop}
`)
	p.waitLog("config applied", `trigger="file changed"`, "unchanged=2")
	rl := decodeJSON[ruleListJSON](t, "rule list --json", mustRunCLI(t, pin, "", "rule", "list", "--json"))
	if len(rl.Rules) != 2 || rl.Rules[0].Packets != 3 {
		t.Errorf("after turning log off: %+v, want rule 1 keeping its 3 packets", rl.Rules)
	}
	p.signal(syscall.SIGTERM)
	p.exit()
	mustRunCLI(t, pin, "", "detach", "--all")
}
