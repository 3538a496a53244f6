package loader

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/classifier"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// hostPortRules is n drop rules, each on its own destination host and
// TCP port from port on: a vector of three lines, about 2n atoms.
func hostPortRules(n int, port uint16) *rules.Ruleset {
	rs := &rules.Ruleset{Policy: rules.Pass}
	for i := range n {
		dst := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		rs.Rules = append(rs.Rules, rules.Rule{ID: uint32(i + 1), Action: rules.Drop, Match: rules.Match{
			Dst:   netip.PrefixFrom(dst, 32),
			Proto: rules.Proto{Set: true, Num: 6},
			Dport: rules.PortRange{Set: true, Lo: port + uint16(i), Hi: port + uint16(i)},
		}})
	}
	return rs
}

// TestGrowVectors: a ruleset whose vectors do not fit the map (more
// atoms, and more words) grows it
// while an interface enforces the old ruleset, whether the growth runs
// to its end or is cut short at any of its points (then the next change
// finishes it): the interface ends up running the pinned program on the
// pinned, larger map, meta unmarked, and the live maps decide as the
// ruleset says. Changes of the same size then fit without growing again.
func TestGrowVectors(t *testing.T) {
	eachGrowthCut(t, "grw0", hostPortRules(10, 1000), func(g *growthRun) error {
		t, small := g.t, g.s.maps.Vectors.MaxEntries()
		if err := g.apply(hostPortRules(1200, 2000), nil); err != nil {
			return fmt.Errorf("apply 1200 rules: %w", err)
		}
		s := g.s
		grown := s.maps.Vectors.MaxEntries()
		if grown <= small {
			t.Errorf("vectors map of %d entries after 1200 rules, %d before: it did not grow", grown, small)
		}
		if n := len(g.told); n == 0 || g.told[n-1].VecEntries != grown || g.told[n-1].VecWords != vecWords(s.maps.Vectors) {
			t.Errorf("GrowNotice told %+v, want its last call to say %d entries of %d words", g.told, grown, vecWords(s.maps.Vectors))
		}
		if err := checkGrown(s, "grw0"); err != nil {
			return err
		}
		checkEgressRecorded(t, s, "grw0")
		// Decided with the live maps: the last rule's flow, and
		// one no rule names.
		tr, err := s.NewInstance(true)
		if err != nil {
			return err
		}
		defer tr.Close()
		for _, c := range []struct {
			frame []byte
			want  rules.Action
			rule  bool // decided by a rule (ids are the state's)
		}{
			{fixtures.TCPSyn("192.0.2.1", "10.1.4.175", 40000, 2000+1199), rules.Drop, true},
			{fixtures.TCPSyn("192.0.2.1", "10.1.4.175", 40000, 2000+1198), rules.Pass, false},
		} {
			v, err := tr.Run(c.frame)
			if err != nil || v.Action != c.want || (v.RuleID != 0) != c.rule {
				t.Errorf("verdict %+v (%v), want %v, by a rule %v", v, err, c.want, c.rule)
			}
		}
		// The same size again, twice (each generation's turn):
		// no growth.
		for _, port := range []uint16{3000, 4000} {
			if _, err := s.Apply(hostPortRules(1200, port)); err != nil {
				return err
			}
			if n := s.maps.Vectors.MaxEntries(); n != grown {
				t.Errorf("a ruleset of the same size grew the map from %d to %d lines", grown, n)
			}
		}
		return nil
	})
}

// growthRun is one case of a growth test (eachGrowthCut).
type growthRun struct {
	t     *testing.T
	dir   string
	point string   // where the growth is cut short; "": nowhere
	s     *State   // the state, opened again after a cut
	told  []Growth // what GrowNotice said of dir
}

