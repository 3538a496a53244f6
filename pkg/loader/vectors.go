package loader

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/layout"
)

// The rule vectors live in `vectors` sized to the ruleset (see
// xdp/layout.h, enum vec_sizes): a generation's vectors are packed one
// entry after another, each value the summary and the first words of the
// vector, as many as the map holds. This file places a generation's
// vectors in the map and writes them; grow.go makes the map larger, in
// entries or words, when they do not fit.

const (
	vecEntriesMin = layout.VecEntriesMin
	vecWordsMin   = layout.VecWordsMin
	vecWordsMax   = layout.VecWords
)

// vecWordsFor is the words a map needs for vectors of nrules rules: whole
// 64-byte values (7 words and the summary, then 8 more at a time), so a
// ruleset growing a rule at a time grows the map every 512 rules, and all
// 64 from 4032 rules on.
func vecWordsFor(nrules int) uint32 {
	words := uint32(nrules+63) / 64
	if words <= vecWordsMin {
		return vecWordsMin
	}
	return min(vecWordsMax, (words+1+7)/8*8-1)
}

// vecValueSize is the value size of a map of vectors of words words.
func vecValueSize(words uint32) uint32 { return 8 + 8*words }

// vecWords is the words m's vectors hold.
func vecWords(m *ebpf.Map) uint32 { return (m.ValueSize() - 8) / 8 }

// vecNeed is the entries a generation of t takes: one per atom of each
// dimension in use, then the all-ones vector.
func vecNeed(t *classifier.Tables) uint32 {
	n := uint32(1)
	for d, used := range t.Used {
		if used {
			n += uint32(len(t.Vectors[d]))
		}
	}
	return n
}

// vecSpan is the entries [start, end) a generation's config says its
// vectors take: from its first dimension's base (every base is at or
// after it) to vec_end. A generation never written has none.
func vecSpan(c *xdpfwGenConfig) (start, end uint32) {
	if c.VecEnd == 0 {
		return 0, 0
	}
	start = c.VecEnd
	for _, b := range c.VecBase {
		start = min(start, b)
	}
	return start, c.VecEnd
}

// mapsFull is a commit's refusal when the new generation does not fit
// the maps sized to the ruleset: its vectors (too many rules for the
// words, or too many atoms to fit beside the live generation), or its
// value atoms (rare dimensions the map has no room for), or its address
// buckets (more keys than leave half their slots free). The caller
// grows them (grow.go) and commits again. Nothing has been written then.
type mapsFull struct {
	need         uint32 // entries the new generation's vectors take; 0: they fit
	words        uint32 // words its vectors need
	chunks       uint32 // value_atoms entries it takes; 0: they fit
	bits4, bits6 uint32 // the address buckets to grow to, as bits; 0: they fit
}

