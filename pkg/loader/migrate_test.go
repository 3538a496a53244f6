package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/blocklist"
	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// previousObject is the datapath of the last release of the previous
// layout (version 18, IPv6 set arrays without a seed, configs without
// the conntrack section):
// pkg/loader/xdpfw_bpfel.o as committed at 0029c44, kept as it was.
const previousObject = "testdata/xdpfw-layout18.o"

// migrateRuleset's rules set conditions on two dimensions (not GF_SOLO),
// one has a comment long enough for rule_defs_long, and one a definition
// of 85 to 124 bytes (long: past the short entries' 84). Its conntrack
// table is not the default size, which the fragments table follows, and
// its timeouts, which layout 18 kept in ct_conf alone, not the defaults.
const migrateRuleset = `policy: pass
conntrack: {max-flows: 16384, timeouts: {udp: 45s, tcp-established: 2h}}
sets:
  bad: {family: ipv4, elements: [198.51.100.0/24]}
rules:
  - {src: "@bad", action: drop}
  - {proto: udp, dport: 53, action: pass, comment: "resolver traffic: a comment long enough to take the rule past the short definitions, into rule_defs_long"}
  - {proto: tcp, dport: 23, action: drop}
  - {src: "2001:db8:abcd:12::/64", dst: "2001:db8:abcd:34::/64", proto: tcp, dport: 443, action: pass, comment: "web"}
`

// TestMigratePrevious: a state run by the previous release's program, its
// counters counted by that program, is moved to this build by Provision
// (what attach and apply run), keeping ruleset, sets, counters and the
// attachment; this build's program then runs on the interface and the
// pins, and counts on from the old counters.
func TestMigratePrevious(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		// The previous release's state: read as it is, changed by nothing
		// but a migration.
		want, old, before, err := previousFixture(dir, "mig0")
		if err != nil {
			return err
		}
		// Its configs record no conntrack section: the timeouts are
		// read from ct_conf, the max-flows from the table's size.
		if got, err := old.RulesetWithSets(); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("the previous layout's ruleset %+v (%v), want %+v", got, err, want)
		}
		verdicts, err := old.VerdictCounters()
		if err != nil {
			old.Close()
			return err
		}
		if verdicts["drop"].Packets != 2 {
			old.Close()
			return fmt.Errorf("verdict counters under the previous program: %+v, want 2 drops", verdicts)
		}
		if err := old.maps.CtFrags.Put(&testFrag, &testFragExpiry); err != nil {
			old.Close()
			return err
		}
		// What top, metrics and ct read: the previous layout has the
		// same conntrack maps, so its flows and timeouts read as they are.
		if err := readsPrevious(old); err != nil {
			old.Close()
			return err
		}
		_, err = old.AddRule(rules.Rule{Action: rules.Pass})
		// serve tells its sweeps' refusal apart by ErrPreviousLayout.
		_, swept := old.SweepConntrack()
		old.Close()
		if err == nil || !strings.Contains(err.Error(), "xdpfw attach IFACE or xdpfw apply -f FILE") || !errors.Is(err, ErrPreviousLayout) {
			t.Errorf("rule add on a previous layout's state: %v, want the way to move it", err)
		}
		if !errors.Is(swept, ErrPreviousLayout) {
			t.Errorf("a sweep of a previous layout's state: %v, want ErrPreviousLayout", swept)
		}
		if len(before) != 4 || before[0].Packets != 1 || before[2].Packets != 1 || before[3].Packets != 1 {
			return fmt.Errorf("counters under the previous program: %+v, want one packet on rules 1, 3 and 4", before)
		}

		vectorsBefore := pinnedMapID(t, dir, xdpfwMapVectors)
		var notices []string
		MigrateNotice = func(d string, from, to int, _ Reach) { notices = append(notices, d) }
		defer func() { MigrateNotice = nil }()
		err = Provision(dir, func(s *State) error {
			_, _, err := s.AttachAll([]string{"mig0"}, ModeAuto, false)
			return err
		})
		if err != nil {
			return fmt.Errorf("attach on a previous layout's state: %w", err)
		}
		if len(notices) != 1 {
			t.Errorf("migration notices %v, want one", notices)
		}
		s, err := Open(dir)
		if err != nil {
			return err
		}
		err = checkMigrated(t, s, want, before, verdicts)
		s.Close()
		if err != nil {
			return err
		}
		// Another Provision finds nothing to move.
		if err := Provision(dir, func(*State) error { return nil }); err != nil || len(notices) != 1 {
			t.Errorf("second Provision: %v, %d notices; want nil and no new one", err, len(notices))
		}
		// The classifier's maps were built anew, and every pin is where
		// detach --all finds and removes it.
		if pinnedMapID(t, dir, xdpfwMapVectors) == vectorsBefore {
			t.Error("vectors is the previous layout's map, not one built anew")
		}
		// ... and the live generation's vectors start its new map, not
		// after where the old generation's ended in the old one.
		if s, err = Open(dir); err != nil {
			return err
		}
		err = s.read(func(v *view) error {
			if start, end := vecSpan(&v.conf[v.active]); start != 0 || end == 0 {
				t.Errorf("the live vectors after migration span [%d, %d), want from 0", start, end)
			}
			return nil
		})
		s.Close()
		if err != nil {
			return err
		}
		// Back to the previous release, then migrated and detached by one
		// Provision: what the migration pinned, that State removes.
		s, err = Open(dir)
		if err != nil {
			return err
		}
		err = runPrevious(s)
		s.Close()
		if err != nil {
			return err
		}
		if err := Provision(dir, func(s *State) error {
			_, err := s.DetachAll()
			return err
		}); err != nil {
			return err
		}
		pinDirGone(t, dir, "detach --all in the Provision that migrated")
		return nil
	})
}