// eachGrowthCut runs test at each point a growth can be cut short at
// (and without a cut), in a throwaway network namespace, on a state of
// its own attached to iface and holding small.
func eachGrowthCut(t *testing.T, iface string, small *rules.Ruleset, test func(g *growthRun) error) {
	for _, point := range []string{"", "grow:marked", "grow:maps", "grow:programs", "grow:attached"} {
		t.Run("cut at "+point, func(t *testing.T) {
			dir := privtest.PinDir(t)
			inThrowawayNetns(t, func() error {
				defer removeState(dir)
				s, err := attachedState(dir, iface)
				if err != nil {
					return err
				}
				g := &growthRun{t: t, dir: dir, point: point, s: s}
				defer func() { g.s.Close() }()
				if _, err := s.Apply(small); err != nil {
					return err
				}
				GrowNotice = func(d string, gr Growth) {
					if d == dir {
						g.told = append(g.told, gr)
					}
				}
				defer func() { GrowNotice = nil }()
				return test(g)
			})
		})
	}
}

// apply makes big, which outgrows the maps, live: cut short at the
// run's point first (the state then opened again, and cut, if set, run
// on it), then made again, which finishes the growth.
func (g *growthRun) apply(big *rules.Ruleset, cut func(*State) error) error {
	if g.point != "" {
		cutShort(g.t, g.s, g.point, func(func(int, int)) { g.s.Apply(big) })
		g.s.Close()
		var err error
		if g.s, err = Open(g.dir); err != nil {
			return err
		}
		if cut != nil {
			if err := cut(g.s); err != nil {
				return err
			}
		}
	}
	_, err := g.s.Apply(big)
	return err
}

// checkGrown: meta carries no growth mark, and iface runs the pinned
// program, which reads the pinned vectors map.
func checkGrown(s *State, iface string) error { return checkReplaced(s, iface, s.maps.Vectors) }

// checkReplaced: after a map was replaced under the programs (growth, a
// conntrack resize), meta carries no mark, and iface runs the pinned
// program, which uses m, the pinned map.
func checkReplaced(s *State, iface string, m *ebpf.Map) error {
	meta, err := readMeta(&s.maps)
	if err != nil {
		return err
	}
	if meta.Version != metaVersion {
		return fmt.Errorf("meta version %#x after replacing a map, want %d", meta.Version, metaVersion)
	}
	st, err := s.Status()
	if err != nil {
		return err
	}
	ids, err := s.progIDs()
	if err != nil {
		return err
	}
	if len(st.Problems) != 0 || len(st.Interfaces) != 1 || st.Interfaces[0].Iface != iface || st.Interfaces[0].ProgID != ids.plain {
		return fmt.Errorf("status %+v, want %s running the pinned program %d", st, iface, ids.plain)
	}
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(ids.plain))
	if err != nil {
		return err
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return err
	}
	used, _ := info.MapIDs()
	mi, err := m.Info()
	if err != nil {
		return err
	}
	id, _ := mi.ID()
	if !slices.Contains(used, id) {
		return fmt.Errorf("the attached program uses maps %v, not the pinned map %d", used, id)
	}
	return nil
}

// TestGrowInstance: an instance given a ruleset larger than its map
// grows it, in words (500 rules), then in entries (2000 rules), and
// decides by rules past the words and entries it had.
func TestGrowInstance(t *testing.T) {
	privtest.Require(t)
	tr, err := NewInstance(hostPortRules(3, 1000), true)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	entries, words := tr.objs.Vectors.MaxEntries(), vecWords(tr.objs.Vectors)
	// 499 source hosts, then a port: the port's rule is ranked 499, in
	// word 7, past a 7-word map.
	rs := &rules.Ruleset{Policy: rules.Pass}
	for i := range 499 {
		rs.Rules = append(rs.Rules, rules.Rule{ID: uint32(i + 1), Action: rules.Drop, Match: rules.Match{
			Src: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), 32)}})
	}
	rs.Rules = append(rs.Rules, rules.Rule{ID: 500, Action: rules.Drop, Match: rules.Match{
		Dport: rules.PortRange{Set: true, Lo: 7, Hi: 7}}})
	if err := tr.Load(rs); err != nil {
		t.Fatal(err)
	}
	if w := vecWords(tr.objs.Vectors); w <= words {
		t.Errorf("vectors of %d words after 500 rules, %d before: want more", w, words)
	}
	entries = tr.objs.Vectors.MaxEntries()
	v, err := tr.Run(fixtures.UDP("192.0.2.1", "10.1.7.207", 40000, 7))
	if err != nil || v.Action != rules.Drop || v.RuleID != 500 {
		t.Errorf("verdict %+v (%v), want drop by rule 500", v, err)
	}
	if err := tr.Load(hostPortRules(2000, 1000)); err != nil {
		t.Fatal(err)
	}
	if n := tr.objs.Vectors.MaxEntries(); n <= entries {
		t.Fatalf("instance's vectors map %d entries after 2000 rules, %d before", n, entries)
	}
	v, err = tr.Run(fixtures.TCPSyn("192.0.2.1", "10.1.7.207", 40000, 1000+1999))
	if err != nil || v.Action != rules.Drop || v.RuleID != 2000 {
		t.Errorf("verdict %+v (%v), want drop by rule 2000", v, err)
	}
}

