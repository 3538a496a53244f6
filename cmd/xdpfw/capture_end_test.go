package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestCaptureEnds: a capture whose reader goes away (a pipe closed, as by
// head or tcpdump -c) or whose terminal hangs up stops its capture and
// exits 0, as an interrupt does; both used to kill the process and leave
// the datapath copying into a ring nobody read.
func TestCaptureEnds(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, "", "apply", "-f", lockdownFile)
	t.Cleanup(func() { runCLI(t, pin, "", "detach", "--all") })
	drop := [][]byte{fixtures.TCPSyn("198.51.100.7", "192.0.2.10", 40000, 23)}

	cmd := cliChild(t, pin, "capture")
	r := startPiped(t, cmd)
	waitCapturing(t, pin, cmd.Process.Pid)
	r.Close() // the reader is gone: the next line written fails
	runPinned(t, pin, drop)
	if err := waitExit(t, cmd, func() { cmd.Process.Kill() }); err != nil {
		t.Errorf("capture into a closed pipe: %v, want exit 0", err)
	}
	checkCaptureRing(t, pin, false)

	hup := startCLI(t, pin, nil, "capture")
	waitCapturing(t, pin, hup.Process.Pid)
	hup.Process.Signal(syscall.SIGHUP)
	if err := waitExit(t, hup, func() { hup.Process.Kill() }); err != nil {
		t.Errorf("capture hung up: %v, want exit 0", err)
	}
	checkCaptureRing(t, pin, false)
	if _, err := runCLI(t, pin, "", "status"); err != nil {
		t.Errorf("status after the captures: %v", err)
	}
}

// TestCaptureReaderGoneQuiet: a capture whose reader goes away while
// nothing is captured (| head on rare drops) ends within a poll or so,
// exit 0, its capture stopped; it used to wait for the next frame's write
// to fail, the datapath copying and the pipeline hanging meanwhile.
func TestCaptureReaderGoneQuiet(t *testing.T) {
	pin, dir := withLiveRuleset(t)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"capture"}, {"capture", "-w", "-"}, {"capture", "-w", fifo}} {
		cmd := cliChild(t, pin, args...)
		r := startPiped(t, cmd)
		if args[len(args)-1] == fifo {
			r.Close()
			var err error
			if r, err = os.Open(fifo); err != nil { // the capture's open waits for it
				t.Fatal(err)
			}
		}
		waitCapturing(t, pin, cmd.Process.Pid)
		r.Close()
		start := time.Now()
		if err := waitExit(t, cmd, func() { cmd.Process.Kill() }); err != nil {
			t.Errorf("%v, its reader gone: %v, want exit 0", args, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%v took %v to end once its reader had gone", args, d)
		}
		checkCaptureRing(t, pin, false)
	}
}

// TestCaptureInterruptedWaiting: a capture interrupted while it waits
// for the state's lock (another command holds it) ends at once, exit 0,
// having started nothing; the interrupt was ignored until the lock was
// let go, and the capture then started only to stop.
func TestCaptureInterruptedWaiting(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	held, err := os.Open(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// A file, which the child writes itself: read while it runs.
	errPath := filepath.Join(t.TempDir(), "stderr")
	errFile, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	stderr := func() string { b, _ := os.ReadFile(errPath); return string(b) }
	cmd := exec.Command(os.Args[0], "--pin-dir", pin, "capture")
	cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1")
	cmd.Stderr = errFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stderr(), "waiting for "+pin); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Flock(int(held.Fd()), syscall.LOCK_UN)
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
			t.Fatalf("the capture did not wait for the lock: %q", stderr())
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("interrupted while waiting: %v, stderr %q; want exit 0", err, stderr())
		}
	case <-time.After(5 * time.Second):
		t.Error("interrupted while waiting for the lock, the capture went on waiting")
		syscall.Flock(int(held.Fd()), syscall.LOCK_UN)
		<-done
	}
	syscall.Flock(int(held.Fd()), syscall.LOCK_UN)
	checkCaptureRing(t, pin, false)
}

