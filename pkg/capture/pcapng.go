// Package capture writes what `xdpfw capture` copies out of the datapath:
// pcapng files whose packets carry their verdict in a comment, and one
// line per packet for a terminal.
package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// pcapng blocks and options (draft-ietf-opsawg-pcapng), written in this
// machine's byte order, which the section header's magic declares.
const (
	blockSection   = 0x0A0D0D0A
	blockInterface = 0x00000001
	blockPacket    = 0x00000006 // enhanced packet block
	byteOrderMagic = 0x1A2B3C4D
	linkEthernet   = 1
	optEnd         = 0
	optComment     = 1
	optIfName      = 2
	optIfTsresol   = 9
	tsresolNanos   = 9 // 10^-9 s
)

// Writer writes a pcapng stream: a section header, an interface block
// the first time each interface is seen, and a packet block per packet
// with its comment. Every packet is flushed, so a pipe (`-w - | tcpdump
// -r -`) sees it at once.
type Writer struct {
	w       *bufio.Writer
	snaplen uint32
	ifaces  map[int]uint32 // ifindex -> interface block id
	order   binary.AppendByteOrder
}

// NewWriter writes the section header to w.
func NewWriter(w io.Writer, snaplen uint32) (*Writer, error) {
	pw := &Writer{w: bufio.NewWriter(w), snaplen: snaplen, ifaces: map[int]uint32{}, order: binary.NativeEndian}
	var body []byte
	body = pw.order.AppendUint32(body, byteOrderMagic)
	body = pw.order.AppendUint16(body, 1) // major
	body = pw.order.AppendUint16(body, 0) // minor
	body = pw.order.AppendUint64(body, ^uint64(0))
	if err := pw.block(blockSection, body, nil); err != nil {
		return nil, err
	}
	return pw, pw.w.Flush()
}

// Packet is one packet to write.
type Packet struct {
	Time    time.Time
	Ifindex int
	Iface   string // the interface's name, for its block
	Len     int    // the frame's length on the wire
	Data    []byte // what was captured of it
	Comment string
}

// WritePacket writes p, after its interface's block if it is the first
// packet of that interface.
func (pw *Writer) WritePacket(p Packet) error {
	id, err := pw.iface(p.Ifindex, p.Iface)
	if err != nil {
		return err
	}
	ts := uint64(p.Time.UnixNano())
	var body []byte
	body = pw.order.AppendUint32(body, id)
	body = pw.order.AppendUint32(body, uint32(ts>>32))
	body = pw.order.AppendUint32(body, uint32(ts))
	body = pw.order.AppendUint32(body, uint32(len(p.Data)))
	body = pw.order.AppendUint32(body, uint32(p.Len))
	body = append(body, p.Data...)
	body = append(body, make([]byte, pad4(len(p.Data)))...)
	var opts []byte
	if p.Comment != "" {
		opts = pw.option(nil, optComment, []byte(p.Comment))
	}
	if err := pw.block(blockPacket, body, opts); err != nil {
		return err
	}
	return pw.w.Flush()
}

// iface is the id of interface ifindex's block, written first if it is
// the interface's first packet.
func (pw *Writer) iface(ifindex int, name string) (uint32, error) {
	if id, ok := pw.ifaces[ifindex]; ok {
		return id, nil
	}
	id := uint32(len(pw.ifaces))
	var body []byte
	body = pw.order.AppendUint16(body, linkEthernet)
	body = pw.order.AppendUint16(body, 0)
	body = pw.order.AppendUint32(body, pw.snaplen)
	opts := pw.option(nil, optIfName, []byte(name))
	opts = pw.option(opts, optIfTsresol, []byte{tsresolNanos})
	if err := pw.block(blockInterface, body, opts); err != nil {
		return 0, err
	}
	pw.ifaces[ifindex] = id
	return id, nil
}

// Finish ends a stream: one that has no packet gets an interface block
// (named name), without which readers refuse the whole file (tcpdump:
// "no Interface Description Blocks"), as tcpdump -w's own empty files
// have one.
func (pw *Writer) Finish(name string) error {
	if len(pw.ifaces) > 0 {
		return nil
	}
	if _, err := pw.iface(-1, name); err != nil {
		return err
	}
	return pw.w.Flush()
}

// option appends one option, padded to 32 bits.
func (pw *Writer) option(opts []byte, code uint16, value []byte) []byte {
	opts = pw.order.AppendUint16(opts, code)
	opts = pw.order.AppendUint16(opts, uint16(len(value)))
	opts = append(opts, value...)
	return append(opts, make([]byte, pad4(len(value)))...)
}

// block writes a block: type, total length, body, options (ended by
// opt_endofopt when there are any), total length again.
func (pw *Writer) block(typ uint32, body, opts []byte) error {
	if len(opts) > 0 {
		opts = pw.order.AppendUint32(opts, optEnd) // code 0, length 0
	}
	total := 12 + len(body) + len(opts)
	var b []byte
	b = pw.order.AppendUint32(b, typ)
	b = pw.order.AppendUint32(b, uint32(total))
	b = append(b, body...)
	b = append(b, opts...)
	b = pw.order.AppendUint32(b, uint32(total))
	if _, err := pw.w.Write(b); err != nil {
		return fmt.Errorf("write capture: %w", err)
	}
	return nil
}

func pad4(n int) int { return (4 - n%4) % 4 }
