package replay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Frame is one captured Ethernet frame as it will be replayed.
type Frame struct {
	Data  []byte
	Index int // 1-based position within its file, for error messages
}

// linkTypeEthernet is LINKTYPE_ETHERNET, the only link type xdpfw replays:
// XDP programs see Ethernet frames, so anything else would be misparsed.
const linkTypeEthernet = 1

// maxCaptureLen bounds one frame's captured length (tcpdump's
// MAXIMUM_SNAPLEN). A record claiming more is corrupt, and the bound keeps a
// garbage length from becoming a huge allocation.
const maxCaptureLen = 262144

// File magics, as the first four bytes appear on disk.
var (
	magicPcapMicroLE = []byte{0xd4, 0xc3, 0xb2, 0xa1}
	magicPcapMicroBE = []byte{0xa1, 0xb2, 0xc3, 0xd4}
	magicPcapNanoLE  = []byte{0x4d, 0x3c, 0xb2, 0xa1}
	magicPcapNanoBE  = []byte{0xa1, 0xb2, 0x3c, 0x4d}
	magicPcapng      = []byte{0x0a, 0x0d, 0x0d, 0x0a} // palindrome: same in both orders
	magicGzip        = []byte{0x1f, 0x8b}
)

// ReadFrames reads every frame of a classic pcap (either byte order,
// microsecond or nanosecond timestamps) or pcapng file. Only Ethernet
// captures are accepted. Every error is one line that starts with path.
//
// A frame captured shorter than its wire length (the capture's snaplen cut
// it) is returned as captured: replay only ever sees the bytes that were
// saved, exactly as a shorter frame on the wire would be seen.
//
// The whole file is read into memory first: ReadFrames returns every frame
// anyway, and holding the bytes lets a pcapng file be checked before
// pcapgo parses it.
func ReadFrames(path string) ([]Frame, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already at the front of the message
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	frames, err := parseCapture(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return frames, nil
}

// parseCapture picks the format by magic and reads every frame. pcapgo is
// third-party code fed untrusted bytes; a panic inside it (it has a few on
// corrupt input) becomes an error instead of taking the caller down.
func parseCapture(raw []byte) (frames []Frame, err error) {
	defer func() {
		if r := recover(); r != nil {
			frames, err = nil, fmt.Errorf("corrupt capture file (%v)", r)
		}
	}()
	switch {
	case len(raw) == 0:
		return nil, errors.New("empty file, not a pcap or pcapng file")
	case hasMagic(raw, magicPcapMicroLE, magicPcapMicroBE, magicPcapNanoLE, magicPcapNanoBE):
		return readPcap(raw)
	case hasMagic(raw, magicPcapng):
		return readPcapng(raw)
	case hasMagic(raw, magicGzip):
		// pcapgo would unzip classic pcap but not pcapng; asking for the
		// plain file keeps both formats behaving the same.
		return nil, errors.New("gzip-compressed capture; decompress it first")
	default:
		return nil, errors.New("not a pcap or pcapng file")
	}
}

func hasMagic(raw []byte, magics ...[]byte) bool {
	for _, m := range magics {
		if bytes.HasPrefix(raw, m) {
			return true
		}
	}
	return false
}

// readPcap reads a classic pcap file.
func readPcap(raw []byte) ([]Frame, error) {
	if len(raw) < 24 {
		return nil, errors.New("truncated pcap file header")
	}
	// pcapgo stores the link type in a uint8, so 257 would read as 1
	// (Ethernet); take the real 16-bit value from the header. The upper bits
	// of the field carry FCS information, not the link type.
	order := binary.ByteOrder(binary.LittleEndian)
	if hasMagic(raw, magicPcapMicroBE, magicPcapNanoBE) {
		order = binary.BigEndian
	}
	if lt := order.Uint32(raw[20:24]) & 0xffff; lt != linkTypeEthernet {
		return nil, linkTypeError(lt)
	}

	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("bad pcap file header: %v", err)
	}
	// The file's own snaplen may be smaller than what a writer actually
	// stored (some tools do not enforce it); readers like tcpdump ignore it,
	// and so does this one, up to maxCaptureLen.
	r.SetSnaplen(maxCaptureLen)
	return readAll(r)
}

// readPcapng reads a pcapng file after checkPcapng has vetted its blocks.
func readPcapng(raw []byte) ([]Frame, error) {
	if err := checkPcapng(raw); err != nil {
		return nil, err
	}
	r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.NgReaderOptions{
		// All interfaces are known to be Ethernet (checkPcapng), so no
		// packet is skipped for a link type mismatch.
		ErrorOnMismatchingLinkType: true,
	})
	if err == io.EOF {
		return []Frame{}, nil // a section header and nothing else: no frames
	}
	if err != nil {
		return nil, fmt.Errorf("bad pcapng file: %v", err)
	}
	return readAll(r)
}

// readAll drains a pcapgo reader. io.EOF exactly between frames is the
// normal end; anything else names the frame it stopped at.
func readAll(r gopacket.PacketDataSource) ([]Frame, error) {
	frames := []Frame{}
	for {
		data, ci, err := r.ReadPacketData()
		// pcapgo also returns a bare io.EOF when a record header is complete
		// but none of its data follows; a non-zero length tells them apart.
		if err == io.EOF && ci.CaptureLength == 0 {
			return frames, nil
		}
		index := len(frames) + 1
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("frame %d: file ends inside the frame (truncated capture)", index)
		}
		if err != nil {
			return nil, fmt.Errorf("frame %d: %v", index, err)
		}
		frames = append(frames, Frame{Data: data, Index: index})
	}
}

