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
// Past heldInMemory the output waits in an unlinked temporary file; with
// no room there, what is held goes out and the rest follows unheld.
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
		n, err := h.file.Write(p)
		if err != nil {
			// The file full (a full /tmp): what it holds goes out
			// now, then the rest of p, the lock held while it does.
			return h.goDirect(p, n)
		}
		return n, nil
	case h.mem.Len()+len(p) <= heldInMemory:
		return h.mem.Write(p)
	}
	if !h.spill() {
		// Nowhere to hold it (a read-only or full /tmp): it goes out
		// now, the lock held while it does, as it did before it was
		// held at all, rather than the command failing.
		return h.goDirect(p, 0)
	}
	return h.Write(p)
}

// spill moves what memory holds into an unlinked temporary file, which
// takes the writes from then on; false, and memory as it was, when no
// file takes it.
func (h *heldOutput) spill() bool {
	f, err := os.CreateTemp("", "xdpfw-output-*")
	if err != nil {
		return false
	}
	os.Remove(f.Name()) // gone with the process, whatever ends it
	if _, err := f.Write(h.mem.Bytes()); err != nil {
		f.Close()
		return false
	}
	h.file = f
	h.mem = bytes.Buffer{}
	return true
}

// goDirect releases what is held and writes p[done:] straight to out:
// done bytes of p are among what was held.
func (h *heldOutput) goDirect(p []byte, done int) (int, error) {
	if err := h.release(); err != nil {
		return done, err
	}
	n, err := h.out.Write(p[done:])
	return done + n, err
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
