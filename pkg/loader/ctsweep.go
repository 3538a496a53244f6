package loader

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// SweepResult is what a sweep of the conntrack table did.
type SweepResult struct {
	// Named as ct stats names the same things (CTStats).
	Entries int `json:"entries"` // flows in the table as it was read
	Expired int `json:"expired"` // timed out, taken out
	// Next is when to sweep again: the shortest timeout in effect, from
	// a second to SweepMax (SweepPeriod).
	Next time.Duration `json:"-"`
	// Took is how long the sweep worked, reading the table and taking
	// flows out: not its waits for the state's lock.
	Took time.Duration `json:"-"`
}

// SweepMax is the longest a sweeper (serve) waits between sweeps of a
// table it sweeps in 1% of that; a larger one it sweeps less often.
const SweepMax = 30 * time.Second

// SweepPeriod is how often to sweep under the timeouts ct: as often as
// its shortest timeout of a flow, so no flow outlives its timeout by more
// than that, from a second to SweepMax. Each sweep reads the whole table.
// The fragment timeout is no flow's: the sweep leaves the fragment
// records (each holds its own expiry, and a full table drops the oldest).
func SweepPeriod(ct rules.Conntrack) time.Duration {
	p := SweepMax
	for i := range ct.Timeouts {
		if i != layout.CtToFragment {
			p = min(p, ct.Timeout(i))
		}
	}
	return max(p, time.Second)
}

// SweepConntrack removes the flows that have timed out, which otherwise
// stay until a packet of theirs comes or the full table evicts them
// (xdp/ctsweep.h says why that matters). It reads the table for those
// whose last packet is older than their timeout, then has the datapath's
// own sweep program look each up again and remove it only if it has
// timed out still, counting it expired as a packet's removal is: a flow
// a packet refreshed since it was read stays. Changes of the live state,
// made through the write path.
func (s *State) SweepConntrack() (SweepResult, error) {
	return sweepConntrack(func(fn func(t *tx) error) error { return s.change(fn) })
}

// SweepConntrackIn is SweepConntrack on the state in dir, holding its
// lock only while it takes flows out, a chunk at a time (sweepChunk), and
// not while it reads the table: read under the lock, a table near
// max-flows' cap kept every command waiting for seconds. ctx ends a wait
// for the lock.
func SweepConntrackIn(ctx context.Context, dir string) (SweepResult, error) {
	return sweepConntrack(func(fn func(t *tx) error) error {
		s, err := OpenContext(ctx, dir)
		if err != nil {
			return err
		}
		defer s.Close()
		return s.change(fn)
	})
}

// sweepChunk is how many timed-out flows a sweep gathers before it takes
// them out, under the lock: a bound on its memory (40 bytes a key) and
// on each hold of the lock (a program run per CtSweepKeys of them).
const sweepChunk = 1 << 16

// errTableReplaced: the flow table a sweep read is no longer the state's
// (a resize replaced it meanwhile), so its flows are left to the next
// sweep, which reads the new table.
var errTableReplaced = errors.New("the conntrack table was replaced while it was read")