// pcapng block types this reader needs to look inside.
const (
	ngSectionHeader  = 0x0a0d0d0a
	ngInterfaceDesc  = 0x00000001
	ngPacketObsolete = 0x00000002
	ngSimplePacket   = 0x00000003
	ngEnhancedPacket = 0x00000006
	ngByteOrderMagic = 0x1a2b3c4d
)

// checkPcapng walks the block structure once before pcapgo reads it, for
// two things pcapgo does not do: it refuses any interface whose link type
// is not Ethernet (pcapgo truncates link types to 8 bits and silently skips
// mismatching packets), and it proves every block and every packet's
// captured length fit in the file, so corrupt lengths are reported here
// instead of becoming multi-gigabyte allocations inside pcapgo.
//
// Every interface must be Ethernet, used or not: a capture that mixes link
// types is not one xdpfw can replay faithfully.
func checkPcapng(raw []byte) error {
	var order binary.ByteOrder
	var snaplen0 uint32 // snaplen of interface 0 in this section, for simple packets
	interfaces := 0
	for off := 0; off < len(raw); {
		if len(raw)-off < 12 {
			return errors.New("truncated pcapng block")
		}
		typ := binary.LittleEndian.Uint32(raw[off:]) // byte order is irrelevant for the SHB palindrome
		if typ == ngSectionHeader {
			switch {
			case binary.LittleEndian.Uint32(raw[off+8:]) == ngByteOrderMagic:
				order = binary.LittleEndian
			case binary.BigEndian.Uint32(raw[off+8:]) == ngByteOrderMagic:
				order = binary.BigEndian
			default:
				return errors.New("bad pcapng section header byte order")
			}
			interfaces, snaplen0 = 0, 0
		} else {
			typ = order.Uint32(raw[off:])
		}
		blockLen := int64(order.Uint32(raw[off+4:]))
		if blockLen < 12 || blockLen%4 != 0 {
			return fmt.Errorf("bad pcapng block length %d", blockLen)
		}
		if blockLen > int64(len(raw)-off) {
			return errors.New("truncated pcapng block")
		}
		body := raw[off+8 : off+int(blockLen)-4]
		switch typ {
		case ngInterfaceDesc:
			if len(body) < 8 {
				return errors.New("short pcapng interface block")
			}
			if lt := uint32(order.Uint16(body[0:2])); lt != linkTypeEthernet {
				return linkTypeError(lt)
			}
			if interfaces == 0 {
				snaplen0 = order.Uint32(body[4:8])
			}
			interfaces++
		case ngEnhancedPacket, ngPacketObsolete:
			if len(body) < 20 || int64(order.Uint32(body[12:16])) > int64(len(body)-20) {
				return errors.New("pcapng packet block shorter than its captured length")
			}
		case ngSimplePacket:
			if len(body) < 4 {
				return errors.New("short pcapng simple packet block")
			}
			// pcapgo takes the captured length as the wire length cut to
			// interface 0's snaplen.
			caplen := int64(order.Uint32(body[0:4]))
			if snaplen0 != 0 && caplen > int64(snaplen0) {
				caplen = int64(snaplen0)
			}
			if caplen > int64(len(body)-4) {
				return errors.New("pcapng simple packet block shorter than its captured length")
			}
		}
		off += int(blockLen)
	}
	return nil
}

// linkTypeError names a refused link type the way tcpdump does, with the
// number for anything not in the short list of likely suspects.
func linkTypeError(lt uint32) error {
	names := map[uint32]string{
		0:   "NULL",
		9:   "PPP",
		12:  "RAW",
		14:  "RAW",
		101: "RAW",
		105: "IEEE802_11",
		108: "LOOP",
		113: "LINUX_SLL",
		117: "PFLOG",
		127: "IEEE802_11_RADIOTAP",
		228: "IPV4",
		229: "IPV6",
		276: "LINUX_SLL2",
	}
	name := fmt.Sprint(lt)
	if n, ok := names[lt]; ok {
		name = fmt.Sprintf("%s (%d)", n, lt)
	}
	return fmt.Errorf("link type %s is not Ethernet; xdpfw replays Ethernet frames", name)
}

// frameEpoch is the timestamp of the first written frame. Fixed timestamps
// make WriteFrames' output a pure function of the frames, so generated
// captures are byte-identical across runs and can be committed.
var frameEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteFrames writes frames to path as a classic pcap file: little-endian,
// microsecond timestamps, Ethernet link type. Frame i (0-based) is stamped
// frameEpoch + i milliseconds. The capture is encoded in memory first, so an
// encoding error leaves no partial file behind.
func WriteFrames(path string, frames [][]byte) error {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(maxCaptureLen, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	for i, data := range frames {
		if len(data) > maxCaptureLen {
			return fmt.Errorf("%s: frame %d is %d bytes, more than %d", path, i+1, len(data), maxCaptureLen)
		}
		ci := gopacket.CaptureInfo{
			Timestamp:     frameEpoch.Add(time.Duration(i) * time.Millisecond),
			CaptureLength: len(data),
			Length:        len(data),
		}
		if err := w.WritePacket(ci, data); err != nil {
			return fmt.Errorf("%s: frame %d: %v", path, i+1, err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}
