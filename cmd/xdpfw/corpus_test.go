package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/replay"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The corpus is real captures published by other projects
// (testdata/pcaps/corpus/README.md says which and why each).
const (
	corpusDir   = "../../testdata/pcaps/corpus"
	rulesetsDir = "../../testdata/rulesets"
)

// TestCorpusReplay replays every capture of the corpus under every
// committed ruleset through the CLI with --verify. Every record of every
// file must come out replayed with a verdict, skipped with a reason, or
// truncated, counted against a walk of the file that does not use the
// replay reader; the program and the reference model must agree on every
// frame. A file the walk finds cut or corrupt must be one error line
// naming it, its records before the bad one replayed, and the other files
// replayed in full; no other file may fail. Then each kind of capture the
// corpus is there for must still occur in it, so it cannot lose its
// coverage unnoticed.
func TestCorpusReplay(t *testing.T) {
	privtest.Require(t)
	files := corpusFiles(t)
	walks := map[string]captureWalk{}
	var bad []string // files the walk finds cut or corrupt
	for _, f := range files {
		walks[f] = walkCapture(t, f)
		if walks[f].bad {
			bad = append(bad, f)
		}
	}
	rulesets, err := filepath.Glob(filepath.Join(rulesetsDir, "*.yaml"))
	if err != nil || len(rulesets) < 4 {
		t.Fatalf("rulesets: %v %v", rulesets, err)
	}
	var first *replay.Report
	for _, rs := range rulesets {
		out, stderr, err := runAppStderr(append([]string{"replay", "--verify", "--json", "--rules", rs}, files...)...)
		wantErr := ""
		if len(bad) > 0 {
			wantErr = fmt.Sprintf("replay: %d of %d captures could not be read to their end (above); the rest replayed", len(bad), len(files))
		}
		if (err == nil && wantErr != "") || (err != nil && err.Error() != wantErr) {
			// Disagreements make the exit status non-zero too: the
			// report below says which frames.
			t.Errorf("%s: error %v, want %q", filepath.Base(rs), err, wantErr)
		}
		var rep replay.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%s: %v", filepath.Base(rs), err)
		}
		if !rep.Verified || rep.Mismatches != 0 {
			t.Errorf("%s: verified %v, %d mismatches", filepath.Base(rs), rep.Verified, rep.Mismatches)
		}
		if len(rep.Errors) != len(bad) {
			t.Errorf("%s: errors %q, want one line for each of %q", filepath.Base(rs), rep.Errors, bad)
		}
		wantStderr := ""
		for i, e := range rep.Errors {
			if i < len(bad) && !strings.HasPrefix(e, bad[i]+": ") {
				t.Errorf("%s: error %q does not name %s", filepath.Base(rs), e, bad[i])
			}
			wantStderr += "xdpfw: " + e + "\n"
		}
		if stderr != wantStderr {
			t.Errorf("%s: stderr %q, want %q", filepath.Base(rs), stderr, wantStderr)
		}
		for _, f := range rep.Frames {
			if f.Mismatch != "" {
				t.Errorf("%s: %s frame %d: %s", filepath.Base(rs), f.File, f.Index, f.Mismatch)
			}
		}
		checkAccounted(t, filepath.Base(rs), &rep, files, walks)
		if first == nil {
			first = &rep
		}
	}
	checkCoverage(t, first, walks)
}

func corpusFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext == ".pcap" || ext == ".pcapng" {
			files = append(files, filepath.Join(corpusDir, e.Name()))
		} else if e.Name() != "README.md" {
			t.Errorf("%s: neither a capture nor the README", e.Name())
		}
	}
	if len(files) < 10 {
		t.Fatalf("only %d captures in %s", len(files), corpusDir)
	}
	return files
}

