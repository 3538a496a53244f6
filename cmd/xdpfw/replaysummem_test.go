package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/xdpfw/xdpfw/pkg/replay"
)

// TestReplaySummaryBoundedMemory: --summary lists every frame not run,
// and a capture tcpdump -s cut has nothing else: listed from results
// held until the end, its summary took about 1 KiB a frame (2 GiB for
// 2 million). Printed as they come, it takes what the table does.
func TestReplaySummaryBoundedMemory(t *testing.T) {
	replayPeaks(t, "/sys/fs/bpf/xdpfw-test-replaysummem", 64, []memCase{
		{"summary", []string{"--summary"}, func(out []byte) bool {
			return bytes.Contains(out, []byte("large.pcap  100000  64   truncated: captured 64 of 1000 bytes (snap length)\n")) &&
				bytes.HasSuffix(out, []byte("\nframes: 100000  pass: 0  drop: 0  default: 0  malformed: 0  neighbor: 0  skipped: 0  truncated: 100000\n"))
		}},
		{"summary-json", []string{"--summary", "--json"}, func(out []byte) bool {
			var rep replay.Report
			return json.Unmarshal(out, &rep) == nil && rep.Truncated == memFrames && len(rep.Frames) == memFrames && rep.Frames[memFrames-1].Index == memFrames
		}},
	})
}
