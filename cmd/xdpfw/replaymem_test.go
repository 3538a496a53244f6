package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/replay"
)

// A large capture and a small one: replaying the large one may take no
// more than memGrowthMiB above what the small one takes (the xdpfw
// process's peak resident set, with GOGC=100: at xdpfw's own GOGC=400 the
// garbage awaiting a collection varies by 10 MiB and more between runs,
// which is not what is held). A result held per frame took about 850
// bytes, and each frame held for --bench its own size: 75 MiB or more
// above the small one; what a block of the table holds takes about 10.
const (
	memFrames    = 100000
	memSmall     = 1000
	memFrameLen  = 1000
	memGrowthMiB = 24
)

// TestReplayBoundedMemory: replaying a large capture prints every frame's
// result (the table, --json) and measures it (--bench) in memory that does
// not grow with the capture. It runs xdpfw as a child process and reads
// its peak resident set from the kernel.
func TestReplayBoundedMemory(t *testing.T) {
	replayPeaks(t, "/sys/fs/bpf/xdpfw-test-replaymem", 65535, []memCase{
		{"table", nil, func(out []byte) bool {
			return bytes.HasSuffix(out, []byte("\nframes: 100000  pass: 100000  drop: 0  default: 100000  malformed: 0  neighbor: 0  skipped: 0  truncated: 0\n"))
		}},
		{"json", []string{"--json"}, func(out []byte) bool {
			var rep replay.Report
			return json.Unmarshal(out, &rep) == nil && rep.Total == memFrames && len(rep.Frames) == memFrames && rep.Frames[memFrames-1].Index == memFrames
		}},
		{"bench", []string{"--bench", "--repeat", "1", "--rounds", "1"}, func(out []byte) bool {
			return bytes.Contains(out, []byte("\nframes: 100000 (skipped: 0, truncated: 0)  repeat: 1  rounds: 1 "))
		}},
	})
}

// memCase is a replay replayPeaks measures: its flags, and what the
// large capture's output must show.
type memCase struct {
	name  string
	args  []string
	check func(out []byte) bool
}

// replayPeaks replays a capture of memSmall frames and one of memFrames
// (written by writeUDPCapture with snap) under each case, and fails
// where the large one's peak resident set passes the small one's by
// more than memGrowthMiB. pin is the pin directory named (--rules needs
// none made).
func replayPeaks(t *testing.T, pin string, snap int, cases []memCase) {
	t.Helper()
	privtest.Require(t)
	dir := t.TempDir()
	small, large := filepath.Join(dir, "small.pcap"), filepath.Join(dir, "large.pcap")
	writeUDPCapture(t, small, memSmall, snap)
	writeUDPCapture(t, large, memFrames, snap)
	ruleset := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(ruleset, []byte("policy: pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		args := append([]string{"--pin-dir", pin, "replay", "--rules", ruleset}, tc.args...)
		base := runPeak(t, exe, filepath.Join(dir, tc.name+".small"), append(args, small)...)
		out := filepath.Join(dir, tc.name+".large")
		peak := runPeak(t, exe, out, append(args, large)...)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !tc.check(data) {
			t.Errorf("%s: output ends %q", tc.name, data[max(0, len(data)-300):])
		}
		t.Logf("%s: peak resident set %d MiB for %d frames, %d MiB for %d", tc.name, base>>20, memSmall, peak>>20, memFrames)
		if peak-base > memGrowthMiB<<20 {
			t.Errorf("%s: xdpfw took %d MiB more at its peak replaying %d frames than %d, want at most %d more",
				tc.name, (peak-base)>>20, memFrames, memSmall, memGrowthMiB)
		}
	}
}

// writeUDPCapture writes n UDP frames of memFrameLen bytes on the wire,
// each from the next source port, each cut to its first snap bytes by the
// snap length when that is less.
func writeUDPCapture(t *testing.T, path string, n, snap int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(uint32(snap), layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, memFrameLen)
	copy(frame, fixtures.UDP("192.0.2.1", "192.0.2.2", 1024, 53))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		binary.BigEndian.PutUint16(frame[34:], uint16(1024+i%60000)) // the UDP source port
		kept := frame[:min(snap, len(frame))]
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(kept), Length: len(frame)}
		if err := w.WritePacket(ci, kept); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}

// runPeak runs xdpfw (the test binary standing for it) with args, its
// standard output going to the file out, and returns the process's peak
// resident set in bytes: its VmHWM, read every few milliseconds while it
// runs. Not the rusage of its end: a child started by vfork, as Go starts
// one, counts there the parent's peak at its exec, this test's own.
func runPeak(t *testing.T, exe, out string, args ...string) int64 {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var errOut bytes.Buffer
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1", "GOGC=100")
	cmd.Stdout, cmd.Stderr = f, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var peak int64
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("xdpfw %v: %v\n%s", args, err, errOut.String())
			}
			return peak
		case <-time.After(5 * time.Millisecond):
			peak = max(peak, vmHWM(status))
		}
	}
}

// vmHWM is the peak resident set status (a /proc/PID/status) gives, in
// bytes; 0 once the process has let its memory go.
func vmHWM(status string) int64 {
	data, _ := os.ReadFile(status)
	for line := range strings.Lines(string(data)) {
		if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}
