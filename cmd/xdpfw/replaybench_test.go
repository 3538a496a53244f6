package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// runApp runs the CLI in-process and returns stdout and the error.
func runApp(args ...string) (string, error) {
	cliMu.Lock()
	defer cliMu.Unlock()
	var out, errOut bytes.Buffer
	app := newApp(&out, &errOut)
	err := app.Run(interspersed(app, append([]string{"xdpfw"}, args...)))
	return out.String(), err
}

// TestReplayBench checks the shape of `replay --bench` with a ruleset
// file; the figures themselves are timings and are not judged.
func TestReplayBench(t *testing.T) {
	privtest.Require(t)
	ruleset := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(ruleset, []byte("policy: drop\nrules:\n  - {proto: tcp, dport: 22, action: pass}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pcap := "../../testdata/pcaps/multiflow.pcap"
	out, err := runApp("replay", "--bench", "--json", "--repeat", "4", "--rounds", "2", "--rules", ruleset, pcap)
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Frames != 4096 || rep.Rules != 1 || len(rep.Results) != 2 || len(rep.Results[1].Rounds) != 2 ||
		rep.Results[0].Name != "empty XDP program" || rep.Results[0].Ratio != 1 || rep.Results[1].Median <= 0 {
		t.Fatalf("unexpected report: %+v", rep)
	}
	out, err = runApp("replay", "--bench", "--repeat", "2", "--rounds", "1", "--rules", ruleset, pcap)
	if err != nil || !strings.Contains(out, "xdpfw (1 rule)") || !strings.Contains(out, "frames: 4096") {
		t.Fatalf("table output: %v\n%s", err, out)
	}
	if _, err := runApp("replay", "--bench", "--verify", "--rules", ruleset, pcap); err == nil || !strings.Contains(err.Error(), "--verify") {
		t.Fatalf("--bench --verify: got %v, want a refusal naming --verify", err)
	}
}

// TestReplayBenchPipe: a capture read from a pipe (/dev/stdin, a shell's
// <(zcat x.pcap.gz)) is measured, beside a file read again at each pass:
// a second reading of the pipe found nothing, and the measurement failed
// saying the captures changed while measured.
func TestReplayBenchPipe(t *testing.T) {
	privtest.Require(t)
	ruleset := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(ruleset, []byte("policy: drop\nrules:\n  - {proto: tcp, dport: 22, action: pass}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pcap := "../../testdata/pcaps/multiflow.pcap"
	data, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.Write(data)
		w.Close()
	}()
	pipe := fmt.Sprintf("/proc/self/fd/%d", r.Fd())
	out, err := runApp("replay", "--bench", "--json", "--repeat", "1", "--rounds", "1", "--rules", ruleset, pipe, pcap)
	if err != nil {
		t.Fatalf("a capture from a pipe: %v\n%s", err, out)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Frames != 2*4096 || len(rep.Errors) != 0 {
		t.Fatalf("measured %d frames (errors %v), want the pipe's and the file's 8192", rep.Frames, rep.Errors)
	}
}

// TestReplayBenchFlagsAlone: --repeat and --rounds mean something only
// with --bench, and are refused without it, printing nothing, as --against
// is without --diff: a replay or a diff ran as if they were not given.
func TestReplayBenchFlagsAlone(t *testing.T) {
	ruleset := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(ruleset, []byte("policy: pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pcap := "../../testdata/pcaps/basic.pcap"
	for _, tc := range []struct {
		flag string
		args []string
	}{
		{"--repeat", []string{"replay", "--repeat", "2", "--rules", ruleset, pcap}},
		{"--rounds", []string{"replay", "--diff", "--rounds", "2", "--rules", ruleset, pcap}},
	} {
		out, err := runApp(tc.args...)
		if err == nil || out != "" || !strings.Contains(err.Error(), "replay: "+tc.flag+" goes with --bench") {
			t.Errorf("%v: error %v, output %.100q; want a refusal naming %s", tc.args, err, out, tc.flag)
		}
	}
}

// TestReplayBenchIfaceLocal: --iface and --local are refused with
// --bench, printing nothing: it measured every frame as arriving on
// loopback whatever they said, even a --iface naming no interface.
func TestReplayBenchIfaceLocal(t *testing.T) {
	ruleset := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(ruleset, []byte("policy: pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pcap := "../../testdata/pcaps/basic.pcap"
	for _, flag := range [][]string{{"--iface", "nosuch0"}, {"--local", "10.1.2.3/32"}} {
		args := append([]string{"replay", "--bench", "--repeat", "1", "--rounds", "1", "--rules", ruleset}, append(flag, pcap)...)
		out, err := runApp(args...)
		if err == nil || out != "" || !strings.Contains(err.Error(), "drop "+flag[0]) {
			t.Errorf("%v: error %v, output %.100q; want a refusal naming %s", args, err, out, flag[0])
		}
	}
}
