package loader

import (
	"context"
	"errors"
	"fmt"
	mbits "math/bits"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// DefaultPinDir is where the live program and maps are pinned. Every
// interface xdpfw is attached to shares the one ruleset pinned here.
const DefaultPinDir = "/sys/fs/bpf/xdpfw"

// The programs' pins: one-buffer frames, and frames in several buffers
// (programs.go), and the egress learner (egress.go).
const (
	progPin       = "prog"
	progFragsPin  = "prog_frags"
	progEgressPin = "prog_egress"
)

// State is the pinned, live xdpfw: its programs and maps, held under an
// exclusive lock on the pin directory so CLI invocations never interleave.
type State struct {
	dir   string
	maps  xdpfwMaps
	progs xdpfwPrograms
	lock  *os.File
	// created is set when this Open made the state, so a failed first
	// command can remove it again without touching state it found.
	created bool
	// asCreated is set while the state is as create wrote it (no rules,
	// policy pass) and no change has been made through this handle: an
	// Apply of that very ruleset still made it live (apply.go).
	asCreated bool
	// old is set when the state has the previous layout (checkMeta): it
	// is read, never changed, and says why.
	old     error
	missing []string           // addedMaps not pinned (the previous layout)
	mu      sync.Mutex         // this process's turn at the maps (change.go)
	stopAt  func(point string) // tests only: ends a change at a named point
}

// Open returns the existing pinned state in dir, or an error that is
// ErrNotAttached (naming dir).
func Open(dir string) (*State, error) {
	return open(context.Background(), dir, false)
}

// OpenContext is Open, whose wait for the pin directory's lock ends when
// ctx does, with an error that is ctx.Err().
func OpenContext(ctx context.Context, dir string) (*State, error) {
	return open(ctx, dir, false)
}

// OpenOrCreate returns the pinned state in dir, creating it (program
// loaded, maps pinned, empty ruleset with policy pass) if there is none.
func OpenOrCreate(dir string) (*State, error) {
	return open(context.Background(), dir, true)
}

// open is Open, or OpenOrCreate, whose wait for the lock ends with ctx.
func open(ctx context.Context, dir string, create bool) (*State, error) {
	if err := checkEnv(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(ctx, dir, create)
	if err != nil {
		return nil, err
	}
	s := &State{dir: dir, lock: lock}
	if _, err := os.Stat(filepath.Join(dir, xdpfwMapMeta)); err == nil {
		err = s.loadPinned()
		if err != nil {
			s.Close()
			return nil, &brokenState{err}
		}
		return s, nil
	}
	if !create {
		s.Close()
		return nil, &noStateError{dir}
	}
	if err := s.create(); err != nil {
		s.Close()
		os.Remove(dir) // only if empty: never anything create did not make
		return nil, err
	}
	s.created, s.asCreated = true, true
	return s, nil
}

// checkEnv turns the usual environment problems into one clear line.
func checkEnv(dir string) error {
	if err := checkRoot(); err != nil {
		return err
	}
	// Not whether it is writable: a state on a read-only mount still
	// reads, and making pins there fails in a line of its own.
	var st unix.Statfs_t
	_, err := checkBPFFS(dir, &st, unix.Statfs)
	return err
}

// lockDir takes an exclusive flock on the pin directory (creating it when
// asked), so concurrent invocations run one after another. It refuses a
// directory others can change (openPinDir).
//
// The lock is on the directory opened, and the holder may remove it (the
// last detach, detach --all) while this process waits: the lock it then
// gets is on a directory no path leads to, and another process may have
// made and locked a new one of that name meanwhile. So it is kept only if
// dir still is the directory locked; else it is taken again on what dir
// is now (made again when asked, else no state). The wait ends with ctx
// (lock).
func lockDir(ctx context.Context, dir string, create bool) (*os.File, error) {
	for {
		if create {
			if err := safeAncestor(dir); err != nil {
				return nil, err
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create pin directory: %w", err)
			}
		}
		f, err := openPinDir(dir)
		var gone *noStateError
		if create && errors.As(err, &gone) {
			// Removed between MkdirAll and here (a detach --all
			// letting the lock go): made again on the next turn.
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := lock(ctx, f, dir); err != nil {
			f.Close()
			return nil, err
		}
		same, err := stillAt(f, dir)
		if same {
			return f, nil
		}
		f.Close()
		if err != nil {
			return nil, err
		}
	}
}

// stillAt reports whether dir is the directory f has open.
func stillAt(f *os.File, dir string) (bool, error) {
	var held, now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &held); err != nil {
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	switch err := unix.Lstat(dir, &now); {
	case errors.Is(err, unix.ENOENT):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	return held.Dev == now.Dev && held.Ino == now.Ino, nil
}

// Close releases the maps, the programs and the lock. The pinned state
// stays in the kernel.
func (s *State) Close() {
	s.maps.Close()
	s.progs.Close()
	if s.lock != nil {
		s.lock.Close()
	}
}

// Dir is the pin directory.
func (s *State) Dir() string { return s.dir }

func (s *State) loadPinned() error {
	pinned := map[string]*ebpf.Map{}
	var reshaped error
	defer func() {
		for _, m := range pinned {
			m.Close()
		}
	}()
	for name, shape := range objectMaps {
		m, err := ebpf.LoadPinnedMap(filepath.Join(s.dir, name), nil)
		if errors.Is(err, os.ErrNotExist) && addedMaps[name] {
			// The previous layout lacked it (checkMeta): an empty
			// stand-in, pinned only by migrate.
			m, err = newObjectMap(name)
			if err == nil {
				s.missing = append(s.missing, name)
			}
		}
		if err != nil {
			// A build with a map the pinned one lacks sees this too:
			// detach --all removes what is xdpfw's (RemoveState).
			return fmt.Errorf("pinned state in %s is incomplete or from another xdpfw build (%s: %v); detach with the build that attached it, or run: xdpfw detach --all", s.dir, name, err)
		}
		pinned[name] = m
		if err := compatible(name, shape, m); err != nil {
			if !rebuiltMaps[name] {
				return incompatible(s.dir, err)
			}
			// The previous layout's shape, which migrate replaces: only
			// a state of that layout may have it (checked below).
			reshaped = errors.Join(reshaped, err)
		}
	}
	if err := assignMaps(&s.maps, pinned); err != nil {
		return err
	}
	pinned = nil
	var err error
	if s.old, err = checkMeta(&s.maps, s.dir, len(s.missing) > 0); err != nil {
		return err
	}
	if reshaped != nil && s.old == nil {
		return incompatible(s.dir, reshaped)
	}
	return s.loadPinnedPrograms()
}

// loadPinnedPrograms takes the state's programs from their pins.
func (s *State) loadPinnedPrograms() error {
	s.progs.Close()
	for pin, p := range s.programPins() {
		var err error
		*p, err = ebpf.LoadPinnedProgram(filepath.Join(s.dir, pin), nil)
		if errors.Is(err, os.ErrNotExist) && pin == progEgressPin && s.old != nil {
			continue // the previous layout had none: migrate pins it
		}
		if err != nil {
			return fmt.Errorf("pinned program in %s: %w", s.dir, err)
		}
	}
	return nil
}

// programPins maps each program's pin name to where State holds it.
func (s *State) programPins() map[string]**ebpf.Program {
	return map[string]**ebpf.Program{progPin: &s.progs.Xdpfw, progFragsPin: &s.progs.XdpfwFrags, progEgressPin: &s.progs.XdpfwEgress}
}

func incompatible(dir string, err error) error {
	return fmt.Errorf("pinned state in %s is from an incompatible xdpfw build (%v); detach it with that build, or run: xdpfw detach --all", dir, err)
}

// mapShape is what the kernel checks of a map a program is loaded on:
// the object's maps' are generated with it (objectMaps,
// mapshapes_gen.go), so opening a state parses no ELF.
type mapShape struct {
	Type                           ebpf.MapType
	KeySize, ValueSize, MaxEntries uint32
	Flags                          uint32
}

// newObjectMap creates the object's map name as its spec says.
func newObjectMap(name string) (*ebpf.Map, error) {
	spec, err := objectSpec()
	if err != nil {
		return nil, err
	}
	return ebpf.NewMap(spec.Maps[name])
}

// compatible: m, the map name, has want's shape (vectors any size: it is
// sized to the ruleset, vectors.go, as are value_atoms, valueatoms.go, and the address buckets; the conntrack tables, flows and
// fragments, any size a ruleset may ask for, ctresize.go).
func compatible(name string, want mapShape, m *ebpf.Map) error {
	if name == xdpfwMapVectors && m.MaxEntries() >= vecEntriesMin && m.ValueSize() >= want.ValueSize &&
		m.ValueSize() <= vecValueSize(vecWordsMax) && m.ValueSize()%8 == 0 {
		want.MaxEntries, want.ValueSize = m.MaxEntries(), m.ValueSize()
	}
	if n := m.MaxEntries(); (name == xdpfwMapAddr4Host || name == xdpfwMapAddr6Host) && n%numGens == 0 && mbits.OnesCount32(n/numGens) == 1 &&
		n/numGens >= 1<<layout.AddrBucketBitsMin && n/numGens <= layout.AddrBuckets {
		want.MaxEntries = n
	}
	if n := m.MaxEntries(); name == xdpfwMapValueAtoms && n%numGens == 0 && n/numGens >= chunksCommon && n/numGens <= maxChunksPerGen {
		want.MaxEntries = n
	}
	if n := m.MaxEntries(); name == xdpfwMapCt && (n == layout.CtIdleEntries || n >= rules.MinCTFlows && n <= rules.MaxCTFlows) {
		want.MaxEntries = n
	}
	if name == xdpfwMapCtFrags && m.MaxEntries() >= rules.CTFragsFor(layout.CtIdleEntries) && m.MaxEntries() <= rules.CTFragsFor(rules.MaxCTFlows) {
		want.MaxEntries = m.MaxEntries()
	}
	if (mapShape{m.Type(), m.KeySize(), m.ValueSize(), m.MaxEntries(), m.Flags()}) != want {
		return fmt.Errorf("map %s differs", name)
	}
	return nil
}

// assignMaps moves maps by name into the generated struct.
func assignMaps(dst *xdpfwMaps, byName map[string]*ebpf.Map) error {
	*dst = xdpfwMaps{}
	for name, f := range mapFields(dst) {
		if *f = byName[name]; *f == nil {
			*dst = xdpfwMaps{} // the caller still owns byName's maps
			return fmt.Errorf("map %s missing", name)
		}
	}
	return nil
}

// create loads a fresh program and maps, commits an empty ruleset, and
// pins everything; meta is pinned last, so its presence means the state
// is complete. Any failure removes what was pinned.
func (s *State) create() (err error) {
	if err := removeLeftovers(s.dir); err != nil {
		return err
	}
	spec, err := objectSpec()
	if err != nil {
		return err
	}
	var objs xdpfwObjects
	if err := load(spec, &objs, nil); err != nil {
		return err
	}
	s.maps, s.progs = objs.xdpfwMaps, objs.xdpfwPrograms
	defer func() {
		if err != nil {
			s.unpinAll()
		}
	}()
	if err := initMeta(&s.maps); err != nil {
		return err
	}
	err = s.change(func(t *tx) error {
		t.setRules(&rules.Ruleset{Policy: rules.Pass}, nil)
		return nil
	})
	if err != nil {
		return err
	}
	for pin, p := range s.programPins() {
		if err := (*p).Pin(filepath.Join(s.dir, pin)); err != nil {
			return fmt.Errorf("pin program: %w", err)
		}
	}
	for name, m := range s.mapsByName() {
		if name == xdpfwMapMeta {
			continue
		}
		if err := m.Pin(filepath.Join(s.dir, name)); err != nil {
			return fmt.Errorf("pin map %s: %w", name, err)
		}
	}
	if err := s.maps.Meta.Pin(filepath.Join(s.dir, xdpfwMapMeta)); err != nil {
		return fmt.Errorf("pin map meta: %w", err)
	}
	return nil
}

func (s *State) mapsByName() map[string]*ebpf.Map {
	byName := map[string]*ebpf.Map{}
	for name, f := range mapFields(&s.maps) {
		byName[name] = *f
	}
	return byName
}

// unpinAll removes every pin and the directory. Meta goes first, so a
// crash half-way leaves state that Open reports as absent, not as valid.
func (s *State) unpinAll() error {
	var errs []error
	if s.maps.Meta != nil {
		errs = append(errs, s.maps.Meta.Unpin())
	}
	for _, m := range s.mapsByName() {
		if m != nil {
			errs = append(errs, m.Unpin())
		}
	}
	for _, p := range s.programPins() {
		if *p != nil {
			errs = append(errs, (*p).Unpin())
		}
	}
	// tcx links of interfaces gone (or detached by DetachAll already).
	if entries, err := os.ReadDir(s.dir); err == nil {
		for _, e := range entries {
			if isEgressLinkPin(e.Name()) {
				errs = append(errs, unpinEgressLink(filepath.Join(s.dir, e.Name())))
			}
		}
	}
	if err := joinLine(errs...); err != nil {
		return err
	}
	if err := os.Remove(s.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		if entries, rerr := os.ReadDir(s.dir); rerr == nil && len(entries) > 0 {
			left := &strayPins{dir: s.dir}
			for _, e := range entries {
				left.names = append(left.names, e.Name())
			}
			return left
		}
		return err
	}
	return nil
}

// strayPins is what unpinAll leaves: entries of the pin directory xdpfw
// did not make, and so the directory.
type strayPins struct {
	dir   string
	names []string
}

func (e *strayPins) Error() string {
	return fmt.Sprintf("left %s in %s: not xdpfw's, so not removed (remove it yourself)", strings.Join(e.names, ", "), e.dir)
}
