package loader

import (
	"errors"
	"fmt"
	"strings"
)

// Errors callers may test for; each message reads well as one CLI line.
var (
	// ErrNotRoot is a process without the capabilities xdpfw needs, as
	// root has them (MissingCapabilities).
	ErrNotRoot = errors.New("xdpfw needs root, or the capabilities CAP_SYS_ADMIN and CAP_NET_ADMIN: run it as root or with sudo")
	// ErrNotAttached is no live state in the pin directory; the error
	// returned is a noStateError, which names the directory.
	ErrNotAttached = errors.New("no live state (not attached, no ruleset applied, no set created)")
	// ErrPreviousLayout is a change refused on a state of the previous
	// layout, which is read but changed only once moved to this build
	// (attach or apply move it); the error returned says so, naming the
	// directory.
	ErrPreviousLayout = errors.New("the state has the previous layout: moved to this build by attach or apply")
)

// previousLayoutError is ErrPreviousLayout with its whole message.
type previousLayoutError struct{ msg string }

func (e *previousLayoutError) Error() string { return e.msg }

func (e *previousLayoutError) Is(target error) bool { return target == ErrPreviousLayout }

// noStateError is ErrNotAttached for dir. It names every command that
// makes the state: apply and set create do as well as attach, so a
// command that needs the state is not told to attach first.
type noStateError struct{ dir string }

func (e *noStateError) Error() string {
	return fmt.Sprintf("no live state in %s (not attached, no ruleset applied, no set created): run xdpfw apply -f FILE, xdpfw set create NAME or xdpfw attach IFACE", e.dir)
}

func (e *noStateError) Is(target error) bool { return target == ErrNotAttached }

// joinLine is errors.Join on one line: the messages joined by "; ",
// where errors.Join puts a newline between them, which split an error
// line (a log's, or one a caller quotes) in several. Nil when every err
// is nil.
func joinLine(errs ...error) error {
	var j lineErrors
	for _, err := range errs {
		if err != nil {
			j = append(j, err)
		}
	}
	if len(j) == 0 {
		return nil
	}
	return j
}

type lineErrors []error

func (j lineErrors) Error() string {
	msgs := make([]string, len(j))
	for i, err := range j {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (j lineErrors) Unwrap() []error { return j }
