package capture

import (
	"context"
	"io"
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
		w.err = w.ctx.Err()
		return 0, w.err
	}
}