// TestGrowValueAtoms: a ruleset on large rare value dimensions (frame
// length, TCP flags), whose chunks a new state's value_atoms has no room for, grows it
// while an interface enforces the old ruleset, run to its end or cut
// short at any point (the next change finishes it); the interface then
// runs the pinned program on the pinned map, which decides as the
// ruleset says, and the next generation's turn fits without growing.
func TestGrowValueAtoms(t *testing.T) {
	syn := fixtures.TCPSyn("192.0.2.1", "10.1.0.1", 40000, 23)
	rare := func(flags uint8) *rules.Ruleset {
		return &rules.Ruleset{Policy: rules.Pass, Rules: []rules.Rule{
			{ID: 1, Action: rules.Drop, Match: rules.Match{Length: rules.Range{Set: true, Lo: uint16(len(syn)), Hi: uint16(len(syn))},
				Proto: rules.Proto{Set: true, Num: 6}, Dport: rules.PortRange{Set: true, Lo: 23, Hi: 23}}},
			{ID: 2, Action: rules.Drop, Match: rules.Match{Proto: rules.Proto{Set: true, Num: 6}, TCPFlags: rules.TCPFlags{Set: true, Mask: flags, Value: 0x01}}},
		}}
	}
	eachGrowthCut(t, "gva0", hostPortRules(10, 1000), func(g *growthRun) error {
		t := g.t
		if n := chunksPerGen(g.s.maps.ValueAtoms); n != chunksCommon {
			t.Errorf("value_atoms has %d entries a generation for common dimensions alone, want %d", n, chunksCommon)
		}
		if err := g.apply(rare(0x01), nil); err != nil {
			return fmt.Errorf("apply the rare dimensions: %w", err)
		}
		s := g.s
		want := chunksCommon + chunksOf(classifier.ValueKeys[classifier.DimLen]) + chunksOf(classifier.ValueKeys[classifier.DimL4])
		if n := chunksPerGen(s.maps.ValueAtoms); n != want {
			t.Errorf("value_atoms has %d entries a generation, want %d", n, want)
		}
		if n := len(g.told); n == 0 || g.told[n-1].AtomChunks != want {
			t.Errorf("GrowNotice told %+v, want its last to say %d entries a generation", g.told, want)
		}
		if err := checkReplaced(s, "gva0", s.maps.ValueAtoms); err != nil {
			return err
		}
		if err := checkVerdicts(t, s, []verdictCase{
			{syn, rules.Drop},
			{fixtures.TCPSyn("192.0.2.1", "10.1.0.1", 40000, 24), rules.Pass},
			{fixtures.UDP("192.0.2.1", "10.1.0.1", 40000, 23), rules.Pass},
		}); err != nil {
			return err
		}
		// The other generation's turn: no growth.
		g.told = nil
		if _, err := s.Apply(rare(0x05)); err != nil { // FIN and RST
			return err
		}
		if len(g.told) != 0 || chunksPerGen(s.maps.ValueAtoms) != want {
			t.Errorf("the same dimensions again grew the maps: %+v", g.told)
		}
		return nil
	})
}

