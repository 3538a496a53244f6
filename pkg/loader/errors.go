package loader

import (
	"errors"
	"fmt"
)

// Errors callers may test for; each message reads well as one CLI line.
var (
	ErrNotRoot = errors.New("xdpfw needs root (CAP_BPF, CAP_NET_ADMIN): run it as root or with sudo")
	// ErrNotAttached is no live state in the pin directory; the error
	// returned is a noStateError, which names the directory.
	ErrNotAttached = errors.New("no live state (not attached, no ruleset applied, no set created)")
)

// noStateError is ErrNotAttached for dir. It names every command that
// makes the state: apply and set create do as well as attach, so a
// command that needs the state is not told to attach first.
type noStateError struct{ dir string }

func (e *noStateError) Error() string {
	return fmt.Sprintf("no live state in %s (not attached, no ruleset applied, no set created): run xdpfw apply -f FILE, xdpfw set create NAME or xdpfw attach IFACE", e.dir)
}

func (e *noStateError) Is(target error) bool { return target == ErrNotAttached }
