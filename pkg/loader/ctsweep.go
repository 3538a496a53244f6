package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"
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
// a packet refreshed since it was read stays. A change of the live
// state, made through the write path.
func (s *State) SweepConntrack() (SweepResult, error) {
	var res SweepResult
	err := s.change(func(t *tx) error {
		ct, err := ctInEffect(t.m)
		if err != nil {
			return err
		}
		res.Next = SweepPeriod(ct)
		now, err := ctClock()
		if err != nil {
			return err
		}
		// Swept as found, a program run per CtSweepKeys flows, so
		// memory stays a batch's whatever the table holds: a deletion
		// behind the batch cursor (a bucket index) moves nothing ahead.
		var (
			due  []xdpfwCtKey
			prog *ebpf.Program
		)
		defer func() {
			if prog != nil {
				prog.Close()
			}
		}()
		sweep := func() error {
			if prog == nil {
				p, err := loadSweep(t.m)
				if err != nil {
					return err
				}
				prog = p
			}
			removed, err := runSweep(prog, due)
			res.Expired += removed
			due = due[:0]
			return err
		}
		err = forEachBatch(t.m.Ct, 4096, func(keys []xdpfwCtKey, vals []xdpfwCtVal) error {
			res.Entries += len(keys)
			for i := range keys {
				if now-time.Duration(vals[i].LastSeen) <= flowTimeoutOf(&vals[i], ct) {
					continue
				}
				if due = append(due, keys[i]); len(due) == layout.CtSweepKeys {
					if err := sweep(); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil || len(due) == 0 {
			return err
		}
		return sweep()
	})
	if err != nil {
		return res, fmt.Errorf("sweep the conntrack table: %w", err)
	}
	return res, nil
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