// TestGrowKeepsRuleIDs: a rule added by a change that grows a map (run
// twice: refused, then again after the growth) gets the next id, not one
// past it.
func TestGrowKeepsRuleIDs(t *testing.T) {
	s := openLive(t)
	first, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{Dport: rules.PortRange{Set: true, Lo: 22, Hi: 22}}})
	if err != nil {
		t.Fatal(err)
	}
	before := chunksPerGen(s.maps.ValueAtoms)
	next, err := s.AddRule(rules.Rule{Action: rules.Drop, Match: rules.Match{Length: rules.Range{Set: true, Lo: 1500, Hi: 1514}}})
	if err != nil {
		t.Fatal(err)
	}
	if chunksPerGen(s.maps.ValueAtoms) == before {
		t.Fatal("the rule on frame length did not grow value_atoms: the test tests nothing")
	}
	if next != first+1 {
		t.Errorf("the rule added with a growth got id %d, want %d", next, first+1)
	}
}

// hostRules is n drop rules on IPv4 destination hosts and n on IPv6
// ones, from host from on: 2n keys of the address buckets.
func hostRules(n, from int) *rules.Ruleset {
	rs := &rules.Ruleset{Policy: rules.Pass}
	for i := range n {
		h := from + i
		v4 := netip.AddrFrom4([4]byte{10, 2, byte(h >> 8), byte(h)})
		v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(h >> 8), 15: byte(h)})
		for j, a := range []netip.Addr{v4, v6} {
			rs.Rules = append(rs.Rules, rules.Rule{ID: uint32(2*i + j + 1), Action: rules.Drop, Match: rules.Match{Dst: netip.PrefixFrom(a, a.BitLen())}})
		}
	}
	return rs
}

// TestGrowAddrBuckets: a ruleset of more hosts than a new state's
// address buckets leave half free grows both families' buckets (the live
// generation's keys placed anew in the new maps) while an interface
// enforces the old ruleset, run to its end or cut short at any point;
// the interface then runs the pinned program on the pinned maps, which
// find every host, and the other generation's turn fits.
func TestGrowAddrBuckets(t *testing.T) {
	const hosts = 400
	eachGrowthCut(t, "gab0", hostRules(10, 0), func(g *growthRun) error {
		t := g.t
		if b4, b6 := bucketBits(g.s.maps.Addr4Host), bucketBits(g.s.maps.Addr6Host); b4 != layout.AddrBucketBitsMin || b6 != layout.AddrBucketBitsMin {
			t.Errorf("address buckets of %d and %d bits for 10 hosts, want %d", b4, b6, layout.AddrBucketBitsMin)
		}
		// Cut short, the live generation, placed anew in whichever
		// buckets are pinned, still finds its hosts.
		cut := func(s *State) error {
			return checkVerdicts(t, s, []verdictCase{
				{fixtures.UDP("192.0.2.1", "10.2.0.5", 40000, 53), rules.Drop},
				{fixtures.UDP("2001:db8::1", "2001:db8::5", 40000, 53), rules.Drop},
				{fixtures.UDP("192.0.2.1", "10.2.0.10", 40000, 53), rules.Pass},
			})
		}
		if err := g.apply(hostRules(hosts, 1000), cut); err != nil {
			return fmt.Errorf("apply %d hosts of each family: %w", hosts, err)
		}
		s := g.s
		b4, b6 := bucketBits(s.maps.Addr4Host), bucketBits(s.maps.Addr6Host)
		if hosts > layout.Addr4Slots<<b4/2 || hosts > layout.Addr6Slots<<b6/2 {
			t.Errorf("%d hosts a family in buckets of %d and %d bits: more than half full", hosts, b4, b6)
		}
		if n := len(g.told); n == 0 || g.told[n-1].Buckets4 != 1<<b4 || g.told[n-1].Buckets6 != 1<<b6 {
			t.Errorf("GrowNotice told %+v, want its last to say %d and %d buckets", g.told, 1<<b4, 1<<b6)
		}
		if err := checkReplaced(s, "gab0", s.maps.Addr6Host); err != nil {
			return err
		}
		if err := checkVerdicts(t, s, []verdictCase{
			{fixtures.UDP("192.0.2.1", "10.2.3.232", 40000, 53), rules.Drop},      // host 1000
			{fixtures.UDP("192.0.2.1", "10.2.5.119", 40000, 53), rules.Drop},      // host 1399
			{fixtures.UDP("192.0.2.1", "10.2.5.120", 40000, 53), rules.Pass},      // host 1400: none
			{fixtures.UDP("2001:db8::1", "2001:db8::577", 40000, 53), rules.Drop}, // host 1399
			{fixtures.UDP("2001:db8::1", "2001:db8::578", 40000, 53), rules.Pass},
		}); err != nil {
			return err
		}
		// The other generation's turn: no growth.
		g.told = nil
		if _, err := s.Apply(hostRules(hosts, 3000)); err != nil {
			return err
		}
		if len(g.told) != 0 || bucketBits(s.maps.Addr4Host) != b4 || bucketBits(s.maps.Addr6Host) != b6 {
			t.Errorf("as many hosts again grew the maps: %+v", g.told)
		}
		return nil
	})
}

