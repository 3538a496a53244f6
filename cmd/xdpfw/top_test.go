package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/loader"
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

// topInserted is serveConfig with a rule inserted above its two: the
// apply keeps their counts but gives them new ids (equal priorities run
// in id order, so they must come after the new rule's).
const topInserted = `policy: pass
rules:
  - {proto: tcp, dport: 23, action: drop}
  - {proto: udp, dport: 53, action: pass, comment: dns}
  - {proto: udp, dport: 54, action: drop}
`

// TestTopAcrossRenumbering: an apply during top's interval that inserts a
// rule above the others renumbers them with their counts; top follows
// each rule to its new id and reports what it counted in the interval,
// not all it counted since it was made (by id, that was one interval's
// spike of every frame before).
func TestTopAcrossRenumbering(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	exe := buildXdpfw(t)
	pin := privtest.PinDir(t)
	dns, other := fixtures.UDP("192.0.2.1", "198.51.100.1", 4000, 53), fixtures.UDP("192.0.2.1", "198.51.100.1", 4000, 54)
	ids := func() []uint32 {
		rl := decodeJSON[ruleListJSON](t, "rule list --json", mustRunCLI(t, pin, "", "rule", "list", "--json"))
		var out []uint32
		for _, r := range rl.Rules {
			out = append(out, r.ID)
		}
		return out
	}
	var (
		s            topSample
		was, renamed []uint32
	)
	for interval, ok := time.Second, false; !ok; interval *= 2 {
		if interval > 32*time.Second {
			t.Fatal("top --once kept finishing before the apply and the frames")
		}
		// The two rules alone (again, after a try that inserted the
		// third), with counts from before the interval.
		mustRunCLI(t, pin, serveConfig, "apply", "-f", "-")
		sendFrames(t, pin, dns, 40)
		sendFrames(t, pin, other, 30)
		was = ids()
		s, ok = topOnce(t, exe, pin, interval, func() {
			mustRunCLI(t, pin, topInserted, "apply", "-f", "-")
			sendFrames(t, pin, dns, 3)
			sendFrames(t, pin, other, 2)
		})
		renamed = ids()
		if !ok {
			t.Logf("top --once --interval %s finished before the apply and the frames; again, longer", interval)
		}
	}
	if len(was) != 2 || len(renamed) != 3 || renamed[1] == was[0] || renamed[2] == was[1] {
		t.Fatalf("rule ids %v, then %v after inserting a rule above: the test needs them renumbered", was, renamed)
	}
	if len(s.Rules) != 3 || s.Interval <= 0 {
		t.Fatalf("top --once --json: %+v", s)
	}
	for i, want := range []struct {
		delta uint64
		frame []byte
	}{{0, nil}, {3, dns}, {2, other}} {
		r := s.Rules[i]
		if r.ID != renamed[i] {
			t.Errorf("top's row %d is rule %d, rule list's %d", i, r.ID, renamed[i])
		}
		if r.PacketsDelta != want.delta || r.BytesDelta != want.delta*uint64(len(want.frame)) {
			t.Errorf("rule %d (was %v): top counted %d packets, %d bytes in its interval (%d in all); %d frames of %d bytes were sent in it",
				r.ID, was, r.PacketsDelta, r.BytesDelta, r.Packets, want.delta, len(want.frame))
		}
		checkRate(t, "rule packets/s", r.PacketsPerSecond, r.PacketsDelta, s.Interval)
	}
}

// TestTopRatesFollowSlots: rates matches a rule of the first read to the
// second's by counter slot and what the rule does: a rule renumbered
// keeps its count, a new rule in a deleted rule's slot (zeroed for it)
// counts from zero.
func TestTopRatesFollowSlots(t *testing.T) {
	row := func(id, slot uint32, match string, packets uint64) loader.RuleRow {
		return loader.RuleRow{ID: id, Priority: 100, Match: match, Action: "drop", Slot: slot, Counter: loader.Counter{Packets: packets, Bytes: 60 * packets}}
	}
	before := loader.Snapshot{Rules: []loader.RuleRow{
		row(1, 0, "proto udp dport 53", 500),
		row(2, 1, "proto udp dport 54", 400),
	}}
	after := loader.Snapshot{Rules: []loader.RuleRow{
		row(3, 2, "proto tcp dport 23", 1),   // new
		row(4, 0, "proto udp dport 53", 510), // rule 1 renumbered
		row(5, 1, "proto tcp dport 80", 450), // new, in rule 2's slot
	}}
	s := rates(before, after, 2*time.Second)
	for i, want := range []uint64{1, 10, 450} {
		if r := s.Rules[i]; r.PacketsDelta != want || r.BytesDelta != 60*want || r.PacketsPerSecond != float64(want)/2 {
			t.Errorf("rule %d: %d packets, %d bytes, %v a second in the interval; want %d, %d, %v", r.ID, r.PacketsDelta, r.BytesDelta, r.PacketsPerSecond, want, 60*want, float64(want)/2)
		}
	}
}

// TestTopShortInterval: the table's first line gives an interval of 10
// to 49 ms as it is (20.3ms), not as 0.0s, one decimal of a second.
func TestTopShortInterval(t *testing.T) {
	privtest.Require(t)
	t.Parallel()
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, serveConfig, "apply", "-f", "-")
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	out := mustRunCLI(t, pin, "", "top", "--once", "--interval", "20ms")
	first, _, _ := strings.Cut(out, "\n")
	if !regexp.MustCompile(`^xdpfw top: every [0-9.]+ms, policy pass$`).MatchString(first) {
		t.Errorf("top --once --interval 20ms: first line %q, want the interval in ms", first)
	}
}

// TestTopJSONRuleFields: a rule's entry in top --json has rule list
// --json's fields, named and ordered as there, with the same values
// (conditions and log were left out), its counts then the interval's.
func TestTopJSONRuleFields(t *testing.T) {
	row := loader.RuleRow{ID: 7, Priority: 10, Conditions: map[string]string{"proto": "tcp", "dport": "22"}, Action: "pass",
		Match: "proto tcp dport 22", Comment: "ssh", Log: true, Slot: 3, Counter: loader.Counter{Packets: 5, Bytes: 300}}
	listed, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	s := rates(loader.Snapshot{}, loader.Snapshot{Rules: []loader.RuleRow{row}}, time.Second)
	top, err := json.Marshal(s.Rules[0])
	if err != nil {
		t.Fatal(err)
	}
	listKeys, listVals := jsonFields(t, listed)
	topKeys, topVals := jsonFields(t, top)
	if len(topKeys) < len(listKeys) || !slices.Equal(topKeys[:len(listKeys)], listKeys) {
		t.Fatalf("top --json's rule fields %v do not begin with rule list --json's %v", topKeys, listKeys)
	}
	for _, k := range listKeys {
		if string(topVals[k]) != string(listVals[k]) {
			t.Errorf("%s: top --json %s, rule list --json %s", k, topVals[k], listVals[k])
		}
	}
}

// jsonFields is a JSON object's keys in order, and their values.
func jsonFields(t *testing.T, obj []byte) ([]string, map[string]json.RawMessage) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	var keys []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		vals[k.(string)] = v
	}
	return keys, vals
}
