package serve

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// The set files a config names (sets: {feed: {file: ...}}), which cron
// or a feed updater rewrites without touching the config: serve polls
// them (setPollEvery) and applies the config again once a changed one
// has been quiet for a whole poll. A feed downloaded in place (curl -o)
// is read only whole, then: applied half written, the set would shrink,
// and a drop set let through what its missing lines listed.

// setFiles are the set files the last parse read, each stamped as it
// was just before the read: the stamp a poll compares with.
type setFiles struct {
	mu      sync.Mutex
	paths   []string
	stamp   [sha256.Size]byte // of the files as read
	pending [sha256.Size]byte // a changed stamp a poll saw, to be seen again
}

// reading wraps read, the parser's reader of set files, so that the
// files it reads are recorded with their stamps; done makes them the
// ones polls compare with.
func (f *setFiles) reading(read func(string, rules.Family) ([]netip.Prefix, error)) (wrapped func(string, rules.Family) ([]netip.Prefix, error), done func()) {
	var paths []string
	h := sha256.New()
	wrapped = func(path string, fam rules.Family) ([]netip.Prefix, error) {
		paths = append(paths, path)
		stampFile(h, path)
		return read(path, fam)
	}
	done = func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.paths = paths
		copy(f.stamp[:], h.Sum(nil))
		f.pending = f.stamp
	}
	return wrapped, done
}

// settled reports whether a set file changed since it was read and has
// stayed as it is since the last poll: the config is to be applied
// again. The first poll that sees a change only notes it.
func (f *setFiles) settled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.paths) == 0 {
		return false
	}
	h := sha256.New()
	for _, p := range f.paths {
		stampFile(h, p)
	}
	var now [sha256.Size]byte
	copy(now[:], h.Sum(nil))
	if now == f.stamp {
		f.pending = f.stamp
		return false
	}
	if now != f.pending {
		f.pending = now
		return false
	}
	return true
}

// stampFile adds what says path changed to h: its size, modification
// and change times and inode (a file renamed over it), or that it is
// not there.
func stampFile(h io.Writer, path string) {
	h.Write([]byte(path))
	h.Write([]byte{0})
	fi, err := os.Stat(path)
	if err != nil {
		h.Write([]byte("missing"))
		return
	}
	var b [40]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(fi.Size()))
	binary.LittleEndian.PutUint64(b[8:], uint64(fi.ModTime().UnixNano()))
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		binary.LittleEndian.PutUint64(b[16:], st.Ino)
		binary.LittleEndian.PutUint64(b[24:], uint64(st.Ctim.Nano()))
		binary.LittleEndian.PutUint64(b[32:], st.Dev)
	}
	h.Write(b[:])
}

// setPollEvery is how often the set files are looked at: a changed one
// is applied at the second poll that sees it as it is, so 10 to 20 s
// after it was last written.
const setPollEvery = 10 * time.Second

// triggerSetFile is the reload of a set file's change.
const triggerSetFile = "set file changed"
