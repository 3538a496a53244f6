package loader

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/pkg/kernel"
)

// CheckKernel probes the running kernel for everything the datapath
// object needs (`xdpfw doctor` shows it; every load refuses on it).
func CheckKernel() (kernel.Report, error) {
	spec, err := objectSpec()
	if err != nil {
		return kernel.Report{}, err
	}
	return kernel.Probe(spec)
}

// verifierLogSize is the verifier log buffer each program is loaded with.
// cilium/ebpf raises anything smaller to 64 KiB; a statistics log is a few
// lines, an error a few more, so the first load never runs out of room.
const verifierLogSize = 64 << 10

// load puts spec's objects into the kernel and assigns them to to, as
// LoadAndAssign does, after refusing a kernel that lacks a feature spec
// needs (one line, in milliseconds, rather than a half-done load).
//
// Programs load with a statistics-only verifier log. Without one,
// cilium/ebpf loads once with no log and, on a refusal, verifies again and
// again with growing instruction-level logs: minutes for a program near
// the million-instruction limit under an emulator. The statistics cost a
// successful load nothing measurable, and a refusal keeps the verifier's
// own error line and instruction count.
func load(spec *ebpf.CollectionSpec, to any, opts *ebpf.CollectionOptions) error {
	report, err := kernel.Probe(spec)
	if err != nil {
		return err
	}
	if err := report.Err(); err != nil {
		return err
	}
	// No memlock limit to lift (cilium/ebpf's rlimit.RemoveMemlock): the
	// kernels that charged maps to RLIMIT_MEMLOCK (before 5.11) lack
	// what the probe above asks for (5.18), and are refused.
	o := ebpf.CollectionOptions{}
	if opts != nil {
		o = *opts
	}
	spec, err = sizedTo(spec, o.MapReplacements)
	if err != nil {
		return err
	}
	o.Programs.LogLevel = ebpf.LogLevelStats
	o.Programs.LogSizeStart = verifierLogSize
	if err := spec.LoadAndAssign(to, &o); err != nil {
		return explainLoad(err, report.Release)
	}
	return nil
}

// sizedTo is spec with the maps it would be given in repl sized as they
// are, and the program's load-time constants that follow from their sizes
// set to match (a copy when anything changes).
func sizedTo(spec *ebpf.CollectionSpec, repl map[string]*ebpf.Map) (*ebpf.CollectionSpec, error) {
	// The vectors map is sized to the ruleset (vectors.go): the programs
	// take the size of the one they are given, entries and words.
	if v := repl[xdpfwMapVectors]; v != nil {
		spec = spec.Copy()
		spec.Maps[xdpfwMapVectors].MaxEntries = v.MaxEntries()
		spec.Maps[xdpfwMapVectors].ValueSize = v.ValueSize()
		if err := setVar(spec, xdpfwVarVecWords, vecWords(v)); err != nil {
			return nil, fmt.Errorf("size the program's vectors: %w", err)
		}
	}
	// So is value_atoms (valueatoms.go): the programs take a
	// generation's part of the one they are given.
	if a := repl[xdpfwMapValueAtoms]; a != nil && a.MaxEntries() != spec.Maps[xdpfwMapValueAtoms].MaxEntries {
		spec = spec.Copy()
		spec.Maps[xdpfwMapValueAtoms].MaxEntries = a.MaxEntries()
		if err := setVar(spec, xdpfwVarChunksPerGen, chunksPerGen(a)); err != nil {
			return nil, fmt.Errorf("size the program's value atoms: %w", err)
		}
	}
	// So are the address buckets (addrbuckets.go): a generation's as
	// bits.
	for name, v := range map[string]string{xdpfwMapAddr4Host: xdpfwVarAddr4Bits, xdpfwMapAddr6Host: xdpfwVarAddr6Bits} {
		if b := repl[name]; b != nil && b.MaxEntries() != spec.Maps[name].MaxEntries {
			spec = spec.Copy()
			spec.Maps[name].MaxEntries = b.MaxEntries()
			if err := setVar(spec, v, bucketBits(b)); err != nil {
				return nil, fmt.Errorf("size the program's address buckets: %w", err)
			}
		}
	}
	// So are the conntrack tables, flows and fragments (ctresize.go):
	// their entries only.
	for _, name := range []string{xdpfwMapCt, xdpfwMapCtFrags} {
		if c := repl[name]; c != nil && c.MaxEntries() != spec.Maps[name].MaxEntries {
			spec = spec.Copy()
			spec.Maps[name].MaxEntries = c.MaxEntries()
		}
	}
	return spec, nil
}

