package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayOneCutCapture: one capture cut inside a frame replays the
// frames before the cut, names the cut on stderr and fails saying its
// first frames replayed; it said "1 of 1 captures could not be read to
// their end (above); the rest replayed", of a rest there was not.
func TestReplayOneCutCapture(t *testing.T) {
	whole, err := os.ReadFile("../../testdata/pcaps/basic.pcap")
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, whole[:300], 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runAppStderr("replay", "--summary", "--rules", "../../testdata/rulesets/mixed.yaml", cut)
	if err == nil || err.Error() != "replay: the capture could not be read to its end (above); its frames before that replayed" {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(stderr, cut+": frame 4 at byte 258: file ends inside the frame") {
		t.Errorf("stderr does not name the cut:\n%s", stderr)
	}
	if !strings.Contains(out, "frames: 3 ") {
		t.Errorf("the frames before the cut did not replay:\n%s", out)
	}
}