func (e *mapsFull) Error() string {
	var parts []string
	if e.need > 0 {
		parts = append(parts, fmt.Sprintf("the rule vectors need %d entries of %d words and do not fit the map beside the live ones", e.need, e.words))
	}
	if e.chunks > 0 {
		parts = append(parts, fmt.Sprintf("the value atoms need %d entries a generation, more than the map has", e.chunks))
	}
	for fam, b := range map[int]uint32{4: e.bits4, 6: e.bits6} {
		if b > 0 {
			parts = append(parts, fmt.Sprintf("the IPv%d address buckets need %d a generation, more than the map has", fam, 1<<b))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// placeVectors is the first entry of a generation of need entries of
// words words in m, placed so it does not overlap the live generation's
// [liveStart, liveEnd): at entry 0 when it fits before, else right
// after. So two generations of about n entries alternate between the
// map's two ends.
func placeVectors(m *ebpf.Map, liveStart, liveEnd, need, words uint32) (uint32, error) {
	if words <= vecWords(m) {
		if need <= liveStart {
			return 0, nil
		}
		if liveEnd+need <= m.MaxEntries() {
			return liveEnd, nil
		}
	}
	return 0, &mapsFull{need: need, words: words}
}

// vecCapacity is the entries a map grows to for a generation of need
// entries beside a live one ending at liveEnd: room after the live one
// for this generation and one more of its size, and an eighth to spare,
// so changes of a few rules do not grow it again. Whole 1024 entries.
func vecCapacity(liveEnd, need uint32) uint32 {
	n := liveEnd + 2*need + need/8
	return max(vecEntriesMin, (n+1023)&^1023)
}

// writeVectors writes t's vectors into m from entry first on, and their
// layout into conf.
func writeVectors(m *ebpf.Map, t *classifier.Tables, first uint32, conf *xdpfwGenConfig) error {
	n := vecNeed(t)
	w := newVecWriter(m, first, int(min(n, vecBatch)))
	var base [layout.NumDims]uint32
	for d, used := range t.Used {
		if !used {
			continue
		}
		base[d] = w.entry
		for a := range t.Vectors[d] {
			if err := w.put(t.Summary(d, uint32(a)), &t.Vectors[d][a]); err != nil {
				return err
			}
		}
	}
	// The all-ones vector, for the dimensions no rule uses: a zero
	// summary, every rule's bit.
	all := w.entry
	var ones classifier.BitVec
	for i := range ones {
		ones[i] = ^uint64(0)
	}
	if err := w.put(0, &ones); err != nil {
		return err
	}
	if err := w.flush(); err != nil {
		return err
	}
	for d, used := range t.Used {
		if !used {
			base[d] = all
		}
	}
	conf.VecBase, conf.VecEnd = base, first+n
	return nil
}

// vecBatch is the most vectors writeVectors writes per BatchUpdate. A
// whole generation at once took 2 MB of fresh memory at 4096 rules, whose
// first touches (page faults, about 11 µs each on a paravirtualised VM)
// cost a CLI commit more than the batches' extra calls do.
const vecBatch = 256

// vecWriter writes vectors to consecutive entries of a map a batch at a
// time, through one buffer.
type vecWriter struct {
	m     *ebpf.Map
	words int
	entry uint32   // the entry the next put writes
	keys  []uint32 // the buffered values' entries
	vals  reflect.Value
	flat  []uint64 // vals' memory as words: summary, then the vector's
}

func newVecWriter(m *ebpf.Map, first uint32, batch int) *vecWriter {
	words := int(vecWords(m))
	vals := reflect.MakeSlice(reflect.SliceOf(reflect.ArrayOf(words+1, reflect.TypeFor[uint64]())), batch, batch)
	return &vecWriter{m: m, words: words, entry: first, keys: make([]uint32, 0, batch), vals: vals,
		flat: unsafe.Slice((*uint64)(vals.UnsafePointer()), batch*(words+1))}
}

// put buffers the next entry, the words of v the map holds, writing the
// batch when it is full.
func (w *vecWriter) put(summary uint64, v *classifier.BitVec) error {
	if len(w.keys) == cap(w.keys) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	i := len(w.keys) * (w.words + 1)
	w.flat[i] = summary
	copy(w.flat[i+1:i+1+w.words], v[:w.words])
	w.keys = append(w.keys, w.entry)
	w.entry++
	return nil
}

// flush writes the buffered entries.
func (w *vecWriter) flush() error {
	if len(w.keys) == 0 {
		return nil
	}
	// BatchUpdate takes a slice of arrays: the value size is the map's,
	// known only at run time.
	if _, err := w.m.BatchUpdate(w.keys, w.vals.Slice(0, len(w.keys)).Interface(), nil); err != nil {
		return fmt.Errorf("write the vectors: %w", err)
	}
	w.keys = w.keys[:0]
	return nil
}

// newVectors makes a vectors map of capacity entries of words words
// holding the live generation's entries [start, end) of old, at the same
// entries, their words past old's zero (no rule of the live generation
// has a bit there): the live config indexes it as it did old, so a
// program given it decides as the one reading old does.
func newVectors(spec *ebpf.MapSpec, old *ebpf.Map, start, end, capacity, words uint32) (*ebpf.Map, error) {
	ms := spec.Copy()
	ms.MaxEntries, ms.ValueSize = capacity, vecValueSize(words)
	m, err := ebpf.NewMap(ms)
	if err != nil {
		return nil, fmt.Errorf("create a vectors map of %d entries of %d words: %w", capacity, words, err)
	}
	from := make([]byte, old.ValueSize())
	to := make([]byte, m.ValueSize())
	for k := start; k < end; k++ {
		err := old.Lookup(k, from)
		if err == nil {
			copy(to, from)
			err = m.Put(k, to)
		}
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("copy the live vectors (entry %d): %w", k, err)
		}
	}
	return m, nil
}
