package loader

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
)

// Several states may share a network namespace (each --pin-dir is one),
// and each sees the others' programs on interfaces it does not list. Those
// are not orphans: their pins are elsewhere, and their own state lists
// them. pinnedElsewhere finds such pins without opening the other states,
// so it never waits for their locks.

// maxPinWalk bounds the walk over the BPF filesystems: a bpffs full of
// other software's pins costs at most this many entries per status.
const maxPinWalk = 20000

var errWalkLimit = errors.New("pin walk limit")

// elsewhere is what xdpfw's pins in other directories hold: their
// programs, and their maps.
type elsewhere struct {
	progs map[uint32]bool
	maps  map[ebpf.MapID]bool
}

// holds reports whether program id is another state's: pinned there, or
// using maps pinned there. A change cut short in that state (a growth, a
// conntrack resize, a migration) left the interfaces it had not reached
// running the program it began with, whose pin it had replaced, on maps
// it kept; that state's next change finishes it (programsOn), so the
// program is not an orphan, and detach --orphans removing it turned that
// state's firewall off on the interface.
func (e elsewhere) holds(id uint32) bool {
	return e.progs[id] || usesMapsOf(id, e.maps)
}

// pinnedElsewhere returns what is pinned under xdpfw's program and map
// pin names in directories other than dir, on every BPF filesystem this
// process sees.
func pinnedElsewhere(dir string, n objectNames) elsewhere {
	e := elsewhere{progs: map[uint32]bool{}, maps: map[ebpf.MapID]bool{}}
	own, _ := os.Stat(dir)
	seen := 0
	for _, mount := range bpffsMounts() {
		filepath.WalkDir(mount, func(path string, d fs.DirEntry, err error) error {
			if seen++; seen > maxPinWalk {
				return errWalkLimit
			}
			if err != nil || d.IsDir() || !n.progPins[d.Name()] && !n.mapPins[d.Name()] {
				return nil
			}
			if parent, err := os.Stat(filepath.Dir(path)); err != nil || own != nil && os.SameFile(parent, own) {
				return nil
			}
			if n.mapPins[d.Name()] {
				m, err := ebpf.LoadPinnedMap(path, nil)
				if err != nil {
					return nil
				}
				defer m.Close()
				if info, err := m.Info(); err == nil {
					if id, ok := info.ID(); ok {
						e.maps[id] = true
					}
				}
				return nil
			}
			p, err := ebpf.LoadPinnedProgram(path, nil)
			if err != nil {
				return nil
			}
			defer p.Close()
			if id, err := progID(p); err == nil {
				e.progs[id] = true
			}
			return nil
		})
	}
	return e
}

// bpffsMounts lists the mount points of BPF filesystems in this mount
// namespace, from /proc/self/mountinfo: "... MOUNTPOINT ... - bpf ...".
func bpffsMounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "bpf" && len(fields) > 4 {
				out = append(out, unescapeMount(fields[4]))
			}
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			v := 0
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + int(c-'0')
			}
			if ok {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
