package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket/pcapgo"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/blocklist"
	"github.com/xdpfw/xdpfw/pkg/loader"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

const lockdownFile = "../../testdata/rulesets/lockdown.yaml"

// captureFrames are the committed fixtures' frames that fit one buffer
// and a capture record whole, but runts and the benchmark flood.
func captureFrames(t *testing.T) [][]byte {
	var out [][]byte
	for _, fx := range fixtures.All() {
		if fx.Name == "multiflow" {
			continue
		}
		for _, f := range fx.Frames {
			if len(f) >= 14 && len(f) <= loader.MaxSnaplen { // BPF_PROG_TEST_RUN takes no runts
				out = append(out, f)
			}
		}
	}
	return out
}

// waitCapturing waits until the capture of process pid runs.
func waitCapturing(t *testing.T, pin string, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s, err := loader.Open(pin); err == nil {
			owner, alive, err := s.CaptureOwner()
			s.Close()
			if err == nil && alive && int(owner) == pid {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the capture of pid %d did not start", pid)
}

// runPinned runs each frame through the pinned program, as an interface
// would (BPF_PROG_TEST_RUN: it arrives on lo).
func runPinned(t *testing.T, pin string, frames [][]byte) {
	t.Helper()
	prog, err := ebpf.LoadPinnedProgram(filepath.Join(pin, "prog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	for _, f := range frames {
		if _, err := prog.Run(&ebpf.RunOptions{Data: f}); err != nil {
			t.Fatalf("run frame: %v", err)
		}
	}
}

// waitExit waits for a capture process, killing it after a while.
func waitExit(t *testing.T, cmd interface {
	Wait() error
}, kill func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		kill()
		<-done
		t.Fatal("the capture did not end")
	}
	return nil
}

// TestCaptureDropped: `capture -w FILE` of the drops holds exactly the
// frames the reference model drops, in order, each with its decision in
// its comment, read back with gopacket; the capture then stops.
func TestCaptureDropped(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, "", "apply", "-f", lockdownFile)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	rs, err := rules.ParseFile(lockdownFile, blocklist.RulesetOptions())
	if err != nil {
		t.Fatal(err)
	}
	frames := captureFrames(t)
	var want [][]byte
	var comments []string
	for _, f := range frames {
		v := model.Evaluate(rs, f)
		if v.Action != rules.Drop {
			continue
		}
		want = append(want, f)
		what := "policy"
		if v.Reason == model.ReasonMalformed {
			what = "malformed"
		} else if v.Reason == model.ReasonRule {
			what = "rule " + strconv.Itoa(int(v.RuleID))
		}
		comments = append(comments, what+" drop iface lo")
	}
	if len(want) < 10 || len(want) == len(frames) {
		t.Fatalf("%d of %d frames dropped: the test needs drops and passes", len(want), len(frames))
	}

	out := filepath.Join(t.TempDir(), "drops.pcapng")
	var stderr bytes.Buffer
	cmd := startCLI(t, pin, &stderr, "capture", "-c", strconv.Itoa(len(want)), "-w", out)
	waitCapturing(t, pin, cmd.Process.Pid)
	checkCaptureRing(t, pin, true)
	runPinned(t, pin, frames)
	if err := waitExit(t, cmd, func() { cmd.Process.Kill() }); err != nil {
		t.Fatalf("capture: %v; stderr %s", err, stderr.String())
	}
	// Under load the capture may wait for the state's lock (waitCapturing
	// polls it open), which it says on a line of its own naming
	// the holder ("pid N (...)" or "another process").
	msg := regexp.MustCompile(`(?m)^xdpfw: waiting for [^\n]*: [^\n]* holds it\n`).ReplaceAllString(stderr.String(), "")
	if line := fmt.Sprintf("xdpfw: %d packets written; 0 lost (the reader fell behind), 0 over --max-rate\n", len(want)); msg != line {
		t.Errorf("capture's stderr %q, want %q", stderr.String(), line)
	}

	got, gotComments := readCapture(t, out)
	if len(got) != len(want) {
		t.Fatalf("%d frames captured, want the %d dropped", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d: captured %x, want %x", i+1, got[i], want[i])
		}
		if gotComments[i] != comments[i] {
			t.Errorf("frame %d: comment %q, want %q", i+1, gotComments[i], comments[i])
		}
	}
	st, err := runCLI(t, pin, "", "status")
	if err != nil || strings.Contains(st, "capture") {
		t.Errorf("status after the capture: %v\n%s", err, st)
	}
	checkCaptureRing(t, pin, false)
}

// checkCaptureRing: the state's capture_ring holds a ring in its slot
// (made by the capture that runs) if want, and nothing otherwise.
func checkCaptureRing(t *testing.T, pin string, want bool) {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(pin, "capture_ring"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var id uint32
	err = m.Lookup(uint32(0), &id)
	if got := err == nil; got != want || (err != nil && !errors.Is(err, ebpf.ErrKeyNotExist)) {
		t.Errorf("a capture ring in its slot: %v (%v), want %v", got, err, want)
	}
}

// TestCaptureKilled: a capture whose process is killed stays on; status
// fails naming it, another capture takes it over, and --stop ends it.
func TestCaptureKilled(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, "", "apply", "-f", lockdownFile)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	cmd := startCLI(t, pin, nil, "capture", "--verdict", "all")
	waitCapturing(t, pin, cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	_, err := runCLI(t, pin, "", "status")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("a capture is left on by pid %d", cmd.Process.Pid)) || !strings.Contains(err.Error(), "xdpfw capture --stop") {
		t.Errorf("status with a capture left on: %v", err)
	}
	// A text capture takes it over: one passed frame, by its rule.
	var stdout, stderr bytes.Buffer
	text := startCLIOut(t, pin, &stdout, &stderr, "capture", "--verdict", "pass", "--rule", "3", "-c", "1")
	waitCapturing(t, pin, text.Process.Pid)
	runPinned(t, pin, [][]byte{
		fixtures.TCPSyn("198.51.100.7", "192.0.2.10", 40000, 23), // dropped by the policy
		fixtures.UDP("198.51.100.7", "192.0.2.10", 40000, 53),    // passed by rule 3
	})
	if err := waitExit(t, text, func() { text.Process.Kill() }); err != nil {
		t.Fatalf("text capture: %v; %s", err, stderr.String())
	}
	if line := stdout.String(); !strings.HasSuffix(line, " lo pass rule 3 udp 198.51.100.7:40000 > 192.0.2.10:53, length "+strconv.Itoa(len(fixtures.UDP("198.51.100.7", "192.0.2.10", 40000, 53)))+"\n") || strings.Count(line, "\n") != 1 {
		t.Errorf("text capture printed %q", line)
	}
	if out := mustRunCLI(t, pin, "", "capture", "--stop"); out != "no capture running\n" {
		t.Errorf("capture --stop after a capture ended: %q", out)
	}
	// Left on again, then stopped.
	cmd = startCLI(t, pin, nil, "capture")
	waitCapturing(t, pin, cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	checkCaptureRing(t, pin, true)
	if out := mustRunCLI(t, pin, "", "capture", "--stop"); out != "capture stopped\n" {
		t.Errorf("capture --stop: %q", out)
	}
	checkCaptureRing(t, pin, false)
	if _, err := runCLI(t, pin, "", "status"); err != nil {
		t.Errorf("status after --stop: %v", err)
	}
}

// readCapture reads a pcapng file with gopacket, and its packets'
// comments on its own (gopacket does not read packet options).
func readCapture(t *testing.T, path string) (frames [][]byte, comments []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, data)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off+12 <= len(raw); {
		typ, total := binary.NativeEndian.Uint32(raw[off:]), int(binary.NativeEndian.Uint32(raw[off+4:]))
		if total < 12 || off+total > len(raw) {
			t.Fatalf("bad block at %d", off)
		}
		if typ == 6 { // enhanced packet block: options after the padded data
			caplen := int(binary.NativeEndian.Uint32(raw[off+20:]))
			o := off + 28 + caplen + (4-caplen%4)%4
			comment := ""
			for o+4 <= off+total-4 {
				code, n := binary.NativeEndian.Uint16(raw[o:]), int(binary.NativeEndian.Uint16(raw[o+2:]))
				if code == 0 {
					break
				}
				if code == 1 {
					comment = string(raw[o+4 : o+4+n])
				}
				o += 4 + n + (4-n%4)%4
			}
			comments = append(comments, comment)
		}
		off += total
	}
	return frames, comments
}

// TestCaptureRefusals: bad capture flags are one line, change nothing and
// start no capture.
func TestCaptureRefusals(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	many := []string{"capture"}
	for i := 1; i <= 17; i++ {
		many = append(many, "--rule", strconv.Itoa(i))
	}
	for _, tc := range []struct {
		want string
		args []string
	}{
		{`capture: --verdict "dropped": want drop, pass or all`, []string{"capture", "--verdict", "dropped"}},
		{`capture: invalid value "0" for flag --snaplen: out of range (1-2048)`, []string{"capture", "--snaplen", "0"}},
		{`capture: invalid value "4096" for flag --snaplen: out of range (1-2048)`, []string{"capture", "--snaplen", "4096"}},
		{`capture: invalid value "4294967360" for flag --snaplen: out of range (1-2048)`, []string{"capture", "--snaplen", "4294967360", "--iface", "nosuch0"}},
		{`capture: invalid value "4294967296" for flag --max-rate: out of range (0-4294967295)`, []string{"capture", "--max-rate", "4294967296", "--iface", "nosuch0"}}, // refused first
		{`capture: unknown interface "nosuch0"`, []string{"capture", "--iface", "nosuch0"}},
		{`capture: invalid value "-1" for flag -c: want a number in decimal digits`, []string{"capture", "-c", "-1"}},
		{"capture: 17 rules named, at most 16", many},
		{"capture: no rule 99 in the live ruleset (see xdpfw rule list)", []string{"capture", "--rule", "1", "--rule", "99"}},
		{"capture: no rule 0 in the live ruleset (see xdpfw rule list)", []string{"capture", "--rule", "0"}},
		{"capture: --stop ends the capture left running and takes no --count", []string{"capture", "--stop", "-c", "5"}},
		{"capture: --stop ends the capture left running and takes no --write", []string{"capture", "--stop", "-w", "-"}},
	} {
		refused(t, pin, "", tc.want, tc.args...)
	}
	if out := mustRunCLI(t, pin, "", "capture", "--stop"); out != "no capture running\n" {
		t.Errorf("after the refusals: %q", out)
	}
}
