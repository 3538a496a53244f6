package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/replay"
)

const linkTypePcaps = "../../testdata/pcaps/linktypes"

// runAppStderr runs the CLI in-process and returns stdout, stderr and the
// error.
func runAppStderr(args ...string) (string, string, error) {
	cliMu.Lock()
	defer cliMu.Unlock()
	var out, errOut bytes.Buffer
	app := newApp(&out, &errOut)
	err := app.Run(interspersed(app, append([]string{"xdpfw"}, args...)))
	return out.String(), errOut.String(), err
}

func passRuleset(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(path, []byte("policy: pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReplayBadCaptureOthersRun: a missing capture and one cut inside a
// record are one stderr line each, the other captures replay, and the
// exit status is non-zero.
func TestReplayBadCaptureOthersRun(t *testing.T) {
	privtest.Require(t)
	good := filepath.Join(linkTypePcaps, "ipv4.pcap")
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cut, missing := filepath.Join(dir, "cut.pcap"), filepath.Join(dir, "missing.pcap")
	if err := os.WriteFile(cut, raw[:len(raw)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"", "--summary", "--json"} {
		args := []string{"replay", "--verify", "--rules", passRuleset(t), cut, missing, good}
		if mode != "" {
			args = append(args, mode)
		}
		out, stderr, err := runAppStderr(args...)
		if err == nil || !strings.Contains(err.Error(), "2 of 3 captures could not be read") {
			t.Errorf("%s: error %v, want one saying 2 of 3 captures could not be read", mode, err)
		}
		for _, want := range []string{cut + ": frame 2 at byte 86: file ends inside the frame", missing + ": no such file or directory"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr %q lacks %q", mode, stderr, want)
			}
		}
		if strings.Count(stderr, "\n") != 2 {
			t.Errorf("%s: stderr is not two lines: %q", mode, stderr)
		}
		switch mode {
		case "":
			for _, want := range [][2]string{{cut, "1"}, {good, "1"}, {good, "2"}} {
				if !hasRow(out, want[0], want[1], "60", "pass") {
					t.Errorf("stdout lacks %s frame %s:\n%s", want[0], want[1], out)
				}
			}
			if !strings.Contains(out, "pass: 3 ") {
				t.Errorf("stdout:\n%s", out)
			}
		case "--json":
			var rep replay.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Frames) != 3 || len(rep.Errors) != 2 || rep.Frames[0].File != cut || rep.Frames[0].Index != 1 {
				t.Errorf("--json: %+v", rep)
			}
		}
	}
	// Nothing readable at all: just the error, no report.
	out, _, err := runAppStderr("replay", "--rules", passRuleset(t), missing)
	if err == nil || err.Error() != missing+": no such file or directory" || out != "" {
		t.Errorf("only a missing capture: error %v, stdout %q", err, out)
	}
}

// hasRow reports whether a table in out has a row starting with cells.
func hasRow(out string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(cells) && slices.Equal(f[:len(cells)], cells) {
			return true
		}
	}
	return false
}

// TestReplayNotRunListed: skipped and truncated frames are numbered from 1
// with their file in the verdict table and under --summary.
func TestReplayNotRunListed(t *testing.T) {
	privtest.Require(t)
	sll2 := filepath.Join(linkTypePcaps, "sll2.pcap")
	trunc := filepath.Join(linkTypePcaps, "truncated.pcap")
	for _, mode := range []string{"--verify", "--summary"} {
		out, err := runApp("replay", mode, "--rules", passRuleset(t), sll2, trunc)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"shorter than its Linux cooked (v2) header",
			"captured 34 of 60 bytes (snap length)",
			"skipped: 2  truncated: 2",
			"out (learned by the egress program, no verdict): 1",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: output lacks %q:\n%s", mode, want, out)
			}
		}
		for _, row := range [][]string{{sll2, "5", "0"}, {sll2, "6", "0"}, {trunc, "2", "34"}} {
			if !hasRow(out, row...) {
				t.Errorf("%s: no row %q:\n%s", mode, row, out)
			}
		}
	}
}

// TestReplayCTColumnAligned: with the CT column shown, frames not run
// (skipped, truncated) have a CT cell too, so every row's CT cell starts
// under the header's: a row one cell short ended the tabwriter's column
// blocks, and the rows after it were aligned on their own.
func TestReplayCTColumnAligned(t *testing.T) {
	privtest.Require(t)
	sll2 := filepath.Join(linkTypePcaps, "sll2.pcap")
	trunc := filepath.Join(linkTypePcaps, "truncated.pcap")
	rs := writeFile(t, t.TempDir(), "ct.yaml", "policy: drop\nrules:\n  - {ct-state: established, action: pass}\n  - {proto: udp, action: pass}\n")
	out, err := runApp("replay", "--rules", rs, sll2, trunc, sll2)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	col := strings.Index(lines[0], " CT")
	if !strings.HasPrefix(lines[0], "FILE") || col < 0 || !strings.HasSuffix(lines[0], " CT") {
		t.Fatalf("no CT column:\n%s", out)
	}
	rows := 0
	for _, line := range lines[1:] {
		if line == "" {
			break
		}
		rows++
		last := strings.LastIndex(strings.TrimRight(line, " "), " ")
		if last != col {
			t.Errorf("row %q: its last cell starts at %d, the CT column at %d:\n%s", line, last+1, col+1, out)
		}
	}
	if rows < 10 {
		t.Errorf("%d rows:\n%s", rows, out)
	}
}

