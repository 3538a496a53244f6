package doctor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// BPFFS is the filesystem the pins go to.
type BPFFS struct {
	Path     string `json:"path"` // the pin directory, or its parent before the first attach
	Mounted  bool   `json:"mounted"`
	Writable bool   `json:"writable"`
	Finding
}

func checkBPFFS(pinDir string) BPFFS {
	b := BPFFS{Path: pinDir}
	if _, err := os.Stat(pinDir); errors.Is(err, os.ErrNotExist) {
		b.Path = filepath.Dir(pinDir) // where the first attach will create it
	}
	var st unix.Statfs_t
	if err := unix.Statfs(b.Path, &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
		b.Finding = Finding{Fail, fmt.Sprintf("not a BPF filesystem: mount one (mount -t bpf bpf %s) or pick another --pin-dir", b.Path)}
		return b
	}
	b.Mounted = true
	// Access, not a test file: doctor writes nothing.
	b.Writable = st.Flags&unix.ST_RDONLY == 0 && unix.Access(b.Path, unix.W_OK) == nil
	if !b.Writable {
		b.Finding = Finding{Fail, fmt.Sprintf("BPF filesystem not writable: remount it read-write (mount -o remount,rw %s)", b.Path)}
		return b
	}
	b.Finding = Finding{OK, "BPF filesystem, writable"}
	return b
}
