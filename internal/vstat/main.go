// Command vstat loads a BPF object and prints the verifier's statistics
// for each program, or the end of the verifier's log when one is refused:
// how much of the million-instruction budget the datapath uses. The
// object's trace_enabled constant (set by replay instances) changes what
// the verifier walks, so both variants are loaded. The rule vectors are
// given their largest size (vec_words = VEC_WORDS, the words of 4096
// rules), which bounds first_match's loop least: the verifier's worst
// case over the sizes a ruleset can ask for.
//
//	go run ./internal/vstat pkg/loader/xdpfw_bpfel.o
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/xdpfw/xdpfw/pkg/layout"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: vstat OBJECT")
		os.Exit(2)
	}
	failed := false
	for _, trace := range []uint32{0, 1} {
		if err := load(os.Args[1], trace); err != nil {
			fmt.Println(err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

// load verifies every program of the object with trace_enabled = trace
// and prints one line per program.
func load(path string, trace uint32) error {
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		return err
	}
	variant := ""
	if v, ok := spec.Variables["trace_enabled"]; ok {
		if err := v.Set(trace); err != nil {
			return err
		}
		if trace != 0 {
			variant = " (trace)"
		}
	} else if trace != 0 {
		return nil
	}
	if v, ok := spec.Variables["vec_words"]; ok && spec.Maps["vectors"] != nil {
		if err := v.Set(uint32(layout.VecWords)); err != nil {
			return err
		}
		spec.Maps["vectors"].ValueSize = 8 + 8*layout.VecWords
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats}})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			lines := ve.Log[max(0, len(ve.Log)-5):]
			return fmt.Errorf("refused%s: %s", variant, strings.Join(lines, " | "))
		}
		return err
	}
	defer coll.Close()
	names := make([]string, 0, len(coll.Programs))
	for name := range coll.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Printf("%s%s %s\n", name, variant, processedLine(coll.Programs[name].VerifierLog))
	}
	return nil
}

func processedLine(log string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "processed") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(log)
}
