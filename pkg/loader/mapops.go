package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Map helpers that use batch syscalls where the map type has them (hash,
// array), so a commit of thousands of entries costs a handful of syscalls.
// LPM tries have no batch operations and go one entry at a time.

const batchSize = 4096

// readAll returns every key and value of a hash or array map.
func readAll[K, V any](m *ebpf.Map) ([]K, []V, error) {
	var (
		keys []K
		vals []V
	)
	// No bigger a batch than the map: a commit reads small maps too, and
	// fresh memory costs its page faults.
	size := max(1, min(batchSize, int(m.MaxEntries())))
	err := forEachBatch(m, size, func(k []K, v []V) error {
		keys, vals = append(keys, k...), append(vals, v...)
		return nil
	})
	return keys, vals, err
}

// forEachBatch reads every entry of a hash map, size at a time into the
// same buffers, and hands each batch to fn, which copies what it keeps.
func forEachBatch[K, V any](m *ebpf.Map, size int, fn func([]K, []V) error) error {
	var cursor ebpf.MapBatchCursor
	keys, vals := make([]K, size), make([]V, size)
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		if n > 0 {
			if err := fn(keys[:n], vals[:n]); err != nil {
				return err
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %v: %w", m, err)
		}
	}
}

// keysOf returns every key of a map, one syscall per key (for LPM tries).
func keysOf[K any](m *ebpf.Map) ([]K, error) {
	var (
		keys []K
		next K
	)
	var prev any // nil asks for the first key
	for {
		err := m.NextKey(prev, &next)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return keys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("iterate %v: %w", m, err)
		}
		keys = append(keys, next)
		k := next
		prev = &k
	}
}

// deleteKeys removes keys, in batches where the map type allows. Keys
// already absent are passed over: what a commit deletes may have gone
// already, with a commit that stopped half-way.
func deleteKeys[K any](m *ebpf.Map, keys []K) error {
	if m.Type() == ebpf.LPMTrie {
		for i := range keys {
			if err := m.Delete(&keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("delete from %v: %w", m, err)
			}
		}
		return nil
	}
	for len(keys) > 0 {
		// A batch stops at the first absent key; n is its index.
		n, err := m.BatchDelete(keys, nil)
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			keys = keys[n+1:]
		case err != nil:
			return fmt.Errorf("delete from %v: %w", m, err)
		default:
			return nil
		}
	}
	return nil
}

// putAll writes keys and values, in batches where the map type allows.
func putAll[K, V any](m *ebpf.Map, keys []K, vals []V) error {
	if len(keys) == 0 {
		return nil
	}
	if m.Type() == ebpf.LPMTrie {
		for i := range keys {
			if err := m.Put(&keys[i], &vals[i]); err != nil {
				return fmt.Errorf("update %v: %w", m, mapFull(err))
			}
		}
		return nil
	}
	if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
		return fmt.Errorf("update %v: %w", m, mapFull(err))
	}
	return nil
}

// filter keeps the keys that match.
func filter[K any](keys []K, match func(*K) bool) []K {
	out := keys[:0]
	for i := range keys {
		if match(&keys[i]) {
			out = append(out, keys[i])
		}
	}
	return out
}
