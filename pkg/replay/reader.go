package replay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"time"
)

// Frame is one captured frame as it will be replayed: the Ethernet frame
// the program would see.
type Frame struct {
	// Data is the Ethernet frame. For link types other than Ethernet the
	// Ethernet header is synthesized (see toEthernet); nil when Skip is set
	// for a link type that cannot be turned into Ethernet.
	Data []byte
	// Index is the 1-based position of the record within its file.
	Index int
	// WireLen is the frame's length on the wire, as an Ethernet frame.
	// More than len(Data) means the capture's snap length cut the frame.
	WireLen int
	// Skip, when set, says why the frame is not replayed (for example an
	// outgoing offload super-frame, or an unsupported interface).
	Skip string
	// Out is set when the capture records the frame as sent by the
	// capturing host (a cooked header's packet type, pcapng's epb_flags):
	// replay runs it through the egress program, not XDP.
	Out bool
	// Time is the capture's timestamp; zero when the record has none (a
	// pcapng simple packet block).
	Time time.Time
}

// Truncated reports whether the capture kept less than the wire length.
func (f *Frame) Truncated() bool { return f.WireLen > len(f.Data) }

// maxCaptureLen bounds one frame's captured length (tcpdump's
// MAXIMUM_SNAPLEN). A record claiming more is corrupt, and the bound keeps a
// garbage length from becoming a huge allocation.
const maxCaptureLen = 262144

// maxInterfaces bounds a pcapng section's interface descriptions, and
// maxIfName the part of each one's name kept (for messages alone): read
// whole, a file of interface blocks took as much memory as it took disk.
// Real captures describe a few interfaces, of short names.
const (
	maxInterfaces = 65536
	maxIfName     = 64
)

// maxBlockLen bounds the pcapng blocks that are read into memory (packets
// and interface descriptions): a packet and generous options.
const maxBlockLen = maxCaptureLen + 65536

// File magics, as the first bytes appear on disk.
var (
	magicPcapMicroLE = []byte{0xd4, 0xc3, 0xb2, 0xa1}
	magicPcapMicroBE = []byte{0xa1, 0xb2, 0xc3, 0xd4}
	magicPcapNanoLE  = []byte{0x4d, 0x3c, 0xb2, 0xa1}
	magicPcapNanoBE  = []byte{0xa1, 0xb2, 0x3c, 0x4d}
	magicPcapng      = []byte{0x0a, 0x0d, 0x0d, 0x0a} // palindrome: same in both orders
	magicGzip        = []byte{0x1f, 0x8b}
)

// pcapng block types this reader looks inside.
const (
	ngSectionHeader  = 0x0a0d0d0a
	ngInterfaceDesc  = 0x00000001
	ngPacketObsolete = 0x00000002
	ngSimplePacket   = 0x00000003
	ngEnhancedPacket = 0x00000006
	ngByteOrderMagic = 0x1a2b3c4d
)

// How a classic pcap file orders the two lengths of a record header
// (libpcap: before format 2.3 the wire length came first; 2.3 files were
// written both ways).
const (
	lengthsInOrder = iota
	lengthsSwapped
	lengthsMaybeSwapped
)

// Reader reads a capture one frame at a time, so memory does not grow
// with the file. Every error it returns is one line starting with the
// file's path; an error from Next names the record and its byte offset,
// and ends the file.
type Reader struct {
	path  string
	file  *os.File
	r     *bufio.Reader
	off   int64 // bytes consumed so far
	index int   // records returned so far
	err   error // sticky: the file has ended

	ng bool
	// classic pcap
	order    binary.ByteOrder
	linkType uint32
	lengths  int
	nano     bool // timestamps' second field is in ns, not µs
	fcs      int  // bytes of frame check sequence ending every record
	// pcapng: the current section's interfaces
	ifaces []ngIface
}

