package kernel

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// Status is what a probe found.
type Status string

const (
	OK      Status = "ok"
	Missing Status = "missing"
	// Unknown: the probe itself failed (not root, for one); the load
	// will say what is wrong if anything is.
	Unknown Status = "unknown"
)

// Result is a Requirement and what the running kernel has of it.
type Result struct {
	Requirement
	Status Status `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Report is the running kernel against one object's requirements.
type Report struct {
	Release string   `json:"release"`
	Version Version  `json:"version"`
	Results []Result `json:"requirements"`
}

// Probe checks the running kernel against what spec needs. Probes load
// throwaway programs and maps (nothing is attached, nothing outlives the
// call); cilium/ebpf and haveXDPFrags cache their answers, so a process
// that loads many instances probes once.
func Probe(spec *ebpf.CollectionSpec) (Report, error) {
	release, err := Release()
	if err != nil {
		return Report{}, err
	}
	return Check(release, Needs(spec)), nil
}

// Check runs each requirement's probe.
func Check(release string, needs []Requirement) Report {
	r := Report{Release: release}
	r.Version, _ = ParseRelease(release) // an odd release string only loses the version
	for _, n := range needs {
		res := Result{Requirement: n, Status: OK}
		switch err := n.probe(); {
		case err == nil:
		case errors.Is(err, ebpf.ErrNotSupported):
			res.Status = Missing
		default:
			res.Status, res.Error = Unknown, err.Error()
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// Minimum is the oldest kernel release with every requirement.
func (r Report) Minimum() Version {
	var m Version
	for _, res := range r.Results {
		if m.Less(res.Since) {
			m = res.Since
		}
	}
	return m
}

// Missing lists the requirements the kernel lacks.
func (r Report) Missing() []Result {
	var missing []Result
	for _, res := range r.Results {
		if res.Status == Missing {
			missing = append(missing, res)
		}
	}
	return missing
}

// Err refuses the kernel when it lacks anything: nil, or an
// *UnsupportedError naming what is missing.
func (r Report) Err() error {
	missing := r.Missing()
	if len(missing) == 0 {
		return nil
	}
	e := &UnsupportedError{Release: r.Release, Need: r.Minimum()}
	for _, m := range missing {
		e.Missing = append(e.Missing, m.Name)
	}
	return e
}

// UnsupportedError is the one-line refusal of a kernel too old (or built
// without what xdpfw needs).
type UnsupportedError struct {
	Release string
	Missing []string
	Need    Version
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("kernel %s cannot run xdpfw: missing %s (need Linux %s or later; tested on %s)",
		e.Release, strings.Join(e.Missing, ", "), e.Need, TestedList())
}

// Is makes errors.Is(err, ebpf.ErrNotSupported) hold for a refusal.
func (e *UnsupportedError) Is(target error) bool { return target == ebpf.ErrNotSupported }

// haveXDPFrags loads an empty XDP program with BPF_F_XDP_HAS_FRAGS:
// kernels before 5.18 reject the unknown flag with EINVAL. cilium/ebpf
// v0.22 has no probe for it.
var haveXDPFrags = sync.OnceValue(func() error {
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		Flags:        unix.BPF_F_XDP_HAS_FRAGS,
		License:      "GPL",
		Instructions: asm.Instructions{asm.LoadImm(asm.R0, 2, asm.DWord), asm.Return()}, // XDP_PASS
	}, ebpf.ProgramOptions{LogDisabled: true})
	switch {
	case err == nil:
		prog.Close()
		return nil
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("BPF_F_XDP_HAS_FRAGS refused: %w", ebpf.ErrNotSupported)
	}
	return err
})
