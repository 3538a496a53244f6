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
	Seq, Ack  uint32 // TCP's sequence and acknowledgement numbers
	ICMPType  uint8  // ICMP (IPv4) and ICMPv6 (IPv6)
	ICMPCode  uint8
	Len       int // pad to this many bytes (at least the headers need)
	// Ext are IPv6 extension headers (0, 43, 51, 60) before the fragment
	// header and the L4 header, ExtAfterFrag ones after the fragment
	// header: the chain parsing skips, of 8 or 16 bytes each.
	Ext, ExtAfterFrag []uint8
	IPv4Opts          int // 4-byte IPv4 option words (IHL 5 + this)
	// Atomic gives a whole IPv6 packet a fragment header of offset 0
	// without M (RFC 6946); Middle sets MF (M) on a later fragment.
	Atomic, Middle bool
	QinQ8100       bool // the outer of two tags is 0x8100, not 0x88a8
	Trailer        int  // bytes after the IP packet, outside its length
	Cut            int  // keep only the first Cut bytes (0: all)
}

// Bytes builds the frame.
func (f *Frame) Bytes() []byte {
	b := make([]byte, 12, 128)
	b[0], b[6] = 0x02, 0x02 // locally administered MACs
	b[5], b[11] = 2, 1
	for i, id := range f.VLANs {
		tpid := uint16(0x8100)
		if i == 0 && len(f.VLANs) == 2 && !f.QinQ8100 {
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
	b = append(b, make([]byte, f.Trailer)...)
	if f.Cut > 0 && f.Cut < len(b) {
		b = b[:f.Cut]
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
		binary.BigEndian.PutUint32(h[4:], f.Seq)
		binary.BigEndian.PutUint32(h[8:], f.Ack)
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
	h := make([]byte, 20+4*f.IPv4Opts)
	h[0] = 0x45 + uint8(f.IPv4Opts)
	h[1] = f.DSCP << 2
	for i := 20; i < len(h); i++ {
		h[i] = 1 // NOP options
	}
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)+len(l4)))
	switch f.Frag {
	case rules.FragFirst:
		h[6] = 0x20 // MF
	case rules.FragLater:
		h[6], h[7] = 0x00, 0xb9 // offset 185 (1480 bytes), last fragment
		if f.Middle {
			h[6] |= 0x20
		}
	default:
		if f.Atomic {
			h[6] = 0x40 // DF
		}
	}
	h[8] = f.TTL
	h[9] = f.Proto
	copy(h[12:], f.Src.AsSlice())
	copy(h[16:], f.Dst.AsSlice())
	return append(append(b, h...), l4...)
}

func (f *Frame) ipv6(b []byte) []byte {
	l4 := f.l4(true)
	// The chain is built from its end: each header names the next.
	ext, next := extChain(nil, f.ExtAfterFrag, f.Proto)
	if f.Frag != rules.FragNone || f.Atomic {
		frag := []byte{next, 0, 0, 0, 0, 0, 0, 7}
		switch f.Frag {
		case rules.FragFirst:
			frag[3] = 1 // M
		case rules.FragLater:
			frag[2], frag[3] = 0x05, 0xc8 // offset 185, last
			if f.Middle {
				frag[3] |= 1
			}
		}
		ext, next = append(frag, ext...), 44
	}
	ext, next = extChain(ext, f.Ext, next)
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

// extChain puts the extension headers types before rest, whose first
// header is next, and gives the chain and its first header's type.
func extChain(rest []byte, types []uint8, next uint8) ([]byte, uint8) {
	for i := len(types) - 1; i >= 0; i-- {
		n := 8 * (1 + i%2) // 8 or 16 bytes
		h := make([]byte, n)
		h[0] = next
		if types[i] == 51 { // AH: (len+2)*4 bytes
			h[1] = uint8(n/4 - 2)
		} else {
			h[1] = uint8(n/8 - 1)
		}
		if types[i] != 51 && n == 16 {
			h[2], h[3] = 1, 12 // a PadN option over the rest
		}
		rest, next = append(h, rest...), types[i]
	}
	return rest, next
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