// checkMigrated checks a migrated state: this build's layout and
// programs, pinned and attached, the ruleset and counters kept, and the
// counters counting on.
func checkMigrated(t *testing.T, s *State, want *rules.Ruleset, before []RuleRow, verdicts map[string]Counter) error {
	t.Helper()
	if s.old != nil {
		t.Errorf("migrated state still old: %v", s.old)
	}
	if meta, err := readMeta(&s.maps); err != nil || meta.Version != metaVersion {
		t.Errorf("meta %+v (%v), want version %d", meta, err, metaVersion)
	}
	for name := range addedMaps {
		if _, err := os.Stat(filepath.Join(s.dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got, err := s.RulesetWithSets(); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ruleset after migration %+v (%v), want %+v", got, err, want)
	}
	// Both generations' configs record the conntrack section, and
	// ct_conf holds its timeouts.
	if err := s.read(func(v *view) error {
		for gen, c := range v.conf {
			if c.CtTimeout != want.Conntrack.Timeouts || c.CtMaxFlows != want.Conntrack.MaxFlows+1 {
				t.Errorf("generation %d's config after migration records timeouts %v, max-flows %d; want %v, %d",
					gen, c.CtTimeout, c.CtMaxFlows, want.Conntrack.Timeouts, want.Conntrack.MaxFlows+1)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if c, err := readCTConf(&s.maps); err != nil || c.Timeout != want.Conntrack.Timeouts {
		t.Errorf("ct_conf after migration %v (%v), want %v", c.Timeout, err, want.Conntrack.Timeouts)
	}
	st, err := s.Status()
	if err != nil || len(st.Problems) != 0 || len(st.Interfaces) != 1 || !st.Interfaces[0].Attached {
		t.Errorf("status after migration %+v (%v), want mig0 attached, no problems", st, err)
	}
	ids, _ := s.progIDs()
	if len(st.Interfaces) == 1 && st.Interfaces[0].ProgID != ids.plain {
		t.Errorf("mig0 runs program %d, want this build's pinned %d", st.Interfaces[0].ProgID, ids.plain)
	}
	checkEgressRecorded(t, s, "mig0")
	flows := want.Conntrack.Flows()
	if n := s.maps.Ct.MaxEntries(); n != flows {
		t.Errorf("conntrack table of %d flows after migration, want %d", n, flows)
	}
	if n, w := s.maps.CtFrags.MaxEntries(), rules.CTFragsFor(flows); n != w {
		t.Errorf("fragments table of %d datagrams after migration, want %d", n, w)
	}
	var exp uint64
	if err := s.maps.CtFrags.Lookup(&testFrag, &exp); err != nil || exp != testFragExpiry {
		t.Errorf("fragment record after migration: %d (%v), want %d", exp, err, testFragExpiry)
	}
	out, err := runFrame(s.progs.Xdpfw, fixtures.UDP("198.51.100.9", "192.0.2.1", 1000, 53))
	if err != nil {
		return err
	}
	if out != 1 { // XDP_DROP
		t.Errorf("a frame from the set: action %d, want drop", out)
	}
	_, after, err := s.RuleList()
	if err != nil || len(after) != 4 {
		return fmt.Errorf("rules after migration %+v, %v", after, err)
	}
	if after[0].Packets != before[0].Packets+1 || after[2].Packets != before[2].Packets {
		t.Errorf("counters after migration and one more frame: %+v, want %+v plus one on rule 1", after, before)
	}
	if now, err := s.VerdictCounters(); err != nil || now["drop"].Packets != verdicts["drop"].Packets+1 {
		t.Errorf("verdict counters after migration and one more drop: %+v (%v), want %d drops", now, err, verdicts["drop"].Packets+1)
	}
	return nil
}

// runPrevious turns the state into what the previous release left: its
// programs (from previousObject, on the very pinned maps, which it must
// find of the same layout, but those previousShape gives the previous
// shape) pinned and attached, addedMaps not pinned,
// meta version oldMetaVersion. Then it counts a frame each on rules 1 and
// 3 through the old program.
func runPrevious(s *State) error { return runPreviousOn(s, "mig0") }

// runPreviousOn is runPrevious with the state attached to iface.
func runPreviousOn(s *State, iface string) error {
	spec, err := ebpf.LoadCollectionSpec(previousObject)
	if err != nil {
		return err
	}
	// Its reads of `active` and gen_conf by address, as this build's.
	if err := bindValueSections(spec); err != nil {
		return err
	}
	pinned := s.mapsByName()
	if err := previousSets(&s.maps); err != nil {
		return err
	}
	if err := previousBuckets(&s.maps); err != nil {
		return err
	}
	// Every map of the previous layout has the shape it has in this one
	// (layout 19 added none), but gen_conf, whose configs were shorter.
	genConf, err := previousGenConf(s.dir, spec, pinned[xdpfwMapGenConf])
	if err != nil {
		return err
	}
	defer genConf.Close()
	repl := map[string]*ebpf.Map{xdpfwMapGenConf: genConf}
	for name, ms := range spec.Maps {
		if strings.HasPrefix(name, ".") || name == xdpfwMapGenConf {
			continue
		}
		if pinned[name] == nil {
			return fmt.Errorf("the previous layout has map %s, which this build lacks", name)
		}
		if err := compatible(name, shapeOf(ms), pinned[name]); err != nil {
			return fmt.Errorf("the previous layout differs: %w", err)
		}
		repl[name] = pinned[name]
	}
	// Layout 18 sized its conntrack tables to the ruleset as this one does
	// (load).
	spec.Maps[xdpfwMapCt].MaxEntries = pinned[xdpfwMapCt].MaxEntries()
	spec.Maps[xdpfwMapCtFrags].MaxEntries = pinned[xdpfwMapCtFrags].MaxEntries()
	// The previous release's programs, its egress learner in place of
	// this build's.
	var progs struct {
		Xdpfw       *ebpf.Program `ebpf:"xdpfw"`
		XdpfwFrags  *ebpf.Program `ebpf:"xdpfw_frags"`
		XdpfwEgress *ebpf.Program `ebpf:"xdpfw_egress"`
	}
	if err := spec.LoadAndAssign(&progs, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		return err
	}
	defer progs.Xdpfw.Close()
	defer progs.XdpfwFrags.Close()
	defer progs.XdpfwEgress.Close()
	for pin, p := range map[string]*ebpf.Program{progPin: progs.Xdpfw, progFragsPin: progs.XdpfwFrags, progEgressPin: progs.XdpfwEgress} {
		if err := os.Remove(filepath.Join(s.dir, pin)); err != nil {
			return err
		}
		if err := p.Pin(filepath.Join(s.dir, pin)); err != nil {
			return err
		}
	}
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetXdpFdWithFlags(link, progs.Xdpfw.FD(), nl.XDP_FLAGS_SKB_MODE); err != nil {
		return err
	}
	if _, err := s.attachEgress(link, progs.XdpfwEgress); err != nil {
		return err
	}
	for name, m := range pinned {
		if addedMaps[name] {
			if err := m.Unpin(); err != nil {
				return err
			}
		}
	}
	if len(repl)+len(addedMaps) != len(pinned) {
		return fmt.Errorf("the previous layout has %d maps, this one %d: addedMaps is wrong", len(repl), len(pinned))
	}
	if err := setMetaVersion(&s.maps, oldMetaVersion); err != nil {
		return err
	}
	// Rule 4's prefixes are in the address buckets, unseeded.
	for _, f := range [][]byte{fixtures.UDP("198.51.100.9", "192.0.2.1", 1000, 53), fixtures.TCPSyn("192.0.2.7", "192.0.2.1", 1000, 23),
		fixtures.TCPSyn("2001:db8:abcd:12::7", "2001:db8:abcd:34::9", 1000, 443)} {
		if _, err := runFrame(progs.Xdpfw, f); err != nil {
			return err
		}
	}
	return nil
}

// runFrame runs one frame through p and returns its XDP action.
func runFrame(p *ebpf.Program, frame []byte) (uint32, error) {
	out, err := p.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		return 0, fmt.Errorf("test run: %w", err)
	}
	return out, nil
}

// setMetaVersion writes version into meta, as another build would have.
func setMetaVersion(m *xdpfwMaps, version uint32) error {
	meta, err := readMeta(m)
	if err != nil {
		return err
	}
	meta.Version = version
	return writeMeta(m, &meta)
}

func pinnedMapID(t *testing.T, dir, name string) ebpf.MapID {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
	if err != nil {
		t.Errorf("pinned %s: %v", name, err)
		return 0
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		t.Errorf("map info: %v", err)
		return 0
	}
	id, _ := info.ID()
	return id
}

// TestMigrateCutShort: a migration ended at any of its points (as a
// killed process leaves it) leaves the ruleset enforced, and the next
// Provision finishes it: this build's program attached and pinned, the
// ruleset and counters as they were, nothing left over.
func TestMigrateCutShort(t *testing.T) {
	for _, point := range []string{"migrate:maps", "migrate:programs", "migrate:attached"} {
		t.Run(point, func(t *testing.T) {
			dir := privtest.PinDir(t)
			inThrowawayNetns(t, func() error {
				defer removeState(dir)
				_, old, before, err := previousFixture(dir, "cut0")
				if err != nil {
					return err
				}
				stopChangesAt(old, func(p string) {
					if p == point {
						runtime.Goexit()
					}
				})
				done := make(chan bool)
				go func() {
					finished := false
					defer func() { done <- finished }()
					old.migrate()
					finished = true
				}()
				finished := <-done
				old.Close()
				if finished {
					return fmt.Errorf("the migration never reached %s", point)
				}
				// A frame of the third rule, counted by whichever program
				// the cut left pinned (this build's counts it by rank):
				// the rule keeps it once the migration is finished.
				if err := countPinned(dir, fixtures.TCPSyn("192.0.2.7", "192.0.2.1", 1000, 23)); err != nil {
					return err
				}
				before[2].Packets++
				before[2].Bytes += uint64(len(fixtures.TCPSyn("192.0.2.7", "192.0.2.1", 1000, 23)))
				if err := Provision(dir, func(s *State) error {
					_, _, err := s.AttachAll([]string{"cut0"}, ModeAuto, false)
					return err
				}); err != nil {
					return fmt.Errorf("Provision after a migration cut at %s: %w", point, err)
				}
				s, err := Open(dir)
				if err != nil {
					return err
				}
				defer s.Close()
				st, err := s.Status()
				ids, _ := s.progIDs()
				if err != nil || len(st.Problems) != 0 || len(st.Interfaces) != 1 || st.Interfaces[0].ProgID != ids.plain {
					t.Errorf("status after finishing: %+v (%v), want cut0 running the pinned program %d", st, err, ids.plain)
				}
				checkEgressRecorded(t, s, "cut0")
				_, after, err := s.RuleList()
				if err != nil || len(after) != len(before) {
					return fmt.Errorf("rules after finishing: %+v, %v", after, err)
				}
				for i := range before {
					if after[i].Match != before[i].Match || after[i].Counter != before[i].Counter {
						t.Errorf("rule %d after finishing: %+v, want %+v", i, after[i], before[i])
					}
				}
				// And after two commits, which fold both generations.
				for range 2 {
					if _, err := s.SetPolicy(rules.Pass); err != nil {
						return err
					}
				}
				if _, after, err = s.RuleList(); err != nil {
					return err
				}
				for i := range before {
					if after[i].Counter != before[i].Counter {
						t.Errorf("rule %d after two more commits: %+v, want %+v", i, after[i].Counter, before[i].Counter)
					}
				}
				entries, _ := os.ReadDir(dir)
				for _, e := range entries {
					if strings.HasSuffix(e.Name(), newPinSuffix) {
						t.Errorf("left %s", e.Name())
					}
				}
				return nil
			})
		})
	}
}

// countPinned runs frame through the program pinned in dir, on the maps
// pinned there.
func countPinned(dir string, frame []byte) error {
	p, err := ebpf.LoadPinnedProgram(filepath.Join(dir, "prog"), nil)
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = runFrame(p, frame)
	return err
}

// migrateFixture is a state in dir attached to a new veth iface, with
// migrateRuleset applied; the caller closes it.
func migrateFixture(dir, iface string) (*State, error) {
	s, err := attachedState(dir, iface)
	if err != nil {
		return nil, err
	}
	rs, err := rules.ParseYAML("migrate.yaml", []byte(migrateRuleset), blocklist.RulesetOptions())
	if err == nil {
		_, err = s.Apply(rs)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// previousFixture is migrateFixture's state (want: its ruleset) turned
// into the previous release's and opened (previousState); the caller
// closes old.
func previousFixture(dir, iface string) (want *rules.Ruleset, old *State, before []RuleRow, err error) {
	s, err := migrateFixture(dir, iface)
	if err != nil {
		return nil, nil, nil, err
	}
	want, err = s.RulesetWithSets()
	s.Close()
	if err != nil {
		return nil, nil, nil, err
	}
	old, before, err = previousState(dir, iface)
	return want, old, before, err
}

// removeState removes whatever state dir holds.
func removeState(dir string) {
	if s, err := Open(dir); err == nil {
		s.unpinAll()
		s.Close()
	}
}

// previousState turns the state in dir, attached to iface, into the
// previous release's (runPreviousOn) and opens it; before is its rule
// list then. The caller closes it.
func previousState(dir, iface string) (old *State, before []RuleRow, err error) {
	s, err := Open(dir)
	if err != nil {
		return nil, nil, err
	}
	err = runPreviousOn(s, iface)
	s.Close()
	if err != nil {
		return nil, nil, err
	}
	if old, err = Open(dir); err != nil {
		return nil, nil, err
	}
	if _, before, err = old.RuleList(); err != nil {
		old.Close()
		return nil, nil, err
	}
	return old, before, nil
}

// TestMigrateCutBetweenPins: a migration cut after any one of the new
// maps' pins has replaced the old one (the new gen_conf beside the old
// generation word, the new rule_defs_long beside the old rule_defs)
// leaves a state that reads as the same ruleset, the long definition
// included, and the next Provision finishes it.
func TestMigrateCutBetweenPins(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		want, old, _, err := previousFixture(dir, "pins0")
		if err != nil {
			return err
		}
		spec, err := objectSpec()
		if err != nil {
			old.Close()
			return err
		}
		fresh, err := old.rebuild(spec)
		old.Close()
		if err != nil {
			return err
		}
		defer func() {
			for _, m := range fresh {
				m.Close()
			}
		}()
		for _, name := range pinOrder(fresh) {
			if err := pinOver(dir, name, fresh[name]); err != nil {
				return err
			}
			cut, err := Open(dir)
			if err != nil {
				return fmt.Errorf("cut after pinning %s: %w", name, err)
			}
			got, err := cut.RulesetWithSets()
			cut.Close()
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("ruleset cut after pinning %s: %+v (%v), want %+v", name, got, err, want)
			}
		}
		if err := Provision(dir, func(s *State) error {
			_, _, err := s.AttachAll([]string{"pins0"}, ModeAuto, false)
			return err
		}); err != nil {
			return fmt.Errorf("Provision after the cut: %w", err)
		}
		s, err := Open(dir)
		if err != nil {
			return err
		}
		defer s.Close()
		if s.old != nil {
			t.Errorf("state still old after Provision: %v", s.old)
		}
		if got, err := s.RulesetWithSets(); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ruleset after finishing: %+v (%v), want %+v", got, err, want)
		}
		return nil
	})
}

// TestMigratePreviousGrowing: a state of the previous layout whose growth
// or conntrack resize was cut short (meta marked growing, as that build
// marked it) is read as that layout's, and moved by the next Provision,
// which loads this build's programs on the maps as that growth's recovery
// would. It was refused as of an unknown layout ("layout version
// 2147483666"), detach --all the way out.
func TestMigratePreviousGrowing(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		want, old, _, err := previousFixture(dir, "mig0")
		if err != nil {
			return err
		}
		err = setMetaVersion(&old.maps, oldMetaVersion|metaGrowing)
		old.Close()
		if err != nil {
			return err
		}
		s, err := Open(dir)
		if err != nil {
			return fmt.Errorf("open the previous layout's state marked growing: %w", err)
		}
		got, err := s.RulesetWithSets()
		s.Close()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("the previous layout's ruleset, marked growing: %+v (%v), want %+v", got, err, want)
		}
		if err := Provision(dir, func(*State) error { return nil }); err != nil {
			return err
		}
		if s, err = Open(dir); err != nil {
			return err
		}
		defer s.Close()
		if meta, err := readMeta(&s.maps); err != nil || meta.Version != metaVersion || s.old != nil {
			t.Errorf("meta after the migration %+v (%v, old %v), want version %d", meta, err, s.old, metaVersion)
		}
		if got, err := s.RulesetWithSets(); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ruleset after the migration %+v (%v), want %+v", got, err, want)
		}
		st, err := s.Status()
		if err != nil || len(st.Problems) != 0 || len(st.Interfaces) != 1 || !st.Interfaces[0].Attached {
			t.Errorf("status after the migration %+v (%v), want mig0 attached, no problems", st, err)
		}
		return nil
	})
}

