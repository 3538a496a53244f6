package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/replay"
)

// TestReplaySummaryBoundedMemory: --summary lists every frame not run,
// and a capture tcpdump -s cut has nothing else: listed from results
// held until the end, its summary took about 1 KiB a frame (2 GiB for
// 2 million). Printed as they come, it takes what the table does.
func TestReplaySummaryBoundedMemory(t *testing.T) {
	privtest.Require(t)
	dir := t.TempDir()
	small, large := filepath.Join(dir, "small.pcap"), filepath.Join(dir, "large.pcap")
	writeCutCapture(t, small, memSmall)
	writeCutCapture(t, large, memFrames)
	ruleset := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(ruleset, []byte("policy: pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		check func(out []byte) bool // of the large replay's output
	}{
		{"summary", []string{"--summary"}, func(out []byte) bool {
			return bytes.Contains(out, []byte("large.pcap  100000  64   truncated: captured 64 of 1000 bytes (snap length)\n")) &&
				bytes.HasSuffix(out, []byte("\nframes: 100000  pass: 0  drop: 0  default: 0  malformed: 0  neighbor: 0  skipped: 0  truncated: 100000\n"))
		}},
		{"summary-json", []string{"--summary", "--json"}, func(out []byte) bool {
			var rep replay.Report
			return json.Unmarshal(out, &rep) == nil && rep.Truncated == memFrames && len(rep.Frames) == memFrames && rep.Frames[memFrames-1].Index == memFrames
		}},
	} {
		args := append([]string{"--pin-dir", "/sys/fs/bpf/xdpfw-test-replaysummem", "replay", "--rules", ruleset}, tc.args...)
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

// writeCutCapture writes n UDP frames of memFrameLen bytes on the wire,
// each cut to its first 64 by the snap length.
func writeCutCapture(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(64, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 64)
	copy(frame, fixtures.UDP("192.0.2.1", "192.0.2.2", 1024, 53))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(frame), Length: memFrameLen}
		if err := w.WritePacket(ci, frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
}
