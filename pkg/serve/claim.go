package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"

	sys "golang.org/x/sys/unix"
)

// claimPinDir makes this serve the only one keeping the state in dir
// until the returned listener closes, or the process ends: two serves on
// one pin directory each applied their own config over the other's at
// every reload, both reporting success, and one run with
// --detach-on-exit removed the other's state as it stopped.
//
// The claim is an abstract unix socket named after dir's absolute path,
// which the kernel frees with its process, so a serve killed leaves
// nothing to clean up. A second serve finds the name taken and asks the
// socket whose it is (SO_PEERCRED). Abstract sockets belong to a network
// namespace: serves in two namespaces sharing one bpffs are not told
// apart (bpffs has no regular files to lock instead).
func claimPinDir(dir string) (net.Listener, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pin directory %s: %w", dir, err)
	}
	sum := sha256.Sum256([]byte(filepath.Clean(abs)))
	name := "@xdpfw-serve-" + hex.EncodeToString(sum[:16])
	l, err := net.Listen("unix", name)
	if errors.Is(err, syscall.EADDRINUSE) {
		holder := "another xdpfw serve"
		if pid := listenerPID(name); pid > 0 {
			holder += fmt.Sprintf(" (pid %d)", pid)
		}
		return nil, fmt.Errorf("%s keeps the state in %s: one serve per pin directory", holder, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("claim the pin directory %s: %w", dir, err)
	}
	// Each second serve's question is taken and closed, not left in
	// the queue.
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l, nil
}

// listenerPID is the process id of the process listening on the unix
// socket name, 0 if it cannot be told (gone, or in another PID
// namespace, where the kernel gives 0).
func listenerPID(name string) int {
	c, err := net.Dial("unix", name)
	if err != nil {
		return 0
	}
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0
	}
	var cred *sys.Ucred
	raw.Control(func(fd uintptr) {
		cred, err = sys.GetsockoptUcred(int(fd), sys.SOL_SOCKET, sys.SO_PEERCRED)
	})
	if err != nil || cred == nil {
		return 0
	}
	return int(cred.Pid)
}