type verdictCase struct {
	frame []byte
	want  rules.Action
}

// checkVerdicts runs each frame through an instance on s's live maps.
func checkVerdicts(t *testing.T, s *State, cases []verdictCase) error {
	t.Helper()
	tr, err := s.NewInstance(true)
	if err != nil {
		return err
	}
	defer tr.Close()
	for _, c := range cases {
		if v, err := tr.Run(c.frame); err != nil || v.Action != c.want {
			t.Errorf("verdict %+v (%v), want %v", v, err, c.want)
		}
	}
	return nil
}

// TestAttachAfterCutGrowth: attach, the first change after a growth cut
// short once the new maps were pinned, finishes the growth and puts the
// program it loaded on the interface (not the one it replaced, closed by
// then), running on the pinned maps.
func TestAttachAfterCutGrowth(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		s, err := attachedState(dir, "gac0")
		if err != nil {
			return err
		}
		defer func() { s.Close() }()
		if _, err := s.Apply(hostPortRules(10, 1000)); err != nil {
			return err
		}
		cutShort(t, s, "grow:maps", func(func(int, int)) { s.Apply(hostRules(400, 0)) })
		s.Close()
		if s, err = Open(dir); err != nil {
			return err
		}
		if err := addVeths("gac1"); err != nil {
			return err
		}
		if _, _, err := s.AttachAll([]string{"gac1"}, ModeGeneric, false); err != nil {
			return err
		}
		ids, err := s.progIDs()
		if err != nil {
			return err
		}
		for _, name := range []string{"gac0", "gac1"} {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			if x := l.Attrs().Xdp; x == nil || x.ProgId != ids.plain {
				t.Errorf("%s runs %+v, want the pinned program %d", name, x, ids.plain)
			}
		}
		meta, err := readMeta(&s.maps)
		if err == nil && meta.Version != metaVersion {
			t.Errorf("meta version %#x after attach, want %d: the growth not finished", meta.Version, metaVersion)
		}
		return err
	})
}

// TestGrowFinishedTold: the change after a growth cut short finishes it
// and says so (Growth.Finished), not that its own ruleset outgrew the
// maps: after an apply killed while growing, a rule add of one rule was
// reported as "the ruleset outgrew its maps". A growth the change asks
// for itself is not told as finished. Each says the one interface the
// state is attached to was given the program (Growth.Interfaces).
func TestGrowFinishedTold(t *testing.T) {
	eachGrowthCut(t, "grf0", hostPortRules(10, 1000), func(g *growthRun) error {
		if err := g.apply(hostPortRules(1200, 2000), nil); err != nil {
			return err
		}
		if len(g.told) == 0 {
			return fmt.Errorf("GrowNotice told nothing")
		}
		for i, gr := range g.told {
			if want := g.point != "" && i == 0; gr.Finished != want {
				g.t.Errorf("GrowNotice's call %d of %+v: Finished %v, want %v", i, g.told, gr.Finished, want)
			}
			// The state is attached to one interface, given the program.
			if gr.Interfaces != (Reach{On: 1, Of: 1}) {
				g.t.Errorf("GrowNotice's call %d of %+v: Interfaces %+v, want 1 of 1", i, g.told, gr.Interfaces)
			}
		}
		return nil
	})
}
