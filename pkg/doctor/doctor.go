// Package doctor examines the machine for what xdpfw needs (the kernel
// and its BPF features, the BPF filesystem, memory accounting, each
// interface's driver) and says what to do about what is missing. It
// changes nothing: the feature probes load throwaway programs and maps,
// and nothing is attached or pinned.
package doctor

import (
	"fmt"
	"os"
	"strings"

	"github.com/xdpfw/xdpfw/pkg/kernel"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// Verdict is what an operator should make of a finding.
type Verdict string

const (
	OK   Verdict = "ok"
	Warn Verdict = "warn" // xdpfw works, but not as well as it could
	Fail Verdict = "fail" // xdpfw cannot work until this is fixed
)

// Finding is one check's verdict and, in one line, what was found and
// what to do when it is not ok.
type Finding struct {
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`
}

// Report is everything doctor found.
type Report struct {
	OK         bool        `json:"ok"` // no check failed
	Root       Finding     `json:"root"`
	Kernel     Kernel      `json:"kernel"`
	Features   []Feature   `json:"features"`
	BPFFS      BPFFS       `json:"bpffs"`
	BTF        BTF         `json:"btf"`
	Memlock    Memlock     `json:"memlock"`
	Interfaces []Interface `json:"interfaces"`
}

// Run examines the machine for a firewall pinned in pinDir on ifaces, or
// on every interface but loopback when none is named.
func Run(pinDir string, ifaces []string) (*Report, error) {
	r := &Report{Root: checkRoot()}
	probe, err := loader.CheckKernel()
	if err != nil {
		return nil, err
	}
	r.Kernel = checkKernel(probe)
	r.Features = checkFeatures(probe, r.Root.Verdict == OK)
	r.BPFFS = checkBPFFS(pinDir)
	r.BTF = checkBTF()
	r.Memlock = checkMemlock()
	if r.Interfaces, err = checkInterfaces(ifaces); err != nil {
		return nil, err
	}
	r.OK = r.Failed() == 0
	return r, nil
}

// Line is one finding as the text output shows it.
type Line struct {
	Check string
	Finding
}

// Lines are the report's findings in the order doctor checks them.
func (r *Report) Lines() []Line {
	lines := []Line{{"root", r.Root}, {"kernel " + r.Kernel.Release, r.Kernel.Finding}}
	for _, f := range r.Features {
		lines = append(lines, Line{f.Name, f.Finding})
	}
	lines = append(lines, Line{"bpffs " + r.BPFFS.Path, r.BPFFS.Finding}, Line{"BTF", r.BTF.Finding}, Line{"memlock", r.Memlock.Finding})
	for _, i := range r.Interfaces {
		lines = append(lines, Line{"interface " + i.Name, i.Finding})
	}
	return lines
}

// Failed counts the checks that failed.
func (r *Report) Failed() int {
	n := 0
	for _, l := range r.Lines() {
		if l.Verdict == Fail {
			n++
		}
	}
	return n
}

// checkRoot is whether this process has the capabilities xdpfw needs:
// root's, or a user's given them (a unit's AmbientCapabilities, a
// container's added ones). The uid alone failed such a user, and passed
// root in a container without them.
func checkRoot() Finding {
	missing, err := loader.MissingCapabilities()
	if err != nil {
		return Finding{Fail, err.Error()}
	}
	return rootFinding(os.Geteuid(), missing)
}

// rootFinding is checkRoot's verdict for effective uid euid lacking the
// capabilities missing.
func rootFinding(euid int, missing []string) Finding {
	switch {
	case len(missing) > 0 && euid == 0:
		return Finding{Fail, fmt.Sprintf("running as root without %s: xdpfw and these probes need CAP_SYS_ADMIN (CAP_BPF is not enough) and CAP_NET_ADMIN (a container's or unit's capabilities leave them out)", strings.Join(missing, " and "))}
	case len(missing) > 0:
		return Finding{Fail, fmt.Sprintf("not running as root and without %s: xdpfw and these probes need CAP_SYS_ADMIN (CAP_BPF is not enough) and CAP_NET_ADMIN (run: sudo xdpfw doctor)", strings.Join(missing, " and "))}
	case euid == 0:
		return Finding{OK, "running as root"}
	}
	return Finding{OK, fmt.Sprintf("running as uid %d with the capabilities xdpfw needs (CAP_SYS_ADMIN and CAP_NET_ADMIN)", euid)}
}

// Kernel is the running kernel against xdpfw's minimum and tested ones.
type Kernel struct {
	Release string           `json:"release"`
	Version kernel.Version   `json:"version"`
	Minimum kernel.Version   `json:"minimum"`
	Tested  []kernel.Version `json:"tested"`
	Finding
}

func checkKernel(p kernel.Report) Kernel {
	k := Kernel{Release: p.Release, Version: p.Version, Minimum: p.Minimum(), Tested: kernel.Tested}
	tested := fmt.Sprintf("xdpfw needs %s or later, tested on %s", k.Minimum, kernel.TestedList())
	switch {
	case p.Err() != nil:
		k.Finding = Finding{Fail, fmt.Sprintf("lacks BPF features xdpfw needs (below): upgrade (%s)", tested)}
	case k.Version.IsTested():
		k.Finding = Finding{OK, fmt.Sprintf("Linux %s, a tested kernel (%s)", k.Version, tested)}
	case k.Version.Less(k.Minimum):
		k.Finding = Finding{Warn, fmt.Sprintf("Linux %s has every feature xdpfw probes for, backported (%s): untested, `make test` proves it", k.Version, tested)}
	default:
		k.Finding = Finding{Warn, fmt.Sprintf("Linux %s has every feature xdpfw needs but is untested (%s): `make test` proves it", k.Version, tested)}
	}
	return k
}

// Feature is one BPF feature xdpfw's object needs.
type Feature struct {
	kernel.Result
	Finding
}

func checkFeatures(p kernel.Report, root bool) []Feature {
	var fs []Feature
	for _, res := range p.Results {
		f := Feature{Result: res}
		switch {
		case res.Status == kernel.OK:
			f.Finding = Finding{OK, fmt.Sprintf("available (Linux %s and later)", res.Since)}
		case res.Status == kernel.Missing:
			f.Finding = Finding{Fail, fmt.Sprintf("missing: needs Linux %s or later", res.Since)}
		case !root:
			f.Finding = Finding{Warn, fmt.Sprintf("not probed (needs root); needs Linux %s or later", res.Since)}
		default:
			f.Finding = Finding{Warn, fmt.Sprintf("could not probe (%s); needs Linux %s or later", res.Error, res.Since)}
		}
		fs = append(fs, f)
	}
	return fs
}