// TestReplayJSONEmptyLists: an empty capture and an empty ruleset give
// empty lists in JSON, not null.
func TestReplayJSONEmptyLists(t *testing.T) {
	privtest.Require(t)
	empty := filepath.Join(t.TempDir(), "empty.pcap")
	if err := replay.WriteFrames(empty, nil); err != nil {
		t.Fatal(err)
	}
	out, err := runApp("replay", "--json", "--rules", passRuleset(t), empty)
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"frames", "rules", "errors"} {
		if l, ok := rep[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s is %#v, want []", k, rep[k])
		}
	}
}

// TestReplayBenchSkipsUnrunnable: --bench leaves out the frames the test
// run cannot take (an 80 KB BIG TCP super-frame) and truncated ones,
// naming each by file and frame number from 1, and measures the rest.
func TestReplayBenchSkipsUnrunnable(t *testing.T) {
	privtest.Require(t)
	frames, err := replay.ReadFrames(filepath.Join(linkTypePcaps, "truncated.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	big := append(append([]byte(nil), frames[0].Data...), make([]byte, 80000)...)
	binary.BigEndian.PutUint16(big[16:], 0) // IPv4 total length 0
	huge := filepath.Join(t.TempDir(), "huge.pcap")
	if err := replay.WriteFrames(huge, [][]byte{frames[0].Data, big, frames[0].Data}); err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(linkTypePcaps, "truncated.pcap")
	out, err := runApp("replay", "--bench", "--json", "--repeat", "2", "--rounds", "1", "--rules", passRuleset(t), huge, trunc)
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := []benchSkipped{
		{huge, 2, "offload super-frame (TSO/GSO/GRO, BIG TCP): XDP never receives it"},
		{trunc, 2, "truncated: captured 34 of 60 bytes"},
		{trunc, 3, "truncated: captured 54 of 1514 bytes"},
	}
	if rep.Frames != 3 || rep.Skipped != 1 || rep.Truncated != 2 || len(rep.Left) != len(want) {
		t.Fatalf("report %+v", rep)
	}
	for i, w := range want {
		if rep.Left[i] != w {
			t.Errorf("not measured %d: %+v, want %+v", i, rep.Left[i], w)
		}
	}
	out, err = runApp("replay", "--bench", "--repeat", "2", "--rounds", "1", "--rules", passRuleset(t), huge, trunc)
	if err != nil || !strings.Contains(out, "frames: 3 (skipped: 1, truncated: 2)") || !hasRow(out, huge, "2", "offload") {
		t.Errorf("table: %v\n%s", err, out)
	}
}

// TestReplayNoCaptureFile: directories holding no capture file (empty, or
// other files only) fail every replay mode with one line naming them and
// what a directory gives, and print no report: a gate must not pass on
// nothing. A capture file of no frames still replays, as a report of no
// frame.
func TestReplayNoCaptureFile(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t) // never made: nothing live
	empty, others := t.TempDir(), t.TempDir()
	writeFile(t, others, "notes.txt", "not a capture\n")
	rs := passRuleset(t)
	for _, args := range [][]string{
		{"replay", "--rules", rs},
		{"replay", "--summary", "--json", "--rules", rs},
		{"replay", "--diff", "--fail-on-change", "--rules", rs},
		{"replay", "--diff", "--json", "--rules", rs, "--against", rs},
		{"replay", "--bench", "--repeat", "1", "--rounds", "1", "--rules", rs},
		{"apply", "--check", "--fail-on-change", "-f", rs, "--against-capture"},
	} {
		name := strings.Join(args[:2], " ")
		out, stderr, err := runCLIBoth(pin, "", append(args, empty, others)...)
		want := "no capture file in " + empty + ", " + others + ": a directory gives the .pcap, .pcapng and .cap files under it"
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") || out != "" || stderr != "" {
			t.Errorf("%s: error %v, stdout %q, stderr %q; want only the error %q...", name, err, out, stderr, want)
		}
	}
	noFrames := filepath.Join(others, "none.pcap")
	if err := replay.WriteFrames(noFrames, nil); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, pin, "", "replay", "--diff", "--fail-on-change", "--rules", rs, others)
	if err != nil || !strings.Contains(out, "frames: 0,") {
		t.Errorf("a capture of no frames: %v\n%s", err, out)
	}
	// Beside a capture, the empty directory is named and fails the replay.
	real := filepath.Join(others, "real.pcap")
	if err := replay.WriteFrames(real, [][]byte{fixtures.UDP("192.0.2.1", "192.0.2.2", 1, 2)}); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCLIBoth(pin, "", "replay", "--rules", rs, empty, others)
	if err == nil || !strings.Contains(stderr, "no capture file in "+empty+":") || !strings.Contains(out, "frames: 1 ") {
		t.Errorf("an empty directory beside captures: error %v, stderr %q\n%s", err, stderr, out)
	}
}
