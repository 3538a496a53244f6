package loader

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/internal/rulegen"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/model"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The random agreement corpus: rulesets over every condition whose
// addresses come from nested prefixes of many lengths (so a table names
// more than the four its buckets take and spills into the LPM trie) and
// from sets of hosts and prefixes, up to past one vector word, in vector
// and solo form; frames at every rule's and set element's edges, random
// ones near the same prefixes, and copies of them behind IPv6 extension
// headers or IPv4 options, with atomic or middle fragments, 0x8100 outer
// tags or Ethernet padding. rulegen's pools alone name six prefix lengths
// at most, no sets beside other conditions and no extension header.

// agreeGen draws one round's ruleset and frames.
type agreeGen struct {
	rng  *rand.Rand
	seed uint64
	pool [2][]netip.Prefix // per family (0 IPv4, 1 IPv6)
}

func newAgreeGen(seed uint64) *agreeGen {
	g := &agreeGen{rng: rand.New(rand.NewPCG(seed, 11)), seed: seed}
	for fam, bits := range []int{32, 128} {
		for range 1 + g.rng.IntN(3) {
			g.pool[fam] = append(g.pool[fam], g.chain(fam, bits)...)
		}
	}
	return g
}

// chain is nested prefixes of one random address at 4 to 12 random
// lengths, some with a sibling of the same length beside it.
func (g *agreeGen) chain(fam, bits int) []netip.Prefix {
	var base netip.Addr
	if fam == 0 {
		base = netip.AddrFrom4([4]byte{10, byte(g.rng.IntN(4)), byte(g.rng.IntN(256)), byte(g.rng.IntN(256))})
		if g.rng.IntN(3) == 0 {
			base = netip.AddrFrom4([4]byte(g.bytes(4)))
		}
	} else {
		b := [16]byte(g.bytes(16))
		switch g.rng.IntN(6) {
		case 0: // IPv4-mapped: prefixes past /96 are refused, the rest not
			copy(b[:12], []byte{10: 0xff, 11: 0xff})
		case 1, 2, 3:
			copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(g.rng.IntN(4))})
		}
		base = netip.AddrFrom16(b)
	}
	var out []netip.Prefix
	for range 4 + g.rng.IntN(9) {
		n := g.rng.IntN(bits + 1)
		if g.rng.IntN(4) == 0 {
			n = bits // hosts are the commonest length
		}
		p, _ := base.Prefix(n)
		out = append(out, p)
		if n > 0 && g.rng.IntN(3) == 0 {
			sib := p.Addr().AsSlice()
			sib[(n-1)/8] ^= 0x80 >> ((n - 1) % 8)
			a, _ := netip.AddrFromSlice(sib)
			out = append(out, netip.PrefixFrom(a, n))
		}
	}
	return out
}

func (g *agreeGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.IntN(256))
	}
	return b
}

func (g *agreeGen) pick(fam int) netip.Prefix { return g.pool[fam][g.rng.IntN(len(g.pool[fam]))] }