type ngIface struct {
	linkType uint32
	snaplen  uint32
	name     string
	tsresol  byte // if_tsresol: 10^-n s, or 2^-n s with the top bit set
	fcs      int  // if_fcslen, in bytes: an EPB's flags may say otherwise
}

// Open opens a classic pcap (either byte order, microsecond or nanosecond
// timestamps, format 2.1 to 2.4) or pcapng file and reads its header.
func Open(path string) (*Reader, error) {
	// A capture named "$UNSET": said so, not ": no such file or directory".
	if path == "" {
		return nil, errors.New("a capture with an empty file name")
	}
	f, err := openCapture(path)
	if err != nil {
		return nil, pathError(path, err)
	}
	rd := &Reader{path: path, file: f, r: bufio.NewReaderSize(f, 64<<10)}
	if err := rd.start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return rd, nil
}

// Stdin is the capture name that reads standard input (tcpdump -w - |
// xdpfw replay -), once: a second "-" finds it read to its end.
const Stdin = "-"

// openCapture opens path, or gives standard input for Stdin.
func openCapture(path string) (*os.File, error) {
	if path == Stdin {
		return os.Stdin, nil
	}
	return os.Open(path)
}

func pathError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is already at the front of the message
	}
	return fmt.Errorf("%s: %v", path, err)
}

// Close closes the file (not standard input).
func (rd *Reader) Close() error {
	if rd.file == os.Stdin {
		return nil // the process's, left open
	}
	return rd.file.Close()
}

func (rd *Reader) start() error {
	head, err := rd.r.Peek(4)
	switch {
	case len(head) == 0 && err == io.EOF:
		return errors.New("empty file, not a pcap or pcapng file")
	case len(head) >= 2 && string(head[:2]) == string(magicGzip):
		return errors.New("gzip-compressed capture; decompress it first")
	case len(head) < 4:
		if err != nil && err != io.EOF {
			return err
		}
		return errors.New("not a pcap or pcapng file")
	}
	switch string(head) {
	case string(magicPcapMicroLE), string(magicPcapNanoLE):
		rd.order = binary.LittleEndian
		rd.nano = string(head) == string(magicPcapNanoLE)
	case string(magicPcapMicroBE), string(magicPcapNanoBE):
		rd.order = binary.BigEndian
		rd.nano = string(head) == string(magicPcapNanoBE)
	case string(magicPcapng):
		rd.ng = true
		return nil // the section header is read as the first block
	default:
		return errors.New("not a pcap or pcapng file")
	}
	hdr, err := rd.read(24)
	if err != nil {
		return errors.New("truncated pcap file header")
	}
	major, minor := rd.order.Uint16(hdr[4:]), rd.order.Uint16(hdr[6:])
	switch {
	case major != 2 || minor > 4:
		// libpcap refuses these too: a later minor version could change the
		// record layout, and reading it as 2.4 would give wrong frames.
		return fmt.Errorf("pcap format version %d.%d; xdpfw reads 2.0 to 2.4, as libpcap does", major, minor)
	case minor < 3:
		rd.lengths = lengthsSwapped
	case minor == 3:
		rd.lengths = lengthsMaybeSwapped
	}
	// The upper bits of the field carry FCS information, not the link
	// type: when its P bit is set, the top 4 bits are the length of the
	// frame check sequence each record ends with, in 16-bit words.
	lt := rd.order.Uint32(hdr[20:])
	rd.linkType = lt & 0xffff
	if lt&0x04000000 != 0 {
		rd.fcs = int(lt>>28) * 2
	}
	if !supportedLinkType(rd.linkType) {
		return linkTypeError(rd.linkType)
	}
	return nil
}

// read reads exactly n bytes, counting them.
func (rd *Reader) read(n int) ([]byte, error) {
	b := make([]byte, n)
	got, err := io.ReadFull(rd.r, b)
	rd.off += int64(got)
	return b, err
}

