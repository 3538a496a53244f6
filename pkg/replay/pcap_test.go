package replay

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// testFrames are arbitrary bytes: the pcap layer must not care what they
// hold, including frames too short to be Ethernet.
var testFrames = [][]byte{
	bytes.Repeat([]byte{0xab}, 60),
	{1, 2, 3},
	bytes.Repeat([]byte{0x5a}, 1514),
	{},
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func checkFrames(t *testing.T, got []Frame, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i, f := range got {
		if f.Index != i+1 {
			t.Errorf("frame %d: Index %d, want %d", i, f.Index, i+1)
		}
		if !bytes.Equal(f.Data, want[i]) {
			t.Errorf("frame %d: data differs: got % x, want % x", i+1, f.Data, want[i])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rt.pcap")
	if err := WriteFrames(path, testFrames); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFrames(path)
	if err != nil {
		t.Fatal(err)
	}
	checkFrames(t, got, testFrames)
}

// Output must be a pure function of the frames so generated captures can
// be committed and compared byte for byte.
func TestWriteDeterministic(t *testing.T) {
	dir := t.TempDir()
	var files [2][]byte
	for i := range files {
		path := filepath.Join(dir, "d.pcap")
		if err := WriteFrames(path, testFrames); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = b
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatal("two writes of the same frames differ")
	}
	// The second record's timestamp is epoch + 1ms: seconds, then microseconds.
	rec2 := 24 + 16 + len(testFrames[0])
	secs := binary.LittleEndian.Uint32(files[0][rec2:])
	usecs := binary.LittleEndian.Uint32(files[0][rec2+4:])
	if want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix(); int64(secs) != want || usecs != 1000 {
		t.Errorf("frame 2 stamped %d.%06d, want %d.001000", secs, usecs, want)
	}
}

// WriteFrames writes what gopacket's pcapgo writes for the same frames:
// an independent encoder of the format, kept to tests.
func TestWriteMatchesPcapgo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.pcap")
	if err := WriteFrames(path, testFrames); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	w := pcapgo.NewWriter(&want)
	if err := w.WriteFileHeader(maxCaptureLen, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, data := range testFrames {
		ci := gopacket.CaptureInfo{Timestamp: frameEpoch.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("WriteFrames wrote\n% x\npcapgo writes\n% x", got[:min(len(got), 64)], want.Bytes()[:min(want.Len(), 64)])
	}
}

// TestOpenEmptyName: a capture named by an unset variable is said to be
// so, where the error read ": no such file or directory".
func TestOpenEmptyName(t *testing.T) {
	if _, err := Open(""); err == nil || err.Error() != "a capture with an empty file name" {
		t.Errorf("Open(\"\"): %v", err)
	}
}

func TestEmptyPcap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.pcap")
	if err := WriteFrames(path, nil); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFrames(path)
	if err != nil {
		t.Fatalf("empty capture: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("got %d frames from an empty capture", len(got))
	}
}

func TestPcapngRead(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range testFrames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFrames(writeFile(t, "c.pcapng", buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	checkFrames(t, got, testFrames)
}

// classicPcap hand-builds a classic pcap so byte order, timestamp
// resolution, link type and record lengths can all be chosen.
func classicPcap(order binary.ByteOrder, nano bool, linkType uint32, recs ...[]byte) []byte {
	var b bytes.Buffer
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	hdr := make([]byte, 24)
	order.PutUint32(hdr[0:], magic)
	order.PutUint16(hdr[4:], 2)
	order.PutUint16(hdr[6:], 4)
	order.PutUint32(hdr[16:], 65535)
	order.PutUint32(hdr[20:], linkType)
	b.Write(hdr)
	for i, r := range recs {
		rh := make([]byte, 16)
		order.PutUint32(rh[0:], uint32(i))
		order.PutUint32(rh[8:], uint32(len(r)))
		order.PutUint32(rh[12:], uint32(len(r)))
		b.Write(rh)
		b.Write(r)
	}
	return b.Bytes()
}

func TestClassicVariants(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order binary.ByteOrder
		nano  bool
	}{
		{"le-micro", binary.LittleEndian, false},
		{"be-micro", binary.BigEndian, false},
		{"le-nano", binary.LittleEndian, true},
		{"be-nano", binary.BigEndian, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadFrames(writeFile(t, "v.pcap", classicPcap(tc.order, tc.nano, 1, testFrames...)))
			if err != nil {
				t.Fatal(err)
			}
			checkFrames(t, got, testFrames)
		})
	}
}

// A record cut by the snaplen is replayed as captured, not padded to its
// wire length.
func TestSnaplenCutFrame(t *testing.T) {
	raw := classicPcap(binary.LittleEndian, false, 1, []byte{1, 2, 3, 4})
	binary.LittleEndian.PutUint32(raw[24+12:], 1500) // wire length
	got, err := ReadFrames(writeFile(t, "cut.pcap", raw))
	if err != nil {
		t.Fatal(err)
	}
	checkFrames(t, got, [][]byte{{1, 2, 3, 4}})
	if !got[0].Truncated() || got[0].WireLen != 1500 {
		t.Errorf("cut frame: Truncated %v, WireLen %d; want true, 1500", got[0].Truncated(), got[0].WireLen)
	}
}

// ngWithLinkType is a little-endian pcapng with one IDB of the given link
// type and no packets.
func ngWithLinkType(linkType uint16) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	shb := make([]byte, 28)
	le.PutUint32(shb[0:], 0x0a0d0d0a)
	le.PutUint32(shb[4:], 28)
	le.PutUint32(shb[8:], 0x1a2b3c4d)
	le.PutUint16(shb[12:], 1)
	le.PutUint64(shb[16:], ^uint64(0)) // section length unknown
	le.PutUint32(shb[24:], 28)
	b.Write(shb)
	idb := make([]byte, 20)
	le.PutUint32(idb[0:], 1)
	le.PutUint32(idb[4:], 20)
	le.PutUint16(idb[8:], linkType)
	le.PutUint32(idb[12:], 65535)
	le.PutUint32(idb[16:], 20)
	b.Write(idb)
	return b.Bytes()
}

func TestRefused(t *testing.T) {
	good := classicPcap(binary.LittleEndian, false, 1, testFrames...)
	for _, tc := range []struct {
		name, file string
		data       []byte // nil: the file does not exist
		want       string
	}{
		{"ppp", "capture.pcap", classicPcap(binary.LittleEndian, false, 9, testFrames...),
			"capture.pcap: link type PPP (9) is not one xdpfw replays (Ethernet, Linux cooked, raw IP, loopback)"},
		{"ppp-empty", "capture.pcap", classicPcap(binary.BigEndian, false, 9),
			"link type PPP (9) is not one xdpfw replays"},
		// 257 would truncate to 1 (Ethernet) in an 8-bit link type.
		{"257", "capture.pcap", classicPcap(binary.LittleEndian, false, 257, testFrames...),
			"capture.pcap: link type 257 is not one xdpfw replays"},
		{"version-1", "capture.pcap", withVersion(good, 1, 0), "capture.pcap: pcap format version 1.0; xdpfw reads 2.0 to 2.4"},
		// libpcap's own test files pcap-invalid-version-2.pcap and
		// pcapng-invalid-vers-{1,2}.pcapng: versions libpcap refuses.
		{"version-2.5", "capture.pcap", withVersion(good, 2, 5), "capture.pcap: pcap format version 2.5; xdpfw reads 2.0 to 2.4"},
		{"pcapng-version-0.1", "c.pcapng", withNgVersion(ngWithLinkType(1), 0, 1),
			"c.pcapng: block at byte 0: pcapng format version 0.1; xdpfw reads 1.0 (and 1.2)"},
		{"pcapng-version-1.1", "c.pcapng", withNgVersion(ngWithLinkType(1), 1, 1),
			"c.pcapng: block at byte 0: pcapng format version 1.1; xdpfw reads 1.0 (and 1.2)"},
		{"garbage", "capture.pcap", []byte("this is not a capture file at all\n"),
			"capture.pcap: not a pcap or pcapng file"},
		{"zero-bytes", "capture.pcap", []byte{},
			"capture.pcap: empty file, not a pcap or pcapng file"},
		{"missing", "nope.pcap", nil, "nope.pcap: no such file or directory"},
		{"short-header", "capture.pcap", good[:10], "capture.pcap: truncated pcap file header"},
		{"cut-record", "capture.pcap", good[:len(good)-len(testFrames[3])-len(testFrames[2])-5],
			"capture.pcap: frame 3 at byte 119: file ends inside the frame"},
		{"cut-record-header", "capture.pcap", good[:24+16+60+16+3+16+1514+7],
			"capture.pcap: frame 4 at byte 1649: file ends inside the frame"},
		{"cut-data-start", "capture.pcap", good[:24+16+60+16],
			"capture.pcap: frame 2 at byte 100: file ends inside the frame"},
		{"huge-record", "capture.pcap", hugeRecord(), "capture.pcap: frame 1 at byte 24: capture length 4294967295 exceeds 262144"},
		{"pcapng-cut", "c.pcapng", ngWithLinkType(1)[:30], "c.pcapng: block at byte 28: truncated pcapng block"},
		{"gzip", "c.pcap.gz", []byte{0x1f, 0x8b, 8, 0}, "c.pcap.gz: gzip-compressed capture"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if tc.data != nil {
				path = writeFile(t, tc.file, tc.data)
			}
			got, err := ReadFrames(path)
			if err == nil {
				t.Fatalf("accepted, %d frames", len(got))
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if !strings.HasPrefix(msg, path+": ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
		})
	}
}

// hugeRecord claims a 4 GiB frame; it must be an error, not an allocation.
func hugeRecord() []byte {
	raw := classicPcap(binary.LittleEndian, false, 1, []byte{1, 2, 3, 4})
	binary.LittleEndian.PutUint32(raw[24+8:], 0xffffffff)
	binary.LittleEndian.PutUint32(raw[24+12:], 0xffffffff)
	return raw
}

// The reader takes no timestamps, so an interface whose timestamp
// resolution is absurd (2^-100, which made pcapgo divide by zero) reads.
func TestOddTimestampResolution(t *testing.T) {
	le := binary.LittleEndian
	raw := ngWithLinkType(1)
	idb := make([]byte, 28)
	le.PutUint32(idb[0:], 1)
	le.PutUint32(idb[4:], 28)
	le.PutUint16(idb[8:], 1)
	le.PutUint16(idb[16:], 9) // if_tsresol
	le.PutUint16(idb[18:], 1)
	idb[20] = 0x80 | 100
	le.PutUint32(idb[24:], 28)
	raw = append(raw[:28], idb...)
	if _, err := ReadFrames(writeFile(t, "p.pcapng", raw)); err != nil {
		t.Fatal(err)
	}
}

// withVersion is a copy of a classic pcap with another format version.
func withVersion(raw []byte, major, minor uint16) []byte {
	out := append([]byte(nil), raw...)
	binary.LittleEndian.PutUint16(out[4:], major)
	binary.LittleEndian.PutUint16(out[6:], minor)
	return out
}

// withNgVersion is a copy of a little-endian pcapng whose first section
// header has another format version.
func withNgVersion(raw []byte, major, minor uint16) []byte {
	out := append([]byte(nil), raw...)
	binary.LittleEndian.PutUint16(out[12:], major)
	binary.LittleEndian.PutUint16(out[14:], minor)
	return out
}

// Every pcap 2.x libpcap reads and pcapng 1.2 (which some writers put in
// 1.0 files) are read.
func TestAcceptedVersions(t *testing.T) {
	good := classicPcap(binary.LittleEndian, false, 1, testFrames...)
	for minor := uint16(0); minor <= 4; minor++ {
		if _, err := ReadFrames(writeFile(t, "c.pcap", withVersion(good, 2, minor))); err != nil {
			t.Errorf("2.%d: %v", minor, err)
		}
	}
	if _, err := ReadFrames(writeFile(t, "c.pcapng", withNgVersion(ngWithLinkType(1), 1, 2))); err != nil {
		t.Errorf("pcapng 1.2: %v", err)
	}
}

func TestEmptyPcapng(t *testing.T) {
	got, err := ReadFrames(writeFile(t, "e.pcapng", ngWithLinkType(1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("got %d frames", len(got))
	}
}

// Corrupt input must give an error, never a panic, however it is cut.
func TestNoPanicOnCorruption(t *testing.T) {
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range testFrames {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(f), Length: len(f)}, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, base := range [][]byte{ng.Bytes(), classicPcap(binary.BigEndian, true, 1, testFrames...)} {
		for cut := 0; cut < len(base); cut += 7 {
			for _, flip := range []int{-1, cut / 2, cut - 1} {
				data := append([]byte(nil), base[:cut]...)
				if flip >= 4 && flip < len(data) {
					data[flip] ^= 0xff
				}
				path := filepath.Join(dir, "x")
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				_, _ = ReadFrames(path) // must return, whatever it says
			}
		}
	}
}

// TestPcapngInterfacesBounded: what a pcapng section's interface blocks
// cost in memory is bounded whatever the file holds: more than
// maxInterfaces of them is a bad file, and only maxIfName bytes of a
// name are kept. Both were kept whole, a file of interface blocks taking
// as much memory as it took disk.
func TestPcapngInterfacesBounded(t *testing.T) {
	long := strings.Repeat("n", 4000)
	raw := append(ngSHB(), ngIDB(9, long)...) // PPP: its packets name it
	raw = append(raw, ngEPB(0, make([]byte, 60), 60, 0)...)
	frames, err := ReadFrames(writeFile(t, "longname.pcapng", raw))
	if err != nil || len(frames) != 1 {
		t.Fatalf("%d frames (%v)", len(frames), err)
	}
	if want := "interface 0 (" + long[:maxIfName] + ") has link type PPP (9)"; !strings.HasPrefix(frames[0].Skip, want) {
		t.Errorf("skipped as %.120q..., want %.120q...", frames[0].Skip, want)
	}

	idb := ngIDB(1, "eth0")
	raw = ngSHB()
	for range maxInterfaces + 1 {
		raw = append(raw, idb...)
	}
	at := len(ngSHB()) + maxInterfaces*len(idb)
	_, err = ReadFrames(writeFile(t, "many.pcapng", raw))
	if want := fmt.Sprintf("block at byte %d: more than %d interfaces in one pcapng section", at, maxInterfaces); err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("a section of %d interfaces: %v, want an error ending %q", maxInterfaces+1, err, want)
	}
}