// sweepConntrack sweeps through locked, which runs a change of the live
// state (State.change, its lock held or taken for the one change): one
// to find the table, its timeouts and the clock, then one per chunk of
// timed-out flows to take them out, if the table is still the state's.
// The table is read between them, by a handle of its own.
func sweepConntrack(locked func(func(t *tx) error) error) (res SweepResult, err error) {
	var (
		table  *ebpf.Map
		id     ebpf.MapID
		ct     rules.Conntrack
		now    time.Duration
		waited time.Duration
	)
	begun := time.Now()
	defer func() { res.Took = time.Since(begun) - waited }()
	change := func(fn func(t *tx) error) error {
		called := time.Now()
		return locked(func(t *tx) error {
			waited += time.Since(called)
			return fn(t)
		})
	}
	err = change(func(t *tx) error {
		var err error
		if ct, err = ctInEffect(t.m); err != nil {
			return err
		}
		if now, err = ctClock(); err != nil {
			return err
		}
		if id, err = mapID(t.m.Ct); err != nil {
			return err
		}
		table, err = t.m.Ct.Clone()
		return err
	})
	if err != nil {
		return res, fmt.Errorf("sweep the conntrack table: %w", err)
	}
	defer table.Close()
	res.Next = SweepPeriod(ct)
	var due []xdpfwCtKey // grown as flows are found, up to sweepChunk
	// Loaded for the first chunk (about 50 ms: the object parsed and the
	// program verified) and kept for the next while every map it uses is
	// still the state's.
	var prog *ebpf.Program
	defer func() {
		if prog != nil {
			prog.Close()
		}
	}()
	takeOut := func() error {
		err := change(func(t *tx) error {
			if cur, err := mapID(t.m.Ct); err != nil || cur != id {
				return cmp.Or(err, errTableReplaced)
			}
			if prog != nil && !onMapsOf(prog, t.m) {
				prog.Close()
				prog = nil
			}
			if prog == nil {
				var err error
				if prog, err = loadSweep(t.m); err != nil {
					return err
				}
			}
			for keys := range slices.Chunk(due, layout.CtSweepKeys) {
				removed, err := runSweep(prog, keys)
				res.Expired += removed
				if err != nil {
					return err
				}
			}
			return nil
		})
		due = due[:0]
		return err
	}
	err = forEachBatch(table, 4096, func(keys []xdpfwCtKey, vals []xdpfwCtVal) error {
		res.Entries += len(keys)
		for i := range keys {
			if now-time.Duration(vals[i].LastSeen) <= flowTimeoutOf(&vals[i], ct) {
				continue
			}
			if due = append(due, keys[i]); len(due) == sweepChunk {
				if err := takeOut(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil && len(due) > 0 {
		err = takeOut()
	}
	if errors.Is(err, errTableReplaced) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("sweep the conntrack table: %w", err)
	}
	return res, nil
}

// onMapsOf reports whether every map prog uses is one of m's, but for
// its constants (.rodata: frozen, made by its own load).
func onMapsOf(prog *ebpf.Program, m *xdpfwMaps) bool {
	info, err := prog.Info()
	if err != nil {
		return false
	}
	uses, ok := info.MapIDs()
	if !ok {
		return false
	}
	mine := map[ebpf.MapID]bool{}
	for _, f := range mapFields(m) {
		if *f == nil {
			continue
		}
		if id, err := mapID(*f); err == nil {
			mine[id] = true
		}
	}
	for _, id := range uses {
		if !mine[id] && !frozenMap(id) {
			return false
		}
	}
	return true
}

// frozenMap reports whether map id is frozen (read-only to programs and
// to this process alike).
func frozenMap(id ebpf.MapID) bool {
	m, err := ebpf.NewMapFromID(id)
	if err != nil {
		return false
	}
	defer m.Close()
	info, err := m.Info()
	return err == nil && info.Frozen()
}

// mapID is m's id in the kernel.
func mapID(m *ebpf.Map) (ebpf.MapID, error) {
	info, err := m.Info()
	if err != nil {
		return 0, err
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("the kernel gives no map ids")
	}
	return id, nil
}

// loadSweep loads the sweep program alone, on the state's maps: it is
// never attached nor pinned, and small, so each sweep loads it afresh.
func loadSweep(m *xdpfwMaps) (*ebpf.Program, error) {
	spec, err := objectSpec()
	if err != nil {
		return nil, err
	}
	byName := map[string]*ebpf.Map{}
	for name, f := range mapFields(m) {
		byName[name] = *f
	}
	var progs struct {
		Sweep *ebpf.Program `ebpf:"xdpfw_ct_sweep"`
	}
	if err := load(spec, &progs, &ebpf.CollectionOptions{MapReplacements: byName}); err != nil {
		return nil, fmt.Errorf("load the sweep program: %w", err)
	}
	return progs.Sweep, nil
}

// runSweep runs the sweep program on keys (at most layout.CtSweepKeys)
// and returns how many flows it removed.
func runSweep(prog *ebpf.Program, keys []xdpfwCtKey) (int, error) {
	var frame bytes.Buffer
	hdr := layout.CtSweepHdr{Nkeys: uint32(len(keys))}
	if err := binary.Write(&frame, binary.LittleEndian, &hdr); err != nil {
		return 0, err
	}
	if err := binary.Write(&frame, binary.LittleEndian, keys); err != nil {
		return 0, err
	}
	out := make([]byte, frame.Len())
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame.Bytes(), DataOut: out})
	if err != nil {
		return 0, fmt.Errorf("run the sweep program: %w", err)
	}
	if ret != 2 { // XDP_PASS; XDP_ABORTED: the frame was short
		return 0, fmt.Errorf("the sweep program refused its %d keys", len(keys))
	}
	if err := binary.Read(bytes.NewReader(out), binary.LittleEndian, &hdr); err != nil {
		return 0, err
	}
	return int(hdr.Removed), nil
}
