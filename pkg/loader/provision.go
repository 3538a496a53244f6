package loader

import (
	"context"
	"errors"
	"fmt"
)

// Provision runs fn on the state in dir, creating the state first if there
// is none (program loaded, maps pinned, empty ruleset with policy pass).
// When fn fails, a state this call created is removed again, so a failed
// first command (an apply, a set create, an attach before any other)
// leaves nothing behind; a state it found stays as fn left it. A state
// of the previous layout is moved to this build first (migrate).
func Provision(dir string, fn func(*State) error) error {
	return ProvisionContext(context.Background(), dir, fn)
}

// ProvisionContext is Provision, whose wait for the pin directory's lock
// ends when ctx does, with an error that is ctx.Err() and nothing
// changed: a service stopping while another process holds the lock
// (xdpfw serve at SIGTERM) stops then, not when the lock is free.
func ProvisionContext(ctx context.Context, dir string, fn func(*State) error) error {
	s, err := open(ctx, dir, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if s.old != nil {
		if err := s.migrate(); err != nil {
			return fmt.Errorf("move the pinned state in %s to this build: %w", dir, err)
		}
	}
	err = fn(s)
	if err != nil && s.created {
		removed, rmErr := s.RemoveIfUnused()
		if rmErr != nil {
			return fmt.Errorf("%w (and cleaning up: %v)", err, rmErr)
		}
		var a *AttachAfterApply
		if errors.As(err, &a) && removed {
			a.Live = false
		}
	}
	return err
}
