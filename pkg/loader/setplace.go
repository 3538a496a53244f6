package loader

import (
	"fmt"
	"slices"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// Where a set's IPv4 entries go in its bucket array (setbuckets.go):
// which lengths the buckets take, first-fit puts, and the new array
// built when a put cannot fit.

// admit updates the buckets' head for es's IPv4 entries before any is
// written: lengths the buckets take (admit), and trie_max for the rest.
func (h *setHandle) admit(es []entry) {
	counts := map[uint8]int{}
	for _, e := range es {
		if e.p.Addr().Is4() {
			counts[uint8(e.p.Bits())]++
		}
	}
	if len(counts) == 0 {
		return
	}
	b := h.bkt
	lens, trieMax := admit(b.lens(), b.trieMax(), counts), b.trieMax()
	for l := range counts {
		if !slices.Contains(lens, l) {
			trieMax = max(trieMax, l+1)
		}
	}
	b.setHead(lens, trieMax, b.count())
}

// place writes the IPv4 entries of es that go to the buckets in one
// placement, so a large load builds the array once; writing es after
// rewrites them in place.
func (h *setHandle) place(es []entry) error {
	if h.bkt == nil {
		return nil
	}
	h.admit(es)
	var words []uint64
	for _, e := range es {
		if h.kindOf(e.p) == kindBkt4 {
			words = append(words, slotKey(e.p)|uint64(e.val.Flags)<<40)
		}
	}
	return h.putBuckets(words)
}

// putBuckets writes slot words into the bucket array. More than it has
// room for, or one whose buckets are both full, and the set gets a new
// array with all its keys.
func (h *setHandle) putBuckets(words []uint64) error {
	b := h.bkt
	if len(words) == 0 {
		return nil
	}
	fresh := 0
	for _, w := range words {
		if b.find(w&bktKeyMask) == nil {
			fresh++
		}
	}
	var left []uint64
	if need := int(b.count()) + fresh; need*4 > int(b.nbuckets())*layout.SetBktSlots*3 {
		left = words
	} else {
		for _, w := range words {
			if !b.put(w&bktKeyMask, uint8(w>>40)) {
				left = append(left, w)
			}
		}
	}
	if len(left) == 0 {
		return nil
	}
	return h.rebuildBuckets(left)
}

// rebuildBuckets builds the set a new bucket array with its keys and
// words (which replace a key's flags) and swaps it into the set's slot:
// a packet reads the old array or the new, each whole.
func (h *setHandle) rebuildBuckets(words []uint64) error {
	b, left := h.bkt, words
	all := b.words()
	pos := make(map[uint64]int, len(all)+len(left))
	for i, w := range all {
		pos[w&bktKeyMask] = i
	}
	for _, w := range left {
		if i, ok := pos[w&bktKeyMask]; ok {
			all[i] = w
		} else {
			pos[w&bktKeyMask] = len(all)
			all = append(all, w)
		}
	}
	nb := max(b.nbuckets(), bucketsFor(len(all)+len(all)/4)) // room to grow
	bigger, err := newBuckets(nb, all, b.lens(), b.trieMax())
	if err != nil {
		return err
	}
	if err := h.outer.Put(h.slot, bigger.m); err != nil {
		bigger.Close()
		return fmt.Errorf("swap a set's buckets: %w", err)
	}
	b.Close()
	h.bkt = bigger
	return nil
}