// TestCaptureFileKept: a capture refused leaves the -w file as it was
// (it was emptied before the capture was asked for); one stopped before
// any packet writes a file readers take (an interface block, which they
// need, as tcpdump -w's empty files have).
func TestCaptureFileKept(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	keep := filepath.Join(t.TempDir(), "keep.pcapng")
	if err := os.WriteFile(keep, []byte("an earlier capture"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused(t, pin, "", "capture: no rule 99 in the live ruleset (see xdpfw rule list)", "capture", "--rule", "99", "-w", keep)
	if b, err := os.ReadFile(keep); err != nil || string(b) != "an earlier capture" {
		t.Errorf("after a refused capture the file holds %q (%v)", b, err)
	}

	empty := filepath.Join(t.TempDir(), "empty.pcapng")
	cmd := startCLI(t, pin, nil, "capture", "-w", empty)
	waitCapturing(t, pin, cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGINT)
	if err := waitExit(t, cmd, func() { cmd.Process.Kill() }); err != nil {
		t.Fatalf("capture: %v", err)
	}
	if frames, _ := readCapture(t, empty); len(frames) != 0 {
		t.Errorf("%d frames in a capture of none", len(frames))
	}
	if n := interfaceBlocks(t, empty); n != 1 {
		t.Errorf("%d interface blocks in an empty capture, want 1", n)
	}
}

// interfaceBlocks counts a pcapng file's interface description blocks.
func interfaceBlocks(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for len(b) >= 12 {
		typ, size := binary.NativeEndian.Uint32(b), binary.NativeEndian.Uint32(b[4:])
		if size < 12 || int(size) > len(b) {
			t.Fatalf("a block of %d bytes in %d left", size, len(b))
		}
		if typ == 1 {
			n++
		}
		b = b[size:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes after the last block", len(b))
	}
	return n
}

// TestCaptureEndedFromOutside: a capture ended by capture --stop, or
// whose state detach --all removed, ends with a line saying so instead of
// waiting forever on a ring that gets nothing.
func TestCaptureEndedFromOutside(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	for _, end := range [][]string{{"capture", "--stop"}, {"detach", "--all"}} {
		var stderr bytes.Buffer
		out := filepath.Join(t.TempDir(), "ended.pcapng")
		cmd := startCLI(t, pin, &stderr, "capture", "-w", out)
		waitCapturing(t, pin, cmd.Process.Pid)
		mustRunCLI(t, pin, "", end...)
		err := waitExit(t, cmd, func() { cmd.Process.Kill() })
		if want := "capture: ended from outside"; err == nil || !strings.Contains(stderr.String(), want) {
			t.Errorf("a capture after %v: %v, stderr %q; want it to fail saying %q", end, err, stderr.String(), want)
		}
		if n := interfaceBlocks(t, out); n != 1 {
			t.Errorf("after %v the capture file has %d interface blocks, want 1 (a file readers take)", end, n)
		}
	}
}

// TestCaptureUnderNohup: a capture run under nohup (SIGHUP ignored)
// outlives a hangup, as it did before hangups ended captures.
func TestCaptureUnderNohup(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nohup", self, "--pin-dir", pin, "capture", "-w", filepath.Join(t.TempDir(), "n.pcapng"))
	cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitCapturing(t, pin, cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(500 * time.Millisecond)
	checkCaptureRing(t, pin, true)
	cmd.Process.Signal(syscall.SIGINT)
	if err := waitExit(t, cmd, func() { cmd.Process.Kill() }); err != nil {
		t.Errorf("capture under nohup: %v", err)
	}
	checkCaptureRing(t, pin, false)
}

// TestCaptureFIFO: -w to a FIFO no one reads waits before the capture
// starts, where an interrupt still ends it with nothing left on; -w to a
// directory that does not exist is one line, nothing started.
func TestCaptureFIFO(t *testing.T) {
	pin, dir := withLiveRuleset(t)
	fifo := filepath.Join(dir, "p")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := startCLI(t, pin, nil, "capture", "-w", fifo)
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	waitExit(t, cmd, func() { cmd.Process.Kill() })
	checkCaptureRing(t, pin, false)
	refused(t, pin, "", "capture: open "+filepath.Join(dir, "no", "x.pcapng"), "capture", "-w", filepath.Join(dir, "no", "x.pcapng"))
	checkCaptureRing(t, pin, false)
}
