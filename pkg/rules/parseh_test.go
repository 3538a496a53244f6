package rules

// A line-by-line transliteration of xdp/parse.h (u32 arithmetic, PKT_AT's
// offset mask and data_end checks included), used to check that Decode
// agrees with the C on every frame the fuzzer can think of. If parse.h
// changes, change this with it.

import "testing"

const (
	cOffMask        = 0x3fff
	cProtoKeyNonIP  = 256
	cProtoKeyND     = 257
	cProtoKeyARP    = 258
	cParseOK        = 0
	cParseMalformed = 1
)

type cPkt struct {
	protoKey     uint32
	family       uint32
	hasPorts     uint32
	sport, dport uint16
	saddr, daddr [16]byte
}

// pktAt is PKT_AT: n readable bytes at off (masked), or nil.
func pktAt(data []byte, off, n uint32) []byte {
	o := off & cOffMask
	if int(o)+int(n) > len(data) {
		return nil
	}
	return data[o:]
}

func cIsExtHdr(nh uint32) bool {
	return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60
}

func cParseL4(data []byte, off, l3end uint32, p *cPkt) int {
	var h []byte
	switch p.protoKey {
	case 6:
		if h = pktAt(data, off, 20); off+20 > l3end || h == nil {
			return cParseMalformed
		}
		if uint32(h[12]>>4) < 5 || off+uint32(h[12]>>4)*4 > l3end {
			return cParseMalformed
		}
	case 17:
		if h = pktAt(data, off, 8); off+8 > l3end || h == nil {
			return cParseMalformed
		}
	case 1:
		if p.family != 4 {
			return cParseOK
		}
		if off+4 > l3end || pktAt(data, off, 4) == nil {
			return cParseMalformed
		}
		return cParseOK
	case 58:
		if p.family != 6 {
			return cParseOK
		}
		if h = pktAt(data, off, 4); off+4 > l3end || h == nil {
			return cParseMalformed
		}
		if h[0] >= 133 && h[0] <= 137 {
			p.protoKey = cProtoKeyND
		}
		return cParseOK
	default:
		return cParseOK
	}
	p.hasPorts = 1
	p.sport = uint16(h[0])<<8 | uint16(h[1])
	p.dport = uint16(h[2])<<8 | uint16(h[3])
	return cParseOK
}

func cParseIPv4(data []byte, off, length uint32, p *cPkt) int {
	h := pktAt(data, off, 20)
	if h == nil || off+20 > length {
		return cParseMalformed
	}
	if h[0]>>4 != 4 || h[0]&0xf < 5 {
		return cParseMalformed
	}
	hlen := uint32(h[0]&0xf) * 4
	tot := uint32(h[2])<<8 | uint32(h[3])
	if tot < hlen || off+tot > length {
		return cParseMalformed
	}
	p.family = 4
	p.protoKey = uint32(h[9])
	copy(p.saddr[:4], h[12:16])
	copy(p.daddr[:4], h[16:20])
	if (uint32(h[6])<<8|uint32(h[7]))&0x1fff != 0 {
		return cParseOK
	}
	return cParseL4(data, off+hlen, off+tot, p)
}

func cParseIPv6(data []byte, off, length uint32, p *cPkt) int {
	h := pktAt(data, off, 40)
	if h == nil || off+40 > length {
		return cParseMalformed
	}
	if h[0]>>4 != 6 {
		return cParseMalformed
	}
	l3end := off + 40 + (uint32(h[4])<<8 | uint32(h[5]))
	if l3end > length {
		return cParseMalformed
	}
	p.family = 6
	copy(p.saddr[:], h[8:24])
	copy(p.daddr[:], h[24:40])
	nh := uint32(h[6])
	cur := off + 40
	for i := 0; i < 8; i++ {
		if !cIsExtHdr(nh) {
			break
		}
		x := pktAt(data, cur, 8)
		if cur+8 > l3end || x == nil {
			return cParseMalformed
		}
		var xlen uint32
		switch nh {
		case 44:
			nh = uint32(x[0])
			if (uint32(x[2])<<8|uint32(x[3]))&0xfff8 != 0 {
				p.protoKey = nh
				return cParseOK
			}
			xlen = 8
		case 51:
			nh = uint32(x[0])
			xlen = (uint32(x[1]) + 2) * 4
		default:
			nh = uint32(x[0])
			xlen = (uint32(x[1]) + 1) * 8
		}
		cur += xlen
	}
	if cIsExtHdr(nh) {
		return cParseMalformed
	}
	if cur > l3end {
		return cParseMalformed
	}
	p.protoKey = nh
	return cParseL4(data, cur, l3end, p)
}

