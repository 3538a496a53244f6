package loader

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExplainAttachMTU: the kernel's refusal of native XDP for the MTU
// (ERANGE from veth, EINVAL from virtio_net and others) names the ways
// out, as a flag or as a file's key: it said only that the MTU may be too
// large, leaving the operator to guess that generic mode takes any.
func TestExplainAttachMTU(t *testing.T) {
	for _, errno := range []unix.Errno{unix.ERANGE, unix.EINVAL} {
		for by, want := range map[askedBy]string{byFlags: "--mode generic", byFile: "mode: generic in the file's interfaces list"} {
			err := explainAttach(fmt.Errorf("wrapped: %w", errno), by)
			if msg := err.Error(); !strings.Contains(msg, "lower its MTU") || !strings.Contains(msg, want) {
				t.Errorf("explainAttach(%v, %d) = %q, want it to say lower its MTU and %q", errno, by, msg, want)
			}
		}
	}
}
