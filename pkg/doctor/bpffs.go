package doctor

import (
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// BPFFS is the filesystem the pins go to.
type BPFFS struct {
	Path     string `json:"path"` // the pin directory, or the deepest part of it that exists
	Mounted  bool   `json:"mounted"`
	Writable bool   `json:"writable"`
	Finding
}

// checkBPFFS is the loader's own check (loader.CheckPinFS), so doctor
// diagnoses the pin directory as every command will. Access, not a test
// file: doctor writes nothing.
func checkBPFFS(pinDir string) BPFFS {
	fs, err := loader.CheckPinFS(pinDir)
	b := BPFFS{Path: fs.Path, Mounted: fs.Mounted, Writable: fs.Writable}
	if b.Path == "" {
		b.Path = pinDir
	}
	if err != nil {
		b.Finding = Finding{Fail, err.Error()}
		return b
	}
	b.Finding = Finding{OK, "BPF filesystem, writable"}
	return b
}