func cParseFrame(data []byte, p *cPkt) int {
	length := uint32(len(data))
	off := uint32(14)
	h := pktAt(data, 0, 14)
	if h == nil {
		return cParseMalformed
	}
	typ := uint32(h[12])<<8 | uint32(h[13])
	for i := 0; i < 2; i++ {
		if typ != 0x8100 && typ != 0x88A8 {
			break
		}
		if h = pktAt(data, off, 4); h == nil {
			return cParseMalformed
		}
		typ = uint32(h[2])<<8 | uint32(h[3])
		off += 4
	}
	switch typ {
	case 0x0800:
		return cParseIPv4(data, off, length, p)
	case 0x86DD:
		return cParseIPv6(data, off, length, p)
	case 0x0806:
		p.protoKey = cProtoKeyARP
		return cParseOK
	case 0x8100, 0x88A8:
		return cParseMalformed
	default:
		p.protoKey = cProtoKeyNonIP
		return cParseOK
	}
}

// cView maps a Packet onto what struct pkt would hold.
func cView(p *Packet) cPkt {
	var c cPkt
	switch p.Kind {
	case KindARP:
		c.protoKey = cProtoKeyARP
		return c
	case KindOther:
		c.protoKey = cProtoKeyNonIP
		return c
	case KindIPv4:
		c.family = 4
		a, b := p.Src.As4(), p.Dst.As4()
		copy(c.saddr[:], a[:])
		copy(c.daddr[:], b[:])
	case KindIPv6:
		c.family = 6
		c.saddr, c.daddr = p.Src.As16(), p.Dst.As16()
	}
	c.protoKey = uint32(p.Proto)
	if p.ND {
		c.protoKey = cProtoKeyND
	}
	if p.HasPorts {
		c.hasPorts, c.sport, c.dport = 1, p.Sport, p.Dport
	}
	return c
}

func checkAgainstParseH(t *testing.T, frame []byte) {
	t.Helper()
	var c cPkt
	res := cParseFrame(frame, &c)
	p := Decode(frame)
	if (res == cParseMalformed) != p.Malformed {
		t.Fatalf("frame %x: parse.h malformed=%v, Decode malformed=%v (%s)", frame, res == cParseMalformed, p.Malformed, p.Problem)
	}
	if p.Malformed {
		return
	}
	if got := cView(&p); got != c {
		t.Fatalf("frame %x:\nparse.h %+v\nDecode  %+v", frame, c, got)
	}
}

func TestDecodeMatchesParseH(t *testing.T) {
	for _, tc := range decodeCases(t) {
		checkAgainstParseH(t, tc.frame)
	}
	// Every truncation of every case: the bounds are where models drift.
	for _, tc := range decodeCases(t) {
		for n := range len(tc.frame) {
			checkAgainstParseH(t, tc.frame[:n])
		}
	}
}

// FuzzDecodeMatchesParseH compares Decode with the transliterated C on
// frames up to 4096 bytes: a linear XDP buffer is at most a page, and the
// C's 14-bit offset mask only matters beyond 16 KiB.
func FuzzDecodeMatchesParseH(f *testing.F) {
	for _, tc := range decodeCases(f) {
		f.Add(tc.frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > 4096 {
			return
		}
		checkAgainstParseH(t, frame)
	})
}