// setVar sets the program's constant name, which an object of another
// build may lack.
func setVar(spec *ebpf.CollectionSpec, name string, v uint32) error {
	vs := spec.Variables[name]
	if vs == nil {
		return fmt.Errorf("the object has no variable %s", name)
	}
	return vs.Set(v)
}

// VerifierRefusal is the kernel's verifier rejecting a program, in one
// line. It wraps the *ebpf.VerifierError, whose Log has every line.
type VerifierRefusal struct {
	Program string
	// Processed and Limit are set when the program was too large to
	// verify: the instructions the verifier walked, and its limit.
	Processed, Limit int
	// Reason is the verifier's last meaningful log line otherwise.
	Reason  string
	Release string
	err     error
}

func (e *VerifierRefusal) Error() string {
	if e.Processed > 0 {
		return fmt.Sprintf("the kernel's verifier refused program %s: %d instructions processed, over its limit of %d (kernel %s)",
			e.Program, e.Processed, e.Limit, e.Release)
	}
	return fmt.Sprintf("the kernel's verifier refused program %s: %s (kernel %s)", e.Program, e.Reason, e.Release)
}

func (e *VerifierRefusal) Unwrap() error { return e.err }

var (
	// cilium/ebpf names the program it was loading: "program NAME: ...".
	programInError = regexp.MustCompile(`program (\w+): `)
	// "BPF program is too large. Processed 1000001 insn" and the
	// statistics line "processed 1000001 insns (limit 1000000) ...".
	processedInsns = regexp.MustCompile(`(?i)processed (\d+) insn`)
	insnLimit      = regexp.MustCompile(`\(limit (\d+)\)`)
)

// The kernel's limit on instructions processed per program
// (BPF_COMPLEXITY_LIMIT_INSNS), for logs that do not state it.
const defaultInsnLimit = 1_000_000

// explainLoad turns a verifier refusal into a *VerifierRefusal; other
// load errors keep cilium/ebpf's words.
func explainLoad(err error, release string) error {
	var verr *ebpf.VerifierError
	if !errors.As(err, &verr) {
		return fmt.Errorf("load BPF program: %w", err)
	}
	r := &VerifierRefusal{Program: "?", Release: release, err: err}
	if m := programInError.FindStringSubmatch(err.Error()); m != nil {
		r.Program = m[1]
	}
	if errors.Is(err, unix.E2BIG) || logContains(verr.Log, "program is too large") {
		r.Processed, r.Limit = processed(verr.Log)
		if r.Processed > 0 {
			return r
		}
	}
	r.Reason = lastMeaningful(verr.Log)
	if r.Reason == "" {
		r.Reason = verr.Cause.Error()
	}
	return r
}

func logContains(log []string, s string) bool {
	for _, line := range log {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// processed finds how many instructions the verifier walked, and its
// limit, in a log (0 when it does not say).
func processed(log []string) (n, limit int) {
	limit = defaultInsnLimit
	for _, line := range log {
		if m := processedInsns.FindStringSubmatch(line); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if m := insnLimit.FindStringSubmatch(line); m != nil {
			limit, _ = strconv.Atoi(m[1])
		}
	}
	return n, limit
}

// lastMeaningful is the verifier's last line that says what went wrong:
// the statistics it appends after the error are skipped.
func lastMeaningful(log []string) string {
	for i := len(log) - 1; i >= 0; i-- {
		line := strings.TrimSpace(log[i])
		switch {
		case line == "",
			strings.HasPrefix(line, "processed "),
			strings.HasPrefix(line, "verification time "),
			strings.HasPrefix(line, "stack depth "):
			continue
		}
		return line
	}
	return ""
}
