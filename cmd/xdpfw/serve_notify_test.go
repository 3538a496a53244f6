package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestServeNotifiesReady: under systemd (NOTIFY_SOCKET set, the unit
// Type=notify) serve says READY=1 only once its config is live, which is
// what holds network-pre.target, and the network, back until the firewall
// is up; and STOPPING=1 when it stops. A config that cannot be applied
// is ready too (it is retried; the boot must not wait for it).
func TestServeNotifiesReady(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	exe := buildXdpfw(t)
	for _, tc := range []struct {
		name, config string
		live         bool
	}{
		{"applied", serveConfig, true},
		{"refused", "policy: pass\ninterfaces: [{name: xdpfw-none0}]\nrules: []\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pin := privtest.PinDir(t)
			dir := t.TempDir()
			cfg := writeFile(t, dir, "xdpfw.yaml", tc.config)
			sock := filepath.Join(dir, "notify")
			ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			next := func() string {
				t.Helper()
				buf := make([]byte, 4096)
				ln.SetReadDeadline(time.Now().Add(serveWait))
				n, err := ln.Read(buf)
				if err != nil {
					t.Fatalf("no notification from serve: %v", err)
				}
				return string(buf[:n])
			}

			cmd := exec.Command(exe, "--pin-dir", pin, "serve", "--config", cfg)
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
			p := startCmd(t, cmd)
			if got := next(); got != "READY=1" {
				t.Fatalf("first notification %q, want READY=1", got)
			}
			// The log line of the first attempt is written before READY.
			if tc.live {
				if st := decodeJSON[statusJSON](t, "status --json", mustRunCLI(t, pin, "", "status", "--json")); !st.Loaded || st.Rules != 2 {
					t.Errorf("at READY=1 the config is not live: %+v", st)
				}
				p.waitLog("config applied", "trigger=start")
			} else {
				p.waitLog("config not applied", "trigger=start")
			}
			p.signal(syscall.SIGTERM)
			if got := next(); !strings.HasPrefix(got, "STOPPING=1") {
				t.Errorf("notification on SIGTERM %q, want STOPPING=1", got)
			}
			if code := p.exit(); code != 0 {
				t.Errorf("serve exited %d on SIGTERM", code)
			}
		})
	}
}