// readsPrevious checks that old, a state of the previous layout holding
// migrateRuleset, reads whole: the snapshot top and metrics take, and a
// flow put in its table with the timeouts its ruleset set.
func readsPrevious(old *State) error {
	now, err := ctClock()
	if err != nil {
		return err
	}
	k := xdpfwCtKey{Family: 4, Proto: 17, Lport: 40000, Rport: 53}
	if err := old.maps.Ct.Put(&k, &xdpfwCtVal{LastSeen: uint64(now), Kind: layout.CtKindUdp}); err != nil {
		return err
	}
	if _, err := old.Snapshot(); err != nil {
		return fmt.Errorf("snapshot of the previous layout's state: %w", err)
	}
	st, err := old.ConntrackStats()
	if err != nil || st.Entries != 1 || st.Capacity != 16384 || st.Timeouts["udp"] != 45 {
		return fmt.Errorf("ct stats of the previous layout's state %+v (%v), want one flow of 16384, udp 45 s", st, err)
	}
	flows, err := old.ConntrackFlows(CTFilter{})
	if err != nil || len(flows) != 1 || flows[0].Left > 45*time.Second {
		return fmt.Errorf("ct list of the previous layout's state %+v (%v), want one flow with at most 45 s left", flows, err)
	}
	return old.maps.Ct.Delete(&k)
}