// checkAccounted: each file's frames are its records, numbered 1 to n in
// order, and each is in exactly one state.
func checkAccounted(t *testing.T, rs string, rep *replay.Report, files []string, walks map[string]captureWalk) {
	t.Helper()
	byFile := map[string][]replay.FrameResult{}
	for _, f := range rep.Frames {
		byFile[f.File] = append(byFile[f.File], f)
	}
	for _, file := range files {
		got, want := byFile[file], len(walks[file].linkTypes)
		if len(got) == 0 && want == 0 && walks[file].bad {
			continue // cut before its first record: only the error line
		}
		if len(got) != want {
			t.Errorf("%s: %s: %d frames reported, the file has %d records", rs, file, len(got), want)
			continue
		}
		for i, f := range got {
			states := 0
			if f.Verdict != "" && f.Reason != "" {
				states++
			}
			if f.Skipped != "" {
				states++
			}
			if f.Out && f.Verdict == "" {
				states++ // learned by the egress program
			}
			if f.Truncated && f.WireLength > f.Length {
				states++
			}
			if f.Index != i+1 || states != 1 {
				t.Errorf("%s: %s: record %d reported as %+v", rs, file, i+1, f)
			}
		}
	}
	for file := range byFile {
		if walks[file].linkTypes == nil {
			t.Errorf("%s: frames reported for %s, which has none", rs, file)
		}
	}
}

// checkCoverage fails for each kind of capture or frame the corpus is
// meant to hold that no longer occurs in it.
func checkCoverage(t *testing.T, rep *replay.Report, walks map[string]captureWalk) {
	t.Helper()
	seen := map[string]bool{}
	ran := map[string][]replay.FrameResult{} // frames with a verdict, by file
	for _, f := range rep.Frames {
		w := walks[f.File]
		lt := w.linkTypes[f.Index-1]
		switch {
		case f.Verdict != "":
			ran[f.File] = append(ran[f.File], f)
			seen[fmt.Sprintf("link type %d replayed", lt)] = true
			if w.format == "pcap 2.1" {
				seen["pcap 2.1 replayed"] = true
			}
			if w.bigEndian && w.format == "pcapng" {
				seen["big-endian pcapng replayed"] = true
			}
			if f.Length > 3520 { // beyond one 4 KiB page buffer: xdpfw_frags
				seen["multi-buffer frame replayed"] = true
			}
		case f.Truncated:
			seen["truncated in "+strings.Fields(w.format)[0]] = true
		case f.Out:
			seen[fmt.Sprintf("link type %d outgoing learned", lt)] = true
		case strings.Contains(f.Skipped, "offload super-frame") && f.Length > 65535:
			seen["super-frame over 64 KiB skipped"] = true
		case strings.Contains(f.Skipped, fmt.Sprintf("link type %d,", lt)) || strings.Contains(f.Skipped, fmt.Sprintf("(%d),", lt)):
			seen["unsupported pcapng interface skipped"] = true
		}
	}
	for file, frames := range ran {
		lts := map[uint32]bool{}
		for _, f := range frames {
			lts[walks[file].linkTypes[f.Index-1]] = true
		}
		if len(lts) > 1 {
			seen["pcapng with frames of several link types"] = true
		}
		for k := range frameKinds(t, file, frames) {
			seen[k] = true
		}
	}
	for _, want := range []string{
		"link type 113 replayed", "link type 113 outgoing learned", // tcpdump -i any, libpcap before 1.10
		"link type 276 replayed", "link type 276 outgoing learned", // and since
		"link type 101 replayed", "link type 228 replayed", "link type 229 replayed", // raw IP
		"link type 0 replayed", "link type 1 replayed",
		"pcapng with frames of several link types", "unsupported pcapng interface skipped",
		"big-endian pcapng replayed", "pcap 2.1 replayed",
		"super-frame over 64 KiB skipped", "multi-buffer frame replayed",
		"truncated in pcap", "truncated in pcapng",
		"VLAN", "QinQ", "IPv6 extension headers",
		"IPv4 first fragment", "IPv4 later fragment", "IPv6 first fragment", "IPv6 later fragment",
		"ICMP error", "ICMPv6 error",
	} {
		if !seen[want] {
			t.Errorf("the corpus no longer has: %s", want)
		}
	}
}