// Next returns the next frame; io.EOF after the last one. Any other error
// ends the file.
func (rd *Reader) Next() (Frame, error) {
	if rd.err != nil {
		return Frame{}, rd.err
	}
	var f Frame
	var err error
	if rd.ng {
		f, err = rd.nextNg()
	} else {
		f, err = rd.nextPcap()
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %v", rd.path, err)
	}
	rd.err = err
	return f, err
}

// recordError names the record that could not be read.
func (rd *Reader) recordError(at int64, format string, args ...any) error {
	return fmt.Errorf("frame %d at byte %d: %s", rd.index+1, at, fmt.Sprintf(format, args...))
}

func (rd *Reader) nextPcap() (Frame, error) {
	at := rd.off
	hdr, err := rd.read(16)
	if err == io.EOF {
		return Frame{}, io.EOF // exactly between records
	}
	if err != nil {
		return Frame{}, rd.recordError(at, "file ends inside the frame (truncated capture)")
	}
	caplen, wire := rd.order.Uint32(hdr[8:]), rd.order.Uint32(hdr[12:])
	if rd.lengths == lengthsSwapped || (rd.lengths == lengthsMaybeSwapped && caplen > wire) {
		caplen, wire = wire, caplen
	}
	if caplen > maxCaptureLen {
		return Frame{}, rd.recordError(at, "capture length %d exceeds %d", caplen, maxCaptureLen)
	}
	data, err := rd.read(int(caplen))
	if err != nil {
		return Frame{}, rd.recordError(at, "file ends inside the frame (truncated capture)")
	}
	rd.index++
	data, w := withoutFCS(data, int(wire), rd.fcs)
	f := convert(rd.index, rd.linkType, data, w, dirUnknown)
	frac := time.Duration(rd.order.Uint32(hdr[4:]))
	if !rd.nano {
		frac *= time.Microsecond
	}
	f.Time = time.Unix(int64(rd.order.Uint32(hdr[0:])), int64(frac))
	return f, nil
}

