package capture

import (
	"context"
	"io"
	"time"
)

// interruptible is out whose writes give up when ctx ends. A write to a
// reader that stopped reading (a pipe full, its reader stopped with ^Z or
// hung) blocks in the kernel, where nothing ends it: the capture caught
// SIGTERM and SIGINT and went on waiting, its datapath copying, until
// SIGKILL left the capture on. The write given up on is left to end with
// the process; every later one fails.
type interruptible struct {
	ctx context.Context
	out io.Writer
	err error
}

func (w *interruptible) Write(b []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	type written struct {
		n   int
		err error
	}
	done := make(chan written, 1)
	go func() {
		n, err := w.out.Write(b)
		done <- written{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-w.ctx.Done():
	}
	// A write that ends at once (to a file, to a reader keeping up) is
	// let end: given up on as the interrupt came, it raced the output's
	// close, and an empty pcapng lost its interface block. One blocked
	// on a reader that stopped is given up after writeGrace.
	select {
	case r := <-done:
		return r.n, r.err
	case <-time.After(writeGrace):
		w.err = w.ctx.Err()
		return 0, w.err
	}
}

// writeGrace is how long a write is let finish after the interrupt.
const writeGrace = time.Second
