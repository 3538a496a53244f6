package loader

import (
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

// Where a set's entries go in its bucket arrays (setbuckets.go): which
// lengths the buckets take, first-fit puts, and the new array built when
// a put cannot fit.

// admit updates each bucket array's head for the prefixes of its family
// in ps, about to be written, before any is: lengths the buckets take
// (admitLens), and trie_max for the rest.
func (h *setHandle) admit(ps iter.Seq[netip.Prefix]) {
	var counts [2]map[uint8]int
	for p := range ps {
		fam := famOf(p)
		if h.bkt[fam] == nil {
			continue
		}
		if counts[fam] == nil {
			counts[fam] = map[uint8]int{}
		}
		counts[fam][uint8(p.Bits())]++
	}
	for fam, c := range counts {
		if c == nil {
			continue
		}
		b := h.bkt[fam]
		lens, trieMax := admitLens(b.lens(), b.trieMax(), c), b.trieMax()
		for l := range c {
			if !slices.Contains(lens, l) {
				trieMax = max(trieMax, l+1)
			}
		}
		b.setHead(lens, trieMax, b.count())
	}
}

// place writes the prefixes of ps that go to the buckets, with flags, in
// one placement per family, so a large load builds each array once;
// writing their entries after rewrites them in place.
func (h *setHandle) place(ps []netip.Prefix, flags uint8) error {
	return h.placeEach(ps, func(int) (uint8, error) { return flags, nil })
}

// placeEach is place with each prefix's flags given by flags of its
// index. A change
// puts its added keys so too, all at once: put a chunk at a time, a
// reload of the whole set rebuilt its array for each chunk a few keys of
// which found both their buckets full.
func (h *setHandle) placeEach(ps []netip.Prefix, flags func(int) (uint8, error)) error {
	h.admit(slices.Values(ps))
	var (
		n     [2]int
		slots [2][]bslot
	)
	for _, p := range ps {
		if kind := h.kindOf(p); kind == kindBkt4 || kind == kindBkt6 {
			n[kind-kindBkt4]++
		}
	}
	for fam := range 2 {
		slots[fam] = make([]bslot, 0, n[fam])
	}
	for i, p := range ps {
		if kind := h.kindOf(p); kind == kindBkt4 || kind == kindBkt6 {
			f, err := flags(i)
			if err != nil {
				return err
			}
			slots[kind-kindBkt4] = append(slots[kind-kindBkt4], bslot{keyOf(p), f})
		}
	}
	for fam := range 2 {
		if err := h.putBuckets(fam, slots[fam]); err != nil {
			return err
		}
	}
	return nil
}

// putBuckets writes slots into family fam's bucket array. More than it
// has room for, or one whose buckets are both full, and the set gets a
// new array with all its keys. slots is the caller's to give: its
// elements are overwritten.
func (h *setHandle) putBuckets(fam int, slots []bslot) error {
	b := h.bkt[fam]
	if len(slots) == 0 {
		return nil
	}
	// Keys the array holds take their flags in place; the rest are new,
	// kept at the front of slots: a copy of them was 320 MB more of a
	// 10M-prefix load.
	fresh := slots[:0]
	for _, sl := range slots {
		if e, s, ok := b.find(sl.key); ok {
			atomic.StoreUint64(b.first(e, s), b.word0(sl.key, sl.flags))
		} else {
			fresh = append(fresh, sl)
		}
	}
	var left []bslot
	// Deleted IPv6 slots (tombs) are taken until a rebuild. New keys as
	// many as a quarter of those held, and as the buckets, are placed
	// with them in a new array outright: put one by one, some of so many
	// found both buckets full, and the array was built anew after all (a
	// set reloaded whole a second time put 1M keys, then placed 2M). A
	// few keys added to a small set are still put.
	need := int(b.count()+b.tombs()) + len(fresh)
	many := len(fresh)*4 >= int(b.count()) && len(fresh) >= int(b.nbuckets())
	if need*4 > int(b.nbuckets())*b.slots()*3 || many {
		left = fresh
	} else {
		for _, sl := range fresh {
			if !b.put(sl.key, sl.flags) {
				left = append(left, sl)
			}
		}
	}
	if len(left) == 0 {
		return nil
	}
	return h.rebuildBuckets(fam, left)
}

// sweep settles a prepared change in the bucket arrays of the families
// where its keys (changed, by family) are many, in one pass over the
// array: every slot not in its resting form is the change's (the set was
// resting before it), and becomes resting if an element in generation n,
// now live, or is emptied if not, as writing and removing them key by key
// does. Two finds of each key, at random in the array, were 0.4 s of a
// reload of 1M; a pass over it reads it in order. It reports the families
// it settled.
func (h *setHandle) sweep(n uint32, changed [2]int) (swept [2]bool) {
	for fam, b := range h.bkt {
		// Each key's find reads a bucket or two at random; the pass reads
		// every bucket, in order.
		if b == nil || changed[fam] < int(b.nbuckets())/4 {
			continue
		}
		for e := uint32(1); e <= b.nbuckets(); e++ {
			for s := range b.slots() {
				sl, ok := b.at(e, s)
				switch {
				case !ok || sl.flags == setClean:
				case sl.flags&setElem(n) != 0:
					atomic.StoreUint64(b.first(e, s), b.word0(sl.key, setClean))
				default:
					b.delAt(e, s)
				}
			}
		}
		swept[fam] = true
	}
	return swept
}

// setBktCrowded is the size up to which an array is doubled for keys
// crowding their buckets whatever their number (rebuildBuckets).
const setBktCrowded = 1 << 17

// rebuildBuckets builds the set a new bucket array for family fam with
// its keys and slots, keys it does not hold (putBuckets wrote those in
// place), and swaps it into the set's slot: a packet reads the old array
// or the new, each whole. No key is in both, so they are not merged by
// key: a map of the array's keys was some 600 MB of a 10M-key reload.
func (h *setHandle) rebuildBuckets(fam int, slots []bslot) error {
	b := h.bkt[fam]
	// The keys kept are read from the old array where they are, listed
	// by their places (4 bytes a key): a list of the keys was 32 bytes a
	// key, 64 MB of a reload of 1M other prefixes, the new keys copied
	// into it.
	at := make([]uint32, 0, min(int(b.count()), int(b.nbuckets())*b.slots()))
	for e := uint32(1); e <= b.nbuckets(); e++ {
		for s := range b.slots() {
			if _, ok := b.at(e, s); ok {
				at = append(at, e<<3|uint32(s))
			}
		}
	}
	n := len(at) + len(slots)
	slot := func(i int) bslot {
		if i < len(at) {
			sl, _ := b.at(at[i]>>3, int(at[i]&7))
			return sl
		}
		return slots[i-len(at)]
	}
	need := bucketsFor(b.v6, n+n/4) // room to grow
	nb := max(b.nbuckets(), need)
	bigger, err := newBuckets(b.v6, nb, n, slot, b.lens(), b.trieMax())
	// Keys crowding a pair of buckets (a small array, or a list crafted
	// against the hash) are spread by a larger array: IPv6 keys are folded
	// anew by each array's own seed, and an IPv4 key, hashed by public
	// constants alone, is its whole slot word, so it parts from any other
	// at some size. IPv4 hosts sharing both buckets at sixteen times a
	// small array's size are easy to find (15 in a few /16s at 256
	// buckets), so doubling goes on to 2^17 buckets (8 MiB), where fifteen
	// keys sharing both takes 34 bits alike, as many as the keys of four
	// lengths have. It stops there, or at sixteen times what the keys'
	// number needs (not the array's, which would let each load grow it
	// sixteen times more): keys whose hashes all begin alike fall in the
	// same few buckets at every size (one in 4096 IPv4 hosts in the first
	// 64th of every array), and doubled to SET_BKT_MAX a list of them
	// made the load allocate up to 1 GiB of array and more of placement,
	// 64 times a million hosts' own 16 MiB.
	limit := min(max(16*need, setBktCrowded), layout.SetBktMax)
	for errors.Is(err, errNoFit) && nb < limit {
		nb = min(2*nb, limit)
		bigger, err = newBuckets(b.v6, nb, n, slot, b.lens(), b.trieMax())
	}
	if errors.Is(err, errNoFit) {
		return fmt.Errorf("%d entries crowd the same few buckets even in an array of %d (%d MiB, the most they are given): a list made against the set's hash, refused", n, nb, (uint64(nb)+1)*bktWords*8>>20)
	}
	if err != nil {
		return err
	}
	if err := h.outer[fam].Put(h.slot, bigger.m); err != nil {
		bigger.Close()
		return fmt.Errorf("swap a set's buckets: %w", err)
	}
	b.Close()
	h.bkt[fam] = bigger
	return nil
}

// admitLens decides which of lens (the lengths of a family's entries about
// to be written, with their counts) the buckets take: those they hold,
// and new ones, most entries first, while there is room and the trie
// holds none of that length (none at or above trieMax). It gives the new
// list, longest first.
func admitLens(cur []uint8, trieMax uint8, counts map[uint8]int) []uint8 {
	out := slices.Clone(cur)
	cand := make([]uint8, 0, len(counts))
	for l := range counts {
		if l > 0 && !slices.Contains(out, l) && l+1 > trieMax {
			cand = append(cand, l)
		}
	}
	slices.SortFunc(cand, func(a, b uint8) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return int(b) - int(a)
	})
	for _, l := range cand {
		if len(out) == layout.SetBktLens {
			break
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b uint8) int { return int(b) - int(a) })
	return out
}
