// Command vstat loads a BPF object and prints the verifier's statistics
// for each program, or the end of the verifier's log when one is refused:
// how much of the million-instruction budget the datapath uses.
//
//	go run ./internal/vstat pkg/loader/xdpfw_bpfel.o
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
)

func main() {
	spec, err := ebpf.LoadCollectionSpec(os.Args[1])
	if err != nil {
		panic(err)
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats}})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			for _, l := range ve.Log[max(0, len(ve.Log)-5):] {
				fmt.Println("refused:", l)
			}
			os.Exit(1)
		}
		fmt.Println(err)
		os.Exit(1)
	}
	for name, p := range coll.Programs {
		fmt.Println(name, strings.TrimSpace(lastLine(p.VerifierLog)))
	}
}

func lastLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "processed") {
			return l
		}
	}
	return s
}
