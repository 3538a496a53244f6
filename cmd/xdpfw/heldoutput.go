package main

import (
	"bytes"
	"io"
	"os"
)

// heldInMemory is how much of a command's output heldOutput keeps in
// memory; the rest waits in a file of its own (a replay's table of a
// capture of millions of frames is hundreds of MB, and replay's memory
// does not grow with the capture).
const heldInMemory = 4 << 20

// heldOutput holds what a command writes while it holds the pin
// directory's lock, and writes it to out once release is called, the
// lock let go: a reader slower than the output (xdpfw replay ... | less,
// a stopped pipe) then holds back no change, as readState's listings do.
// Past heldInMemory the output waits in an unlinked temporary file.
type heldOutput struct {
	out    io.Writer
	mem    bytes.Buffer
	file   *os.File
	direct bool // released, or nowhere to hold more: writes go to out
}

func (h *heldOutput) Write(p []byte) (int, error) {
	switch {
	case h.direct:
		return h.out.Write(p)
	case h.file != nil:
		return h.file.Write(p)
	case h.mem.Len()+len(p) <= heldInMemory:
		return h.mem.Write(p)
	}
	f, err := os.CreateTemp("", "xdpfw-output-*")
	if err != nil {
		// Nowhere to hold it (a read-only /tmp): it goes out now, the
		// lock held while it does, as it did before it was held at all,
		// rather than the command failing.
		if err := h.release(); err != nil {
			return 0, err
		}
		return h.out.Write(p)
	}
	os.Remove(f.Name()) // gone with the process, whatever ends it
	h.file = f
	if _, err := f.Write(h.mem.Bytes()); err != nil {
		return 0, err
	}
	h.mem = bytes.Buffer{}
	return f.Write(p)
}

// release writes out what was held; later writes go straight to out.
func (h *heldOutput) release() error {
	if h.direct {
		return nil
	}
	h.direct = true
	if _, err := h.out.Write(h.mem.Bytes()); err != nil {
		return err
	}
	h.mem = bytes.Buffer{}
	if h.file == nil {
		return nil
	}
	defer h.file.Close()
	if _, err := h.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(h.out, h.file)
	return err
}
