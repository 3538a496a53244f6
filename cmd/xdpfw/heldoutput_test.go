package main

import (
	"bytes"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestHeldOutputTmpFull: a /tmp too small for what is held sends the
// output out whole and once, in order, whether it fills as the memory
// spills (nothing taken to the file) or later (the file's part first).
// It was written twice over: memory, then the part the file held.
func TestHeldOutputTmpFull(t *testing.T) {
	privtest.Require(t)
	for _, size := range []string{"1m", "6m"} {
		t.Run(size, func(t *testing.T) {
			tmp := t.TempDir()
			if err := unix.Mount("tmpfs", tmp, "tmpfs", 0, "size="+size); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Unmount(tmp, unix.MNT_DETACH) })
			t.Setenv("TMPDIR", tmp)
			var out, want bytes.Buffer
			h := &heldOutput{out: &out}
			for i := 0; want.Len() <= 2*heldInMemory; i++ {
				line := fmt.Sprintf("line %d\n", i)
				want.WriteString(line)
				if n, err := h.Write([]byte(line)); err != nil || n != len(line) {
					t.Fatalf("write %d: %d bytes, %v", i, n, err)
				}
			}
			if err := h.release(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want.Bytes()) {
				t.Errorf("wrote %d bytes, want the %d written once, in order", out.Len(), want.Len())
			}
		})
	}
}
