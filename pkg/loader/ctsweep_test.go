package loader

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// TestSweepConntrack: a sweep removes the flows whose last packet is
// older than their timeout, by the timeout of each one's kind and state
// (more than one program run's worth of them), counts them expired so
// evictions stay at zero, and keeps every flow still live: one seen
// within its timeout, an established one idle far longer than the
// short timeouts, and one a packet refreshed after the sweep read the
// table (the program looks each up again before it takes it out).
func TestSweepConntrack(t *testing.T) {
	s, now := openWholeTable(t)
	key := func(i int) xdpfwCtKey {
		k := xdpfwCtKey{Family: 4, Proto: 17, Lport: uint16(10000 + i), Rport: 53}
		copy(k.Local[:], []byte{192, 0, 2, 1})
		copy(k.Remote[:], []byte{198, 51, 100, byte(i % 200), byte(i / 200)})
		return k
	}
	put := func(k xdpfwCtKey, v xdpfwCtVal) {
		t.Helper()
		if err := s.maps.Ct.Put(&k, &v); err != nil {
			t.Fatal(err)
		}
	}
	// UDP unreplied times out after 30s, replied after 120s; TCP
	// established after five days, syn-sent after 120s.
	const timedOut = 3*layout.CtSweepKeys + 5
	for i := range timedOut {
		put(key(i), xdpfwCtVal{LastSeen: uint64(now - 31*time.Second), Kind: layout.CtKindUdp})
	}
	live := map[int]xdpfwCtVal{
		1000: {LastSeen: uint64(now - 31*time.Second), Kind: layout.CtKindUdp, Replied: 1},
		1001: {LastSeen: uint64(now - time.Hour), Kind: layout.CtKindTcp, Tcp: layout.CtTcpEstablished, Replied: 1},
		1002: {LastSeen: uint64(now - 10*time.Second), Kind: layout.CtKindTcp, Tcp: layout.CtTcpSynSent},
	}
	for i, v := range live {
		put(key(i), v)
	}
	per := make([]xdpfwCtStats, ebpf.MustPossibleCPU())
	per[0].N[layout.CtsInserts] = uint64(timedOut + len(live))
	if err := s.maps.CtStats.Put(uint32(0), per); err != nil {
		t.Fatal(err)
	}

	// The refreshed flow: timed out when read, given a packet before the
	// program runs. Run as the sweep's second half would, on its key.
	k := key(2000)
	put(k, xdpfwCtVal{LastSeen: uint64(now - 31*time.Second), Kind: layout.CtKindUdp})
	put(k, xdpfwCtVal{LastSeen: uint64(now), Kind: layout.CtKindUdp})
	prog, err := loadSweep(&s.maps)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	if n, err := runSweep(prog, []xdpfwCtKey{k, key(5000)}); err != nil || n != 0 {
		t.Errorf("the sweep program on a refreshed flow and one not in the table: %d removed (%v), want 0", n, err)
	}
	live[2000] = xdpfwCtVal{}

	res, err := s.SweepConntrack()
	if err != nil {
		t.Fatal(err)
	}
	if res.Expired != timedOut || res.Entries != timedOut+len(live) || res.Next != 10*time.Second {
		t.Errorf("sweep %+v, want %d of %d flows removed, next in 10s (close's timeout)", res, timedOut, timedOut+len(live))
	}
	for i := range live {
		k := key(i)
		var v xdpfwCtVal
		if err := s.maps.Ct.Lookup(&k, &v); err != nil {
			t.Errorf("live flow %d: %v", i, err)
		}
	}
	st, err := s.ConntrackStats()
	if err != nil || st.Entries != len(live) || st.Expired != timedOut || st.Evictions != 0 {
		t.Errorf("stats %+v (%v), want %d entries, %d expired, no evictions", st, err, len(live), timedOut)
	}
	if res, err := s.SweepConntrack(); err != nil || res.Expired != 0 {
		t.Errorf("second sweep %+v (%v), want nothing removed", res, err)
	}
}

