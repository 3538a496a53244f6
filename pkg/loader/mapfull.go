package loader

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// mapFull turns the kernel's E2BIG/ENOSPC for a full map into a sentence.
func mapFull(err error) error {
	if errors.Is(err, unix.E2BIG) || errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("map is full: %w", err)
	}
	return err
}