func (rd *Reader) nextNg() (Frame, error) {
	for {
		at := rd.off
		hdr, err := rd.read(8)
		if err == io.EOF {
			return Frame{}, io.EOF
		}
		if err != nil {
			return Frame{}, fmt.Errorf("block at byte %d: truncated pcapng block", at)
		}
		typ := binary.LittleEndian.Uint32(hdr)
		if typ == ngSectionHeader { // a palindrome: either order reads the same
			bom, err := rd.read(8) // byte-order magic, major and minor version
			if err != nil {
				return Frame{}, fmt.Errorf("block at byte %d: truncated pcapng block", at)
			}
			switch {
			case binary.LittleEndian.Uint32(bom) == ngByteOrderMagic:
				rd.order = binary.LittleEndian
			case binary.BigEndian.Uint32(bom) == ngByteOrderMagic:
				rd.order = binary.BigEndian
			default:
				return Frame{}, fmt.Errorf("block at byte %d: bad pcapng section header byte order", at)
			}
			// 1.0 is the format; 1.2 was written by some tools for the same
			// layout. Other versions are refused, as libpcap refuses them.
			if major, minor := rd.order.Uint16(bom[4:]), rd.order.Uint16(bom[6:]); major != 1 || (minor != 0 && minor != 2) {
				return Frame{}, fmt.Errorf("block at byte %d: pcapng format version %d.%d; xdpfw reads 1.0 (and 1.2), as libpcap does", at, major, minor)
			}
			rd.ifaces = nil
		} else if rd.order == nil {
			return Frame{}, fmt.Errorf("block at byte %d: no pcapng section header", at)
		} else {
			typ = rd.order.Uint32(hdr)
		}
		blockLen := int64(rd.order.Uint32(hdr[4:]))
		if blockLen < 12 || blockLen%4 != 0 || (typ == ngSectionHeader && blockLen < 28) {
			return Frame{}, fmt.Errorf("block at byte %d: bad pcapng block length %d", at, blockLen)
		}
		rest := blockLen - (rd.off - at) // body and trailing length
		switch typ {
		case ngInterfaceDesc, ngEnhancedPacket, ngSimplePacket, ngPacketObsolete:
		default:
			// Not needed: skip without holding it.
			n, err := io.CopyN(io.Discard, rd.r, rest)
			rd.off += n
			if err != nil {
				return Frame{}, fmt.Errorf("block at byte %d: truncated pcapng block", at)
			}
			continue
		}
		isPacket := typ != ngInterfaceDesc
		fail := func(format string, args ...any) error {
			if isPacket {
				return rd.recordError(at, format, args...)
			}
			return fmt.Errorf("block at byte %d: %s", at, fmt.Sprintf(format, args...))
		}
		if blockLen > maxBlockLen {
			return Frame{}, fail("pcapng block length %d exceeds %d", blockLen, maxBlockLen)
		}
		b, err := rd.read(int(rest))
		if err != nil {
			if isPacket {
				return Frame{}, fail("file ends inside the frame (truncated capture)")
			}
			return Frame{}, fail("truncated pcapng block")
		}
		if trailer := int64(rd.order.Uint32(b[len(b)-4:])); trailer != blockLen {
			return Frame{}, fail("pcapng block length %d at its end, %d at its start", trailer, blockLen)
		}
		body := b[:len(b)-4]
		if typ == ngInterfaceDesc {
			if len(body) < 8 {
				return Frame{}, fail("short pcapng interface block")
			}
			if len(rd.ifaces) == maxInterfaces {
				return Frame{}, fail("more than %d interfaces in one pcapng section", maxInterfaces)
			}
			ifc := ngIface{linkType: uint32(rd.order.Uint16(body[0:])), snaplen: rd.order.Uint32(body[4:]), tsresol: 6}
			if v, ok := ngOption(rd.order, body[8:], 2); ok { // if_name
				ifc.name = string(trimNul(v[:min(len(v), maxIfName)]))
			}
			if v, ok := ngOption(rd.order, body[8:], 9); ok && len(v) == 1 { // if_tsresol
				ifc.tsresol = v[0]
			}
			if v, ok := ngOption(rd.order, body[8:], 13); ok && len(v) == 1 { // if_fcslen, in bits
				ifc.fcs = int(v[0]) / 8
			}
			rd.ifaces = append(rd.ifaces, ifc)
			continue
		}
		var ifid, caplen, wire uint32
		var ts uint64
		var data, opts []byte
		dir := dirUnknown
		fcs := -1 // the interface's
		switch typ {
		case ngEnhancedPacket, ngPacketObsolete:
			if len(body) < 20 {
				return Frame{}, fail("short pcapng packet block")
			}
			if typ == ngEnhancedPacket {
				ifid = rd.order.Uint32(body[0:])
			} else {
				ifid = uint32(rd.order.Uint16(body[0:]))
			}
			ts = uint64(rd.order.Uint32(body[4:]))<<32 | uint64(rd.order.Uint32(body[8:]))
			caplen, wire = rd.order.Uint32(body[12:]), rd.order.Uint32(body[16:])
			if int64(caplen) > int64(len(body)-20) {
				return Frame{}, fail("pcapng packet block shorter than its captured length %d", caplen)
			}
			data = body[20 : 20+caplen]
			opts = body[min(len(body), 20+int(pad4(caplen))):]
			if typ == ngEnhancedPacket {
				if v, ok := ngOption(rd.order, opts, 2); ok && len(v) == 4 { // epb_flags
					flags := rd.order.Uint32(v)
					switch flags & 3 {
					case 1:
						dir = dirIn
					case 2:
						dir = dirOut
					}
					// Bits 5-8: the FCS length in bytes, 0 when
					// not known (then the interface's holds).
					if n := int(flags>>5) & 0xf; n != 0 {
						fcs = n
					}
				}
			}
		case ngSimplePacket:
			if len(body) < 4 {
				return Frame{}, fail("short pcapng simple packet block")
			}
			if len(rd.ifaces) == 0 {
				return Frame{}, fail("pcapng simple packet block before any interface description")
			}
			wire = rd.order.Uint32(body[0:])
			caplen = min(wire, uint32(len(body)-4))
			if s := rd.ifaces[0].snaplen; s != 0 {
				caplen = min(caplen, s)
			}
			data = body[4 : 4+caplen]
		}
		if int(ifid) >= len(rd.ifaces) {
			return Frame{}, fail("packet on interface %d, but the section describes %d", ifid, len(rd.ifaces))
		}
		if caplen > maxCaptureLen {
			return Frame{}, fail("capture length %d exceeds %d", caplen, maxCaptureLen)
		}
		rd.index++
		ifc := rd.ifaces[ifid]
		if !supportedLinkType(ifc.linkType) {
			name := fmt.Sprintf("interface %d", ifid)
			if ifc.name != "" {
				name = fmt.Sprintf("interface %d (%s)", ifid, ifc.name)
			}
			return Frame{Index: rd.index, WireLen: int(wire), Skip: fmt.Sprintf("%s has link type %s, which xdpfw does not replay", name, linkTypeName(ifc.linkType))}, nil
		}
		if fcs < 0 {
			fcs = ifc.fcs
		}
		data, w := withoutFCS(data, int(wire), fcs)
		f := convert(rd.index, ifc.linkType, append([]byte(nil), data...), w, dir)
		if typ != ngSimplePacket {
			f.Time = ngTime(ts, ifc.tsresol)
		}
		return f, nil
	}
}

