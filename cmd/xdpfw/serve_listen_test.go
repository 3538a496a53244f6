package main

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestServeMetricsAddressTaken: a metrics address that cannot be
// listened on at start (taken here; at boot, an address the host has
// only once the network is up, which the unit starts before) does not
// keep the config from being applied, where serve exited and left the
// host without its firewall: the config is applied, and the metrics are
// served once the address is free. A malformed address is refused with
// nothing applied.
func TestServeMetricsAddressTaken(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	exe := buildXdpfw(t)
	pin := privtest.PinDir(t)
	cfg := writeFile(t, t.TempDir(), "xdpfw.yaml", serveConfig)

	serveOn := func(addr string) *serveProc {
		return startProc(t, exe, "--pin-dir", pin, "serve", "--config", cfg, "--metrics-listen", addr)
	}
	bad := serveOn("127.0.0.1")
	if code := bad.exit(); code == 0 {
		t.Errorf("serve ran with a malformed metrics address")
	}
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Errorf("serve refusing its metrics address made %s: %v", pin, err)
	}

	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	addr := holder.Addr().String()
	p := serveOn(addr)
	p.waitLog("cannot listen", "address="+addr)
	p.waitLog("config applied", "trigger=start", "rules=2")
	if st := decodeJSON[statusJSON](t, "status --json", mustRunCLI(t, pin, "", "status", "--json")); !st.Loaded || st.Rules != 2 {
		t.Errorf("the config is not live while the metrics address is taken: %+v", st)
	}
	holder.Close()
	url := p.metricsAt()
	if !strings.Contains(url, addr) {
		t.Errorf("metrics at %s, want %s", url, addr)
	}
	if n := metricValues(scrape(t, url), "xdpfw_rules")[""]; n != 2 {
		t.Errorf("xdpfw_rules %v, want 2", n)
	}
	p.signal(syscall.SIGTERM)
	if code := p.exit(); code != 0 {
		t.Errorf("serve exited %d on SIGTERM", code)
	}
}
