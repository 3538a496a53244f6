package perf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsFile is a file for ns (its own descriptor: close both).
func NetnsFile(ns netns.NsHandle) (*os.File, error) {
	// Close-on-exec: only ExecIn's child, given it as fd 3, gets it.
	dup, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(dup), "netns"), nil
}

// ExecIn runs a command in the network namespace nsFile, through nsenter
// (which, unlike `ip netns exec`, leaves /sys and the BPF filesystem
// alone), with stdin if given and env added to this process's.
func ExecIn(nsFile *os.File, env []string, stdin []byte, name string, args ...string) error {
	cmd := exec.Command("nsenter", append([]string{"--net=/proc/self/fd/3", name}, args...)...)
	cmd.ExtraFiles = []*os.File{nsFile} // fd 3 of the child
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %w: %s", name, args, err, bytes.TrimSpace(out))
	}
	return nil
}