// ngTime is a pcapng timestamp of ts units of resolution resol (if_tsresol).
func ngTime(ts uint64, resol byte) time.Time {
	if resol&0x80 != 0 {
		sec := float64(ts) / math.Exp2(float64(resol&0x7f))
		whole := math.Floor(sec)
		return time.Unix(int64(whole), int64((sec-whole)*1e9))
	}
	unit := uint64(1)
	for range min(resol, 19) {
		unit *= 10
	}
	sec, frac := ts/unit, ts%unit
	if unit >= 1e9 {
		return time.Unix(int64(sec), int64(frac/(unit/1e9)))
	}
	return time.Unix(int64(sec), int64(frac*(1e9/unit)))
}

// withoutFCS is a record of wire bytes, data of them captured, without the
// fcs bytes of frame check sequence the capture says it ends with: XDP
// never sees them (the NIC strips them), and a rule's length is the
// frame's without them. A record cut before its FCS keeps what it has.
func withoutFCS(data []byte, wire, fcs int) ([]byte, int) {
	if fcs <= 0 {
		return data, wire
	}
	wire = max(wire-fcs, 0)
	return data[:min(len(data), wire)], wire
}

func pad4(n uint32) uint32 { return (n + 3) &^ 3 }

func trimNul(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// ngOption finds option code in a pcapng option list.
func ngOption(order binary.ByteOrder, opts []byte, code uint16) ([]byte, bool) {
	for len(opts) >= 4 {
		c, n := order.Uint16(opts[0:]), int(order.Uint16(opts[2:]))
		if c == 0 || len(opts)-4 < n {
			return nil, false
		}
		if c == code {
			return opts[4 : 4+n], true
		}
		opts = opts[min(len(opts), 4+int(pad4(uint32(n)))):]
	}
	return nil, false
}

// ReadFrames reads every frame of a capture (see Open). Frames the reader
// marks Skip are included. Replay itself streams with Open; ReadFrames is
// for small captures held whole (fixtures, benchmarks).
func ReadFrames(path string) ([]Frame, error) {
	rd, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	frames := []Frame{}
	for {
		f, err := rd.Next()
		if err == io.EOF {
			return frames, nil
		}
		if err != nil {
			return nil, err
		}
		frames = append(frames, f)
	}
}
