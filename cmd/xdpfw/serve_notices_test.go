package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestServeLogsNotices: what the loader tells of a change it made (the
// conntrack tables resized, the maps grown) is a record of serve's log,
// with the pin directory and the figures, as every line of it is; the
// one-shot commands print it as a line of its own, which in serve's log
// no key=value reader could parse. Attached to none, they do not say the
// program was replaced on every interface.
func TestServeLogsNotices(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	exe := buildXdpfw(t)
	pin := privtest.PinDir(t)
	cfg := writeFile(t, t.TempDir(), "xdpfw.yaml", "policy: pass\nrules:\n  - {proto: udp, dport: 9, action: drop}\n")
	p := startServe(t, exe, pin, cfg)
	p.waitLog("config applied", "trigger=start")

	replaceFile(t, cfg, "policy: pass\nconntrack: {max-flows: 4096}\nrules:\n  - {proto: udp, dport: 9, action: drop}\n")
	p.waitLog("level=INFO", `msg="the conntrack tables resized`, "pin_dir="+pin, "flows=4096")
	p.waitLog("config applied", `trigger="file changed"`)

	// 1500 rules outgrow a new state's rule vectors.
	var b strings.Builder
	b.WriteString("policy: pass\nconntrack: {max-flows: 4096}\nrules:\n")
	for port := 5000; port < 6500; port++ {
		fmt.Fprintf(&b, "  - {action: drop, proto: udp, dport: %d}\n", port)
	}
	replaceFile(t, cfg, b.String())
	p.waitLog("level=INFO", `msg="the ruleset outgrew its maps`, "pin_dir="+pin, "grown=", "bytes=")
	p.waitLog("config applied", "rules=1500")

	p.signal(syscall.SIGTERM)
	p.exit()
	for _, line := range p.log() {
		if !strings.HasPrefix(line, "time=") || !strings.Contains(line, " level=") {
			t.Errorf("a line of serve's log is not a record: %s", line)
		}
		// Attached to none, no program was replaced on an interface.
		if strings.Contains(line, "every interface") {
			t.Errorf("attached to no interface, serve logged: %s", line)
		}
	}
	mustRunCLI(t, pin, "", "detach", "--all")
}
