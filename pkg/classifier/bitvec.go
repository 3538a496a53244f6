package classifier

import (
	"math/bits"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// VecWords is the number of 64-bit words in a rule vector.
const VecWords = layout.VecWords

// BitVec is a rule vector: bit r is set when the rule ranked r matches.
type BitVec [VecWords]uint64

func (v *BitVec) set(r int)      { v[r/64] |= 1 << (r % 64) }
func (v *BitVec) clear(r int)    { v[r/64] &^= 1 << (r % 64) }
func (v *BitVec) Has(r int) bool { return v[r/64]&(1<<(r%64)) != 0 }

// Summary has bit w set when word w of the vector is non-zero.
func (v *BitVec) Summary() uint64 {
	var s uint64
	for i, w := range v {
		if w != 0 {
			s |= 1 << i
		}
	}
	return s
}

// first is the lowest rank whose bit is set, or -1.
func (v *BitVec) first() int {
	for i, w := range v {
		if w != 0 {
			return i*64 + bits.TrailingZeros64(w)
		}
	}
	return -1
}

func (v *BitVec) or(o *BitVec) BitVec {
	var out BitVec
	for i := range v {
		out[i] = v[i] | o[i]
	}
	return out
}

func (v *BitVec) andNot(o *BitVec) BitVec {
	var out BitVec
	for i := range v {
		out[i] = v[i] &^ o[i]
	}
	return out
}

func (v *BitVec) and(o *BitVec) BitVec {
	var out BitVec
	for i := range v {
		out[i] = v[i] & o[i]
	}
	return out
}
