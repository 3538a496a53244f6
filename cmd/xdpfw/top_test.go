package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
)

// topOnce runs `top --once --json` and, once it says its first read is
// done, sends the frames. It reports ok=false when the second read may
// have come before the frames were all sent (top had exited by then):
// the caller tries again with a longer interval.
func topOnce(t *testing.T, exe, pin string, interval time.Duration, send func()) (sample topSample, ok bool) {
	t.Helper()
	cmd := exec.Command(exe, "--pin-dir", pin, "top", "--once", "--json", "--interval", interval.String())
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() || !strings.Contains(sc.Text(), "sampling for") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("top --once did not say it sampled: %q", sc.Text())
	}
	go func() {
		for sc.Scan() {
			t.Logf("top: stderr: %s", sc.Text())
		}
		done <- cmd.Wait()
	}()
	send()
	select {
	case <-done:
		return sample, false // finished before the frames were all in
	default:
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("top --once --json: %v", err)
		}
	case <-time.After(serveWait + interval):
		cmd.Process.Kill()
		t.Fatal("top --once did not exit")
	}
	return decodeJSON[topSample](t, "top --once --json", out.String()), true
}

// TestTopOnce: top --once --json reports the change of every counter
// over its interval, frames sent during it, and rates of that change per
// second of the interval it reports; its counts are rule list's after.
func TestTopOnce(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	exe := buildXdpfw(t)
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, serveConfig, "apply", "-f", "-")
	dns, other := fixtures.UDP("192.0.2.1", "198.51.100.1", 4000, 53), fixtures.UDP("192.0.2.1", "198.51.100.1", 4000, 54)
	sendFrames(t, pin, dns, 5) // before: not in the interval

	var s topSample
	for interval, ok := time.Second, false; !ok; interval *= 2 {
		if interval > 32*time.Second {
			t.Fatal("top --once kept finishing before 27 frames were sent")
		}
		s, ok = topOnce(t, exe, pin, interval, func() {
			sendFrames(t, pin, dns, 20)
			sendFrames(t, pin, other, 7)
		})
		if !ok {
			t.Logf("top --once --interval %s finished before the frames were sent; again, longer", interval)
		}
	}
	after := decodeJSON[ruleListJSON](t, "rule list --json", mustRunCLI(t, pin, "", "rule", "list", "--json"))
	if len(s.Rules) != 2 || s.Interval <= 0 {
		t.Fatalf("top --once --json: %+v", s)
	}
	for i, want := range []struct {
		delta uint64
		frame []byte
	}{{20, dns}, {7, other}} {
		r := s.Rules[i]
		if r.ID != after.Rules[i].ID || r.Packets != after.Rules[i].Packets || r.Bytes != after.Rules[i].Bytes || r.Comment != after.Rules[i].Comment {
			t.Errorf("top's rule %+v, rule list after %+v", r, after.Rules[i])
		}
		if r.PacketsDelta != want.delta || r.BytesDelta != want.delta*uint64(len(want.frame)) {
			t.Errorf("rule %d: top counted %d packets, %d bytes in its interval; %d frames of %d bytes were sent", r.ID, r.PacketsDelta, r.BytesDelta, want.delta, len(want.frame))
		}
		checkRate(t, "rule packets/s", r.PacketsPerSecond, r.PacketsDelta, s.Interval)
		checkRate(t, "rule bytes/s", r.BytesPerSecond, r.BytesDelta, s.Interval)
	}
	for name, want := range map[string]uint64{"pass": 20, "drop": 7, "default": 0, "malformed": 0, "neighbor": 0} {
		v := s.Verdicts[name]
		if v.PacketsDelta != want {
			t.Errorf("verdict %s: top counted %d packets in its interval, want %d", name, v.PacketsDelta, want)
		}
		checkRate(t, name+" packets/s", v.PacketsPerSecond, v.PacketsDelta, s.Interval)
	}
	stats := mustRunCLI(t, pin, "", "stats", "--json")
	var counts map[string]struct{ Packets uint64 }
	if err := json.Unmarshal([]byte(stats), &counts); err != nil || counts["pass"].Packets != s.Verdicts["pass"].Packets {
		t.Errorf("stats --json after: %s (%v); top's pass count %d", stats, err, s.Verdicts["pass"].Packets)
	}
}

func checkRate(t *testing.T, what string, got float64, delta uint64, secs float64) {
	t.Helper()
	if want := float64(delta) / secs; math.Abs(got-want) > 1e-9*math.Max(1, want) {
		t.Errorf("%s: %v, want %d / %v = %v", what, got, delta, secs, want)
	}
}