// addrNear is an address on an edge of p (first, last or just outside)
// or anywhere in it.
func (g *agreeGen) addrNear(p netip.Prefix) netip.Addr {
	edges := rulegen.PrefixEdges(p)
	if i := g.rng.IntN(len(edges) + 1); i < len(edges) {
		return edges[i]
	}
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if g.rng.IntN(2) == 1 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// sets draws k sets of hosts and prefixes from the pools and
// around them, some of one family, one now and then empty. Their names
// are the round's: a set kept by the next load keeps its family.
func (g *agreeGen) sets(k int) rules.Sets {
	out := rules.Sets{}
	for i := range k {
		s := &rules.Set{Name: g.setName(i)}
		switch g.rng.IntN(6) {
		case 0:
			s.Family = rules.FamilyIPv4
		case 1:
			s.Family = rules.FamilyIPv6
		}
		n := g.rng.IntN(60)
		if g.rng.IntN(8) == 0 {
			n = 0
		}
		for range n {
			fam := g.rng.IntN(2)
			switch s.Family {
			case rules.FamilyIPv4:
				fam = 0
			case rules.FamilyIPv6:
				fam = 1
			}
			p := g.pick(fam)
			switch g.rng.IntN(3) {
			case 0: // a host near the pool's prefix
				a := g.addrNear(p)
				p = netip.PrefixFrom(a, a.BitLen())
			case 1: // a prefix inside or around it
				p, _ = g.addrNear(p).Prefix(g.rng.IntN(p.Addr().BitLen() + 1))
			}
			if rules.MappedPrefix(p) == nil {
				s.Prefixes = append(s.Prefixes, p.Masked())
			}
		}
		s.Prefixes = rules.SortPrefixes(s.Prefixes)
		out[s.Name] = s
	}
	return out
}

func (g *agreeGen) setName(i int) string { return fmt.Sprintf("r%ds%d", g.seed, i) }

// family is the address family a rule's conditions tie it to, or -1.
func family(m *rules.Match) int {
	is6 := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	switch {
	case m.Src.IsValid():
		return is6(m.Src.Addr().Is6())
	case m.Dst.IsValid():
		return is6(m.Dst.Addr().Is6())
	case m.Family == rules.FamilyIPv4 || m.Proto.Set && m.Proto.Num == rules.ProtoICMP:
		return 0
	case m.Family == rules.FamilyIPv6 || m.Proto.Set && m.Proto.Num == rules.ProtoICMPv6:
		return 1
	}
	return -1
}

// readdress gives r's address conditions from the pools and the sets:
// most prefixes replaced by one of the pool's, some added, some made set
// references. A combination the rule refuses keeps r as it was.
func (g *agreeGen) readdress(r *rules.Rule, sets rules.Sets, names []string) {
	m := r.Match
	fam := family(&m)
	if fam < 0 {
		fam = g.rng.IntN(2)
	}
	for _, side := range []struct {
		p   *netip.Prefix
		set *string
	}{{&m.Src, &m.SrcSet}, {&m.Dst, &m.DstSet}} {
		if side.p.IsValid() || g.rng.IntN(5) == 0 {
			*side.p = g.pick(fam)
		}
		if len(names) > 0 && g.rng.IntN(5) == 0 {
			*side.p, *side.set = netip.Prefix{}, names[g.rng.IntN(len(names))]
		}
	}
	one := &rules.Ruleset{Policy: rules.Pass, Sets: sets, Rules: []rules.Rule{{ID: r.ID, Action: r.Action, Match: m}}}
	if one.Validate() == nil {
		r.Match = m
	}
}

// oneCondition keeps one of m's conditions (with the protocol a TCP
// flags or ICMP one implies), or m whole if it has none: the rules of a
// ruleset in solo form.
func (g *agreeGen) oneCondition(m rules.Match) rules.Match {
	var keep []func(*rules.Match)
	add := func(set bool, f func(*rules.Match)) {
		if set {
			keep = append(keep, f)
		}
	}
	add(m.Src.IsValid(), func(o *rules.Match) { o.Src = m.Src })
	add(m.Dst.IsValid(), func(o *rules.Match) { o.Dst = m.Dst })
	add(m.SrcSet != "", func(o *rules.Match) { o.SrcSet = m.SrcSet })
	add(m.DstSet != "", func(o *rules.Match) { o.DstSet = m.DstSet })
	add(m.Proto.Set || m.Family != 0 || m.Fragment != 0, func(o *rules.Match) {
		o.Proto, o.Family, o.Fragment = m.Proto, m.Family, m.Fragment
	})
	add(m.Sport.Set, func(o *rules.Match) { o.Sport = m.Sport })
	add(m.Dport.Set, func(o *rules.Match) { o.Dport = m.Dport })
	add(m.TCPFlags.Set || m.ICMPType.Set || m.ICMPCode.Set, func(o *rules.Match) {
		o.Proto, o.TCPFlags, o.ICMPType, o.ICMPCode = m.Proto, m.TCPFlags, m.ICMPType, m.ICMPCode
	})
	add(m.VLAN.Set, func(o *rules.Match) { o.VLAN = m.VLAN })
	add(m.InnerVLAN.Set, func(o *rules.Match) { o.InnerVLAN = m.InnerVLAN })
	add(m.DSCP.Set, func(o *rules.Match) { o.DSCP = m.DSCP })
	add(m.TTL.Set, func(o *rules.Match) { o.TTL = m.TTL })
	add(m.Length.Set, func(o *rules.Match) { o.Length = m.Length })
	add(m.Iface != "", func(o *rules.Match) { o.Iface = m.Iface })
	add(m.CTState != 0, func(o *rules.Match) { o.CTState = m.CTState })
	if len(keep) == 0 {
		return m
	}
	var o rules.Match
	keep[g.rng.IntN(len(keep))](&o)
	return o
}

// agreeRuleset draws a ruleset of n rules (every third size class past
// one vector word), in solo form when solo.
func (g *agreeGen) ruleset(t testing.TB, n int, solo bool) *rules.Ruleset {
	rs := rulegen.Ruleset(g.rng, n)
	rs.Sets = g.sets(g.rng.IntN(6))
	var names []string
	for i := range len(rs.Sets) {
		names = append(names, g.setName(i))
	}
	for i := range rs.Rules {
		g.readdress(&rs.Rules[i], rs.Sets, names)
		if g.rng.IntN(4) == 0 {
			rs.Rules[i].Priority = uint32(g.rng.IntN(1000))
		}
		if solo {
			rs.Rules[i].Match = g.oneCondition(rs.Rules[i].Match)
		}
	}
	if solo {
		out, err := rulegen.OneDimension(rs)
		if err != nil {
			t.Fatal(err)
		}
		rs = out
	}
	if err := rs.Validate(); err != nil {
		t.Fatalf("the generator drew an invalid ruleset: %v", err)
	}
	return rs
}

// frames: every rule's edge frames (a set rule's with its set replaced
// by an element, so the element's edges are tried under the rule's other
// conditions), random frames near the pools' prefixes and the sets'
// elements, and a quarter of all again behind extension headers or
// options, some with Frame's other variations.
func (g *agreeGen) frames(rs *rules.Ruleset, withEdges bool) []rulegen.Frame {
	var specs []rulegen.Frame
	if withEdges {
		specs = rulegen.Edges(rs)
	}
	elems := [2][]netip.Prefix{}
	for _, s := range rs.Sets {
		for _, p := range s.Prefixes {
			f := 0
			if p.Addr().Is6() {
				f = 1
			}
			elems[f] = append(elems[f], p)
		}
	}
	element := func(set string, fam int) (netip.Prefix, bool) {
		var ok []netip.Prefix
		for _, p := range rs.Sets[set].Prefixes {
			if fam < 0 || p.Addr().Is6() == (fam == 1) {
				ok = append(ok, p)
			}
		}
		if len(ok) == 0 {
			return netip.Prefix{}, false
		}
		return ok[g.rng.IntN(len(ok))], true
	}
	for _, r := range rs.Rules {
		if r.Match.SrcSet == "" && r.Match.DstSet == "" {
			continue
		}
		for range 2 {
			m := r.Match
			fam := family(&m)
			if m.SrcSet != "" {
				p, ok := element(m.SrcSet, fam)
				if !ok {
					break
				}
				m.Src, m.SrcSet = p, ""
				fam = family(&m)
			}
			if m.DstSet != "" {
				p, ok := element(m.DstSet, fam)
				if !ok {
					break
				}
				m.Dst, m.DstSet = p, ""
			}
			specs = append(specs, rulegen.Edges(&rules.Ruleset{Rules: []rules.Rule{{Match: m}}})...)
		}
	}
	for range 1000 {
		f := rulegen.RandomFrame(g.rng)
		if f.Src.IsValid() {
			fam := 0
			if f.Src.Is6() {
				fam = 1
			}
			near := append(append([]netip.Prefix(nil), g.pool[fam]...), elems[fam]...)
			f.Src = g.addrNear(near[g.rng.IntN(len(near))])
			f.Dst = g.addrNear(near[g.rng.IntN(len(near))])
		}
		specs = append(specs, f)
	}
	exts := []uint8{0, 43, 60, 51}
	for i := range len(specs) / 4 {
		f := specs[g.rng.IntN(len(specs))]
		f.Atomic = g.rng.IntN(4) == 0
		f.Middle = g.rng.IntN(2) == 0
		f.QinQ8100 = g.rng.IntN(2) == 0
		if g.rng.IntN(4) == 0 {
			f.Trailer = 1 + g.rng.IntN(40)
		}
		if g.rng.IntN(16) == 0 { // past a page: the frags program
			f.Len = 4000 + g.rng.IntN(5000)
		}
		if g.rng.IntN(32) == 0 { // a third tag is malformed
			f.VLANs = []uint16{1, 2, 3}
		}
		switch {
		case f.Src.Is6():
			f.Ext = nil
			n := 1 + g.rng.IntN(3)
			if g.rng.IntN(8) == 0 { // about the 8 headers the walk takes
				n = 6 + g.rng.IntN(4)
			}
			for range n {
				f.Ext = append(f.Ext, exts[g.rng.IntN(len(exts))])
			}
			if f.Frag != rules.FragNone && i%2 == 0 {
				f.ExtAfterFrag = []uint8{60}
			}
		case f.Src.Is4():
			f.IPv4Opts = 1 + g.rng.IntN(10)
		}
		if g.rng.IntN(8) == 0 { // cut short, perhaps inside a header
			f.Cut = 14 + g.rng.IntN(100)
		}
		specs = append(specs, f)
	}
	return specs
}

// agreeStats counts what a run covered, so a generator that stopped
// reaching a case fails the test instead of passing it untried.
type agreeStats struct {
	rulesets, frames, solo, multiWord, lpm, sets, setChanges, ext, ctFrames int
}

func (s agreeStats) String() string {
	return fmt.Sprintf("%d frames over %d rulesets (%d in solo form, %d past one vector word, %d with rule prefixes in an LPM trie, %d with sets, then changed in place %d times), %d behind IPv6 extension headers or IPv4 options; %d frames sent, answered and quoted under ct-state rules",
		s.frames, s.rulesets, s.solo, s.multiWord, s.lpm, s.sets, s.setChanges, s.ext, s.ctFrames)
}

// agreeRound loads round seed's ruleset into inst and checks every
// frame's verdict and rule against the model.
func agreeRound(t testing.TB, inst *Instance, seed uint64, st *agreeStats) {
	g := newAgreeGen(seed)
	var n int
	switch seed % 3 {
	case 0:
		n = 1 + g.rng.IntN(40)
	case 1:
		n = 41 + g.rng.IntN(400)
	default:
		n = 480 + g.rng.IntN(700) // solo form drops a few
	}
	solo := seed/3%2 == 1
	rs := g.ruleset(t, n, solo)
	if err := inst.Load(rs); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	conf := liveConf(t, inst)
	st.rulesets++
	if conf.Flags&layout.GfSolo != 0 {
		st.solo++
	}
	if len(rs.Rules) > 448 {
		st.multiWord++
	}
	if conf.Flags&(layout.GfSrc4Lpm|layout.GfSrc6Lpm|layout.GfDst4Lpm|layout.GfDst6Lpm) != 0 {
		st.lpm++
	}
	if len(rs.Sets) > 0 {
		st.sets++
	}
	specs := g.frames(rs, true)
	g.check(t, inst, rs, specs, st)
	if sorted := rules.Sorted(rs.Rules); rules.HasCTState(sorted) {
		// Connection state under the same rules: frames sent, then their
		// answers, themselves, errors quoting them and RSTs coming in,
		// against the model's table (agreeOnFrame); the tables are empty
		// after. A TCP frame's acknowledgement is drawn, and its sequence
		// number at an edge of the RST window from it, which its copy and
		// the RST coming in carry (drawn from a stream of their own, so
		// the round's other draws stay as they were).
		c := &ctPair{inst: inst, rs: rs, sorted: sorted, usesCT: true, tracker: model.NewTracker(model.CTConfigOf(rs))}
		nums := newCTGen(rand.New(rand.NewPCG(seed, 17)).IntN)
		for range 200 {
			spec := specs[g.rng.IntN(len(specs))]
			spec.Ack = nums.ackNumber()
			spec.Seq = nums.seqNear(spec.Ack)
			agreeOnFrame(t, c, spec.Bytes())
			if t.Failed() {
				t.Fatalf("seed %d: connection state disagrees under\n%s", seed, rules.FormatYAML(rs))
			}
			st.ctFrames++
		}
		c.reset(t)
	}
	if len(rs.Sets) == 0 {
		return
	}
	// The sets changed in place under the same rules: elements kept,
	// dropped and added, moving between buckets and trie.
	next := &rules.Ruleset{Policy: rs.Policy, Rules: rs.Rules, Sets: rules.Sets{}}
	for name, s := range rs.Sets {
		c := g.sets(1)[g.setName(0)]
		c.Name, c.Family = name, s.Family
		c.Prefixes = slices.DeleteFunc(c.Prefixes, func(p netip.Prefix) bool {
			return s.Family != rules.FamilyAny && p.Addr().Is4() != (s.Family == rules.FamilyIPv4)
		})
		for _, p := range s.Prefixes {
			if g.rng.IntN(3) > 0 {
				c.Prefixes = append(c.Prefixes, p)
			}
		}
		c.Prefixes = rules.SortPrefixes(c.Prefixes)
		next.Sets[name] = c
	}
	if err := inst.Load(next); err != nil {
		t.Fatalf("seed %d, sets changed: %v", seed, err)
	}
	st.setChanges++
	g.check(t, inst, next, g.frames(next, false), st)
}

// check runs the frames through inst and the model.
func (g *agreeGen) check(t testing.TB, inst *Instance, rs *rules.Ruleset, specs []rulegen.Frame, st *agreeStats) {
	solo := liveConf(t, inst).Flags&layout.GfSolo != 0
	sorted := rules.Sorted(rs.Rules)
	usesCT := rules.HasCTState(sorted)
	for _, spec := range specs {
		frame := spec.Bytes()
		got, err := inst.Run(frame)
		if err != nil {
			t.Fatalf("seed %d, frame %x: %v", g.seed, frame, err)
		}
		p := model.Decode(frame)
		p.Iface = "lo" // where BPF_PROG_TEST_RUN puts frames
		// Nothing goes out of the instance: its table stays empty.
		if want, _ := model.EvaluateTracked(rs, sorted, usesCT, &p, frame, nil, 0); got != want {
			t.Fatalf("seed %d (%d rules, solo %v), frame %x (%+v):\ndatapath %v, reference model %v\nrules:\n%s",
				g.seed, len(rs.Rules), solo, frame, spec, got, want, rules.FormatYAML(rs))
		}
		st.frames++
		if len(spec.Ext) > 0 || spec.IPv4Opts > 0 {
			st.ext++
		}
	}
}

// liveConf is the live generation's config.
func liveConf(t testing.TB, inst *Instance) xdpfwGenConfig {
	m := &inst.objs.xdpfwMaps
	word, err := readActive(m)
	if err != nil {
		t.Fatal(err)
	}
	var conf xdpfwGenConfig
	if err := readGenConf(m.GenConf, word.rules(), &conf); err != nil {
		t.Fatal(err)
	}
	return conf
}

// TestRandomRulesetsAgreeWithModel runs the corpus's rounds 0 to 23
// (XDPFW_AGREE_ROUNDS=N runs N), every size class in both forms four
// times, and fails if a kind of ruleset or frame went untried.
func TestRandomRulesetsAgreeWithModel(t *testing.T) {
	privtest.Require(t)
	rounds := uint64(24)
	if v := os.Getenv("XDPFW_AGREE_ROUNDS"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			t.Fatalf("XDPFW_AGREE_ROUNDS=%q: %v", v, err)
		}
		rounds = n
	}
	inst, err := NewInstance(&rules.Ruleset{Policy: rules.Pass}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	var st agreeStats
	for seed := range rounds {
		agreeRound(t, inst, seed, &st)
	}
	if st.solo == 0 || st.multiWord == 0 || st.lpm == 0 || st.setChanges == 0 || st.ext == 0 || st.ctFrames == 0 {
		t.Errorf("a case went untried: %v", st)
	}
	if w := vecWords(inst.objs.Vectors); w <= vecWordsMin {
		t.Errorf("the vectors hold %d words: no ruleset needed more than one", w)
	}
	t.Log(st)
}

// FuzzRulesetAgreement fuzzes the corpus's round seeds: each is a whole
// ruleset and its frames (go test -fuzz FuzzRulesetAgreement).
func FuzzRulesetAgreement(f *testing.F) {
	for seed := range uint64(6) {
		f.Add(seed)
	}
	var inst *Instance
	f.Cleanup(func() {
		if inst != nil {
			inst.Close()
		}
	})
	f.Fuzz(func(t *testing.T, seed uint64) {
		privtest.Require(t)
		if inst == nil {
			var err error
			if inst, err = NewInstance(&rules.Ruleset{Policy: rules.Pass}, true); err != nil {
				t.Fatal(err)
			}
		}
		var st agreeStats
		agreeRound(t, inst, seed, &st)
	})
}