// frameKinds names what the replayed frames of one file hold, decoded by
// the reference model from the frames the program ran.
func frameKinds(t *testing.T, file string, ran []replay.FrameResult) map[string]bool {
	t.Helper()
	rd, err := replay.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	wanted := map[int]bool{}
	for _, r := range ran {
		wanted[r.Index] = true
	}
	kinds := map[string]bool{}
	for {
		f, err := rd.Next()
		if err != nil {
			break // the end, or a bad record the replay has reported
		}
		if !wanted[f.Index] {
			continue
		}
		data := f.Data
		p := model.Decode(data)
		if p.Malformed {
			continue
		}
		family := map[model.Kind]string{model.KindIPv4: "IPv4", model.KindIPv6: "IPv6"}[p.Kind]
		kinds["VLAN"] = kinds["VLAN"] || p.VLANTags >= 1
		kinds["QinQ"] = kinds["QinQ"] || p.VLANTags == 2
		if family != "" && p.Frag == rules.FragFirst {
			kinds[family+" first fragment"] = true
		}
		if family != "" && p.Frag == rules.FragLater {
			kinds[family+" later fragment"] = true
		}
		switch {
		case p.Kind == model.KindIPv4 && p.HasICMP && (p.ICMPType == 3 || p.ICMPType == 11 || p.ICMPType == 12):
			kinds["ICMP error"] = true
		case p.Kind == model.KindIPv6 && p.HasICMP && p.ICMPType >= 1 && p.ICMPType <= 4:
			kinds["ICMPv6 error"] = true
		}
		// The first next header, right after the fixed IPv6 header.
		if ip := 14 + 4*p.VLANTags; p.Kind == model.KindIPv6 && slices.Contains([]byte{0, 43, 44, 51, 60}, data[ip+6]) {
			kinds["IPv6 extension headers"] = true
		}
	}
	return kinds
}

// captureWalk is what walkCapture finds in a file: its format, byte order,
// and the link type of each record, in order.
type captureWalk struct {
	format    string // "pcap 2.4", "pcapng", ...
	bigEndian bool
	linkTypes []uint32
	// bad is set when the file is cut or corrupt; linkTypes then has the
	// records before the bad one.
	bad bool
}

// walkCapture reads a capture's record structure on its own, without the
// replay reader, so the reader's frame count is checked against something
// else. It checks the lengths that delimit records and blocks, no more.
func walkCapture(t *testing.T, path string) (c captureWalk) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() != nil {
			c.bad = true
		}
	}()
	fail := func(int) { panic("bad") } // ends the walk: see the recover above
	var order binary.ByteOrder = binary.LittleEndian
	if len(raw) < 24 {
		fail(0)
	}
	switch binary.BigEndian.Uint32(raw) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order, c.bigEndian = binary.BigEndian, true
		fallthrough
	case 0xd4c3b2a1, 0x4d3cb2a1:
		minor := order.Uint16(raw[6:])
		c.format = fmt.Sprintf("pcap %d.%d", order.Uint16(raw[4:]), minor)
		lt := order.Uint32(raw[20:]) & 0xffff
		for off := 24; off < len(raw); {
			if off+16 > len(raw) {
				fail(off)
			}
			// Before 2.3 the captured length came second; 2.3 files
			// are either way round, the captured length the smaller.
			first, second := order.Uint32(raw[off+8:]), order.Uint32(raw[off+12:])
			caplen := first
			if minor < 3 || (minor == 3 && second < first) {
				caplen = second
			}
			off += 16 + int(caplen)
			if off > len(raw) {
				fail(off)
			}
			c.linkTypes = append(c.linkTypes, lt)
		}
	case 0x0a0d0d0a:
		c.format = "pcapng"
		var ifaces []uint32 // this section's interfaces' link types
		for off := 0; off < len(raw); {
			if off+12 > len(raw) {
				fail(off)
			}
			if binary.LittleEndian.Uint32(raw[off:]) == 0x0a0d0d0a {
				order, c.bigEndian = binary.LittleEndian, false
				if binary.BigEndian.Uint32(raw[off+8:]) == 0x1a2b3c4d {
					order, c.bigEndian = binary.BigEndian, true
				}
				ifaces = nil
			}
			typ, n := order.Uint32(raw[off:]), int(order.Uint32(raw[off+4:]))
			if n < 12 || off+n > len(raw) {
				fail(off)
			}
			body := raw[off+8 : off+n-4]
			switch typ {
			case 1: // interface description
				ifaces = append(ifaces, uint32(order.Uint16(body)))
			case 2, 3, 6: // packet (obsolete), simple packet, enhanced packet
				ifid := 0
				if typ == 6 {
					ifid = int(order.Uint32(body))
				} else if typ == 2 {
					ifid = int(order.Uint16(body))
				}
				if ifid >= len(ifaces) {
					fail(off)
				}
				c.linkTypes = append(c.linkTypes, ifaces[ifid])
			}
			off += n
		}
	default:
		fail(0)
	}
	return c
}
