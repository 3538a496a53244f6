// Package rulegen generates rulesets and frames for differential tests:
// random rulesets over small pools of overlapping values, and frames
// built from a ruleset's own values and the edges around them (prefix
// boundaries, range ends, flag combinations), where a classifier that is
// off by one shows.
package rulegen

import (
	"encoding/binary"
	"net/netip"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// Frame describes one Ethernet frame field by field; Bytes builds it.
// Checksums are left zero: nothing in xdpfw reads them.
type Frame struct {
	VLANs     []uint16 // tag ids, outer first (802.1ad outer when two)
	EtherType uint16   // for non-IP frames (Src invalid)
	Src, Dst  netip.Addr
	DSCP, TTL uint8
	Frag      rules.FragClass
	Proto     uint8
	Sport     uint16 // TCP and UDP
	Dport     uint16
	TCPFlags  uint8
	ICMPType  uint8 // ICMP (IPv4) and ICMPv6 (IPv6)
	ICMPCode  uint8
	Len       int // pad to this many bytes (at least the headers need)
}

// Bytes builds the frame.
func (f *Frame) Bytes() []byte {
	b := make([]byte, 12, 128)
	b[0], b[6] = 0x02, 0x02 // locally administered MACs
	b[5], b[11] = 2, 1
	for i, id := range f.VLANs {
		tpid := uint16(0x8100)
		if i == 0 && len(f.VLANs) == 2 {
			tpid = 0x88a8
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, id&0x0fff)
	}
	switch {
	case f.Src.Is4():
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		b = f.ipv4(b)
	case f.Src.Is6():
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
		b = f.ipv6(b)
	default:
		b = binary.BigEndian.AppendUint16(b, f.EtherType)
		b = append(b, make([]byte, 46)...)
	}
	for len(b) < f.Len {
		b = append(b, 0)
	}
	// Grow the IP length fields over the padding, so the padding is
	// payload (else Len above the headers would only add trailer bytes).
	if f.Len > 0 && f.Src.IsValid() {
		f.fixLength(b)
	}
	return b
}

// l4 is the L4 header (none for a later fragment).
func (f *Frame) l4(v6 bool) []byte {
	if f.Frag == rules.FragLater {
		return make([]byte, 8) // payload bytes that must not be read as ports
	}
	switch {
	case f.Proto == rules.ProtoTCP:
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h, f.Sport)
		binary.BigEndian.PutUint16(h[2:], f.Dport)
		h[12] = 5 << 4
		h[13] = f.TCPFlags
		return h
	case f.Proto == rules.ProtoUDP:
		h := make([]byte, 8)
		binary.BigEndian.PutUint16(h, f.Sport)
		binary.BigEndian.PutUint16(h[2:], f.Dport)
		binary.BigEndian.PutUint16(h[4:], 8)
		return h
	case f.Proto == rules.ProtoICMP && !v6, f.Proto == rules.ProtoICMPv6 && v6:
		return []byte{f.ICMPType, f.ICMPCode, 0, 0, 0, 0, 0, 0}
	}
	return make([]byte, 8)
}

func (f *Frame) ipv4(b []byte) []byte {
	l4 := f.l4(false)
	h := make([]byte, 20)
	h[0] = 0x45
	h[1] = f.DSCP << 2
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	switch f.Frag {
	case rules.FragFirst:
		h[6] = 0x20 // MF
	case rules.FragLater:
		h[6], h[7] = 0x00, 0xb9 // offset 185 (1480 bytes), last fragment
	}
	h[8] = f.TTL
	h[9] = f.Proto
	copy(h[12:], f.Src.AsSlice())
	copy(h[16:], f.Dst.AsSlice())
	return append(append(b, h...), l4...)
}

func (f *Frame) ipv6(b []byte) []byte {
	l4 := f.l4(true)
	var ext []byte
	next := f.Proto
	if f.Frag != rules.FragNone {
		ext = []byte{f.Proto, 0, 0, 0, 0, 0, 0, 7}
		if f.Frag == rules.FragFirst {
			ext[3] = 1 // M
		} else {
			ext[2], ext[3] = 0x05, 0xc8 // offset 185, last
		}
		next = 44
	}
	h := make([]byte, 40)
	h[0] = 0x60 | f.DSCP>>2
	h[1] = f.DSCP << 6
	binary.BigEndian.PutUint16(h[4:], uint16(len(ext)+len(l4)))
	h[6] = next
	h[7] = f.TTL
	copy(h[8:], f.Src.AsSlice())
	copy(h[24:], f.Dst.AsSlice())
	return append(append(append(b, h...), ext...), l4...)
}

// fixLength makes the IP header claim every byte after it.
func (f *Frame) fixLength(b []byte) {
	off := 14 + 4*len(f.VLANs)
	n := len(b) - off
	if f.Src.Is4() {
		if n > 65535 {
			n = 65535
		}
		binary.BigEndian.PutUint16(b[off+2:], uint16(n))
	} else {
		n -= 40
		if n > 65535 {
			n = 65535
		}
		binary.BigEndian.PutUint16(b[off+4:], uint16(n))
	}
}
