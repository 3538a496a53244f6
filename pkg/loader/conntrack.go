package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The connection-tracking table as `xdpfw ct` shows it: flows (the ct
// map, learned by the egress program), its counters (ct_stats, per CPU,
// and ct_conf's placed and flushed) and flush. The table is the datapath's: reading
// it takes no lock the datapath knows, so a listing is a moment of a
// table that keeps changing.

// Flow is one tracked flow, from this host's side.
type Flow struct {
	Proto  string     `json:"proto"`
	Local  netip.Addr `json:"local"`
	Remote netip.Addr `json:"remote"`
	// LocalPort and RemotePort are TCP and UDP ports; an echo flow keeps
	// its identifier in LocalPort; 0 for other protocols.
	LocalPort  uint16 `json:"local_port"`
	RemotePort uint16 `json:"remote_port"`
	Kind       string `json:"kind"` // tcp, udp, echo or generic
	// State is the TCP state (syn-sent, syn-recv, established, closing, close), or
	// for other flows replied or unreplied.
	State   string `json:"state"`
	Replied bool   `json:"replied"`
	// Age is how long since a packet of the flow was seen, either way;
	// Left how long until it times out unless one is (0: timed out, to be
	// removed by its next packet or evicted).
	Age  time.Duration `json:"age_ns"`
	Left time.Duration `json:"left_ns"`
}

var (
	ctKindNames = map[uint8]string{layout.CtKindGeneric: "generic", layout.CtKindTcp: "tcp",
		layout.CtKindUdp: "udp", layout.CtKindEcho: "echo"}
	ctTCPNames = [...]string{layout.CtTcpSynSent: "syn-sent", layout.CtTcpSynRecv: "syn-recv", layout.CtTcpEstablished: "established",
		layout.CtTcpClosing: "closing", layout.CtTcpClose: "close"}
)

// CTFlowStates are the names a flow's State takes, which --state filters.
var CTFlowStates = append(ctTCPNames[:], "replied", "unreplied")

// CTFilter selects flows; its zero value selects all.
type CTFilter struct {
	Proto  rules.Proto  // Set: only this protocol
	Prefix netip.Prefix // valid: local or remote address in it
	Port   uint16       // nonzero: local or remote port
	States []string     // nonempty: State one of these
}

// ParseCTFilter reads ct list's filters: a protocol (as rules name it),
// an address or prefix, a port, a comma list of CTFlowStates; empty
// strings and port 0 select everything.
func ParseCTFilter(proto, addr string, port uint, states string) (CTFilter, error) {
	var f CTFilter
	var err error
	if proto != "" {
		if f.Proto, err = rules.ParseProto(proto); err != nil {
			return f, err
		}
	}
	if addr != "" {
		if f.Prefix, err = rules.ParsePrefix(addr); err != nil {
			return f, err
		}
	}
	if port > 65535 {
		return f, fmt.Errorf("port %d out of range (1-65535)", port)
	}
	f.Port = uint16(port)
	if states != "" {
		for _, st := range strings.Split(states, ",") {
			st = strings.ToLower(strings.TrimSpace(st))
			if !slices.Contains(CTFlowStates, st) {
				return f, fmt.Errorf("unknown flow state %q (want a comma list of %s)", st, strings.Join(CTFlowStates, ", "))
			}
			f.States = append(f.States, st)
		}
	}
	return f, nil
}

func (f CTFilter) match(fl Flow, proto uint8) bool {
	switch {
	case f.Proto.Set && f.Proto.Num != proto,
		f.Prefix.IsValid() && !f.Prefix.Contains(fl.Local) && !f.Prefix.Contains(fl.Remote),
		f.Port != 0 && fl.LocalPort != f.Port && fl.RemotePort != f.Port,
		len(f.States) > 0 && !slices.Contains(f.States, fl.State):
		return false
	}
	return true
}

// ctClock is the live datapath's conntrack clock, in which a flow's
// last_seen is kept: CLOCK_MONOTONIC_COARSE (bpf_ktime_get_coarse_ns, see
// ct_now in xdp/conntrack.h). Read here, it is the value the datapath would
// stamp at this instant; the precise clock can be a tick ahead of it.
func ctClock() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		return 0, fmt.Errorf("read the monotonic clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// ConntrackFlows lists the tracked flows f selects, oldest activity
// last.
func (s *State) ConntrackFlows(f CTFilter) ([]Flow, error) {
	var out []Flow
	err := s.read(func(v *view) error {
		ct, err := ctInEffect(v.m)
		if err != nil {
			return err
		}
		now, err := ctClock()
		if err != nil {
			return err
		}
		return forEachBatch(v.m.Ct, 256, func(keys []xdpfwCtKey, vals []xdpfwCtVal) error {
			for i := range keys {
				fl := flowOf(&keys[i], &vals[i], now, ct)
				if f.match(fl, keys[i].Proto) {
					out = append(out, fl)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read the conntrack table: %w", err)
	}
	slices.SortStableFunc(out, func(a, b Flow) int { return int(a.Age - b.Age) })
	return out, nil
}

func flowOf(k *xdpfwCtKey, v *xdpfwCtVal, now time.Duration, ct rules.Conntrack) Flow {
	addr := func(b [16]uint8) netip.Addr {
		if k.Family == 4 {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16(b)
	}
	fl := Flow{
		Proto: rules.Proto{Set: true, Num: k.Proto}.String(), Local: addr(k.Local), Remote: addr(k.Remote),
		LocalPort: k.Lport, RemotePort: k.Rport, Kind: ctKindNames[v.Kind], Replied: v.Replied != 0,
		Age: max(now-time.Duration(v.LastSeen), 0),
	}
	if fl.Kind == "" {
		fl.Kind = fmt.Sprintf("kind-%d", v.Kind)
	}
	switch {
	case v.Kind == layout.CtKindTcp && int(v.Tcp) < len(ctTCPNames):
		fl.State = ctTCPNames[v.Tcp]
	case v.Kind == layout.CtKindTcp:
		fl.State = fmt.Sprintf("tcp-%d", v.Tcp) // timed as close, as the datapath does
	case fl.Replied:
		fl.State = "replied"
	default:
		fl.State = "unreplied"
	}
	fl.Left = max(flowTimeoutOf(v, ct)-fl.Age, 0)
	return fl
}

// ctTCPTimeouts are the ct_conf timeouts of the TCP states, by
// layout.CtTcp* index: the two numberings differ (syn-recv came last to
// the timeouts, second to the states), so one is never the other's offset.
var ctTCPTimeouts = [...]int{layout.CtTcpSynSent: layout.CtToSynSent, layout.CtTcpSynRecv: layout.CtToSynRecv,
	layout.CtTcpEstablished: layout.CtToEstablished, layout.CtTcpClosing: layout.CtToClosing, layout.CtTcpClose: layout.CtToClose}

// flowTimeout is the ct_conf timeout that applies to a flow, as the
// datapath's ct_flow_timeout picks it (a TCP state it does not know is
// timed as close), but for an unanswered established flow's cap, which
// flowOf applies.
func flowTimeout(v *xdpfwCtVal) int {
	switch v.Kind {
	case layout.CtKindTcp:
		if int(v.Tcp) < len(ctTCPTimeouts) {
			return ctTCPTimeouts[v.Tcp]
		}
		return layout.CtToClose
	case layout.CtKindUdp:
		if v.Replied != 0 {
			return layout.CtToUdpReplied
		}
		return layout.CtToUdp
	case layout.CtKindEcho:
		return layout.CtToIcmp
	}
	return layout.CtToGeneric
}

// CTStats is the table and its counters since the state was made.
type CTStats struct {
	Entries  int `json:"entries"`
	Capacity int `json:"capacity"`
	// Idle: the table is the small one of a ruleset that reads no
	// connection state and sets no max-flows (rules.Ruleset.CTFlows).
	Idle bool `json:"idle"`
	// Inserts are flows learned, Expired those removed timed out (by a
	// packet or a sweep), Flushed those ct flush removed, and Evictions those the full
	// table dropped to make room, a resize's smaller table too (what is
	// left: inserts + placed - expired - flushed - entries, never below
	// 0, placed counting the flows xdpfw put in itself, net of those it
	// took out otherwise than by flush: countCTChange).
	Inserts   uint64 `json:"inserts"`
	Expired   uint64 `json:"expired"`
	Flushed   uint64 `json:"flushed"`
	Evictions uint64 `json:"evictions"`
	// Egress is the packets the egress program saw.
	Egress uint64 `json:"egress_packets"`
	// States counts the packets coming in placed in each state (only
	// while some rule has a ct-state condition), by CTStateNames.
	States map[string]uint64 `json:"states"`
	// Timeouts are those in effect, in seconds, by rules.CTTimeoutNames.
	Timeouts map[string]uint32 `json:"timeouts"`
}

// CTStateNames name ct_stats' per-state counters, by layout.Cts* index.
var CTStateNames = [...]string{layout.CtsUntracked: "untracked", layout.CtsNew: "new",
	layout.CtsEstablished: "established", layout.CtsRelated: "related", layout.CtsInvalid: "invalid"}

// ConntrackStats reads the table's size and counters.
func (s *State) ConntrackStats() (CTStats, error) {
	var st CTStats
	err := s.read(func(v *view) error {
		var err error
		st, err = ctStatsOf(v.m)
		return err
	})
	if err != nil {
		return CTStats{}, fmt.Errorf("read the conntrack counters: %w", err)
	}
	return st, nil
}

// ctStatsOf counts m's table and sums its counters: a state's maps, or
// an instance's (the tests fill a small table through its egress
// program).
func ctStatsOf(m *xdpfwMaps) (CTStats, error) {
	n, err := ctCounters(m)
	if err != nil {
		return CTStats{}, err
	}
	c, err := readCTConf(m)
	if err != nil {
		return CTStats{}, err
	}
	ct, err := ctInEffect(m)
	if err != nil {
		return CTStats{}, err
	}
	entries := 0
	err = forEachBatch(m.Ct, 256, func(keys []xdpfwCtKey, _ []xdpfwCtVal) error {
		entries += len(keys)
		return nil
	})
	if err != nil {
		return CTStats{}, err
	}
	st := CTStats{Entries: entries, Capacity: int(m.Ct.MaxEntries()), Idle: m.Ct.MaxEntries() == layout.CtIdleEntries,
		Inserts: n[layout.CtsInserts], Expired: n[layout.CtsExpired], Flushed: c.Flushed,
		Egress: n[layout.CtsEgress], States: map[string]uint64{}, Timeouts: map[string]uint32{}}
	// Signed: placed is below 0 once Go took out more than it put in.
	if ev := int64(st.Inserts) + c.Placed - int64(st.Expired+st.Flushed) - int64(entries); ev > 0 {
		st.Evictions = uint64(ev)
	}
	for i, name := range CTStateNames {
		st.States[name] = n[i]
	}
	for i, name := range rules.CTTimeoutNames {
		st.Timeouts[name] = uint32(ct.Timeout(i) / time.Second)
	}
	return st, nil
}

// CTStateCounters are the per-state packet counters alone (stats).
func (s *State) CTStateCounters() (map[string]uint64, error) {
	out := map[string]uint64{}
	err := s.read(func(v *view) error {
		n, err := ctCounters(v.m)
		for i, name := range CTStateNames {
			out[name] = n[i]
		}
		return err
	})
	return out, err
}

// ctCounters sums ct_stats over the CPUs.
func ctCounters(m *xdpfwMaps) ([layout.NumCtStats]uint64, error) {
	var (
		per []xdpfwCtStats
		sum [layout.NumCtStats]uint64
	)
	if err := m.CtStats.Lookup(uint32(0), &per); err != nil {
		return sum, fmt.Errorf("read ct_stats: %w", err)
	}
	for _, c := range per {
		for i, n := range c.N {
			sum[i] += n
		}
	}
	return sum, nil
}

// FlushConntrack empties the flow and fragment tables, as a change of
// the live state, and returns how many flows it removed (counted as
// flushed, so evictions stay right). Packets keep being learned while it
// runs: it stops after removing twice the table's capacity, so a busy
// egress cannot keep it going.
func (s *State) FlushConntrack() (flushed int, err error) {
	if s.old != nil {
		return 0, s.old
	}
	err = s.change(func(t *tx) error {
		n, err := emptyMap[xdpfwCtKey](t.m.Ct)
		flushed = n
		// What it removed is counted even if it failed on.
		if cerr := countCTChange(t.m, 0, uint64(n)); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("flush the conntrack table: %w", err)
		}
		if _, err := emptyMap[xdpfwCtFragKey](t.m.CtFrags); err != nil {
			return fmt.Errorf("flush the fragment table: %w", err)
		}
		return nil
	})
	return flushed, err
}

// emptyMap deletes m's keys a chunk at a time, each chunk read from the
// start (a hash map's walk restarts when its key is deleted), and returns
// how many it deleted.
func emptyMap[K any](m *ebpf.Map) (int, error) {
	const chunk = 4096
	keys := make([]K, 0, chunk)
	total := 0
	for total < 2*int(m.MaxEntries()) {
		keys = keys[:0]
		var prev any // nil: the first key
		for len(keys) < chunk {
			var k K
			err := m.NextKey(prev, &k)
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				break
			}
			if err != nil {
				return total, err
			}
			keys = append(keys, k)
			prev = &keys[len(keys)-1]
		}
		if len(keys) == 0 {
			return total, nil
		}
		n, err := m.BatchDelete(keys, nil)
		total += n
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return total, err
		}
	}
	return total, nil
}
