package e2e

import "fmt"

// Source is how the generator sends its frames.
type Source int

const (
	// AnySource is live frames where the kernel allows them, else the loop.
	AnySource Source = iota
	// LiveFrames: live-frames BPF_PROG_TEST_RUN, XDP_TX out of the veth.
	LiveFrames
	// Loop: frames circulating in a veth pair of their own (loop.go).
	Loop
)

var sourceNames = []string{AnySource: "auto", LiveFrames: "live", Loop: "loop"}

func (s Source) String() string { return sourceNames[s] }

// ParseSource reads a Source by its name.
func ParseSource(name string) (Source, error) {
	for s, n := range sourceNames {
		if n == name {
			return Source(s), nil
		}
	}
	return 0, fmt.Errorf("generator %q: want auto, live or loop", name)
}