// TestSweepPeriod: as often as the shortest timeout, within a second and
// SweepMax.
func TestSweepPeriod(t *testing.T) {
	var ct rules.Conntrack
	if got := SweepPeriod(ct); got != 10*time.Second {
		t.Errorf("defaults: %v, want close's 10s", got)
	}
	for i := range ct.Timeouts {
		ct.Timeouts[i] = 3600
	}
	if got := SweepPeriod(ct); got != SweepMax {
		t.Errorf("all an hour: %v, want %v", got, SweepMax)
	}
	ct.Timeouts[layout.CtToFragment] = 1
	if got := SweepPeriod(ct); got != SweepMax {
		t.Errorf("all an hour, fragments 1s: %v, want %v (fragment records are not swept)", got, SweepMax)
	}
	ct.Timeouts[layout.CtToUdp] = 1
	if got := SweepPeriod(ct); got != time.Second {
		t.Errorf("udp 1s: %v, want 1s", got)
	}
}

// TestSweepProgramCheap: each sweep loads the sweep program afresh, so
// its verification is part of every sweep's cost: the verifier walks
// its per-key callback a few times, not once per count it could reach
// (a branch on the count made that 64,000 instructions processed on
// 6.18, 43,000 on 6.12).
func TestSweepProgramCheap(t *testing.T) {
	s := openLive(t)
	prog, err := loadSweep(&s.maps)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	m := regexp.MustCompile(`processed (\d+) insns`).FindStringSubmatch(prog.VerifierLog)
	if m == nil {
		t.Fatalf("no instruction count in the verifier's log: %q", prog.VerifierLog)
	}
	if n, _ := strconv.Atoi(m[1]); n > 10000 {
		t.Errorf("the sweep program took %d processed instructions to verify, want at most 10,000", n)
	}
}

// TestSweepInChunks: a sweep takes the flows it found timed out out a
// chunk at a time, each chunk a change of its own, with the table read
// between them; and a chunk whose table a resize replaced meanwhile is
// dropped, the sweep ending there without an error (the next sweep reads
// the new table). Through sweepConntrack's own lock-taking parameter, as
// SweepConntrackIn takes the lock for each change.
func TestSweepInChunks(t *testing.T) {
	s, now := openWholeTable(t)
	const timedOut = sweepChunk + 1000
	keys := make([]xdpfwCtKey, timedOut)
	vals := make([]xdpfwCtVal, timedOut)
	for i := range keys {
		keys[i] = xdpfwCtKey{Family: 4, Proto: 17, Lport: uint16(i), Rport: 53}
		copy(keys[i].Local[:], []byte{192, 0, 2, 1})
		copy(keys[i].Remote[:], []byte{198, 51, 100, byte(i >> 16)})
		vals[i] = xdpfwCtVal{LastSeen: uint64(now - 31*time.Second), Kind: layout.CtKindUdp}
	}
	fill := func() {
		t.Helper()
		if _, err := s.maps.Ct.BatchUpdate(keys, vals, nil); err != nil {
			t.Fatal(err)
		}
	}
	fill()
	changes := 0
	res, err := sweepConntrack(func(fn func(t *tx) error) error {
		changes++
		return s.change(fn)
	})
	if err != nil || res.Expired != timedOut || res.Entries != timedOut {
		t.Fatalf("sweep %+v (%v), want all %d flows removed", res, err, timedOut)
	}
	if changes != 3 {
		t.Errorf("%d changes, want 3: one to find the table, one for each of two chunks", changes)
	}

	fill()
	changes = 0
	res, err = sweepConntrack(func(fn func(t *tx) error) error {
		if changes++; changes == 3 {
			inThrowawayNetns(t, func() error {
				_, err := s.Apply(&rules.Ruleset{Policy: rules.Drop, Conntrack: rules.Conntrack{MaxFlows: 1 << 19}})
				return err
			})
		}
		return s.change(fn)
	})
	if err != nil || res.Expired != sweepChunk {
		t.Errorf("sweep with the table replaced before its second chunk: %+v (%v), want the first chunk's %d flows removed and no error", res, err, sweepChunk)
	}
}

// TestSweepProgramKept: a sweep keeps the program it loaded for its
// first chunk of timed-out flows while every map it uses is still the
// state's (its own constants aside), and loads it again otherwise.
func TestSweepProgramKept(t *testing.T) {
	s, other := openLive(t), openLive(t)
	prog, err := loadSweep(&s.maps)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	if !onMapsOf(prog, &s.maps) {
		t.Error("the sweep program on the maps it was loaded with: not kept")
	}
	if onMapsOf(prog, &other.maps) {
		t.Error("the sweep program on another state's maps: kept")
	}
}
