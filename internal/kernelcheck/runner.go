package main

import (
	"fmt"
	"strings"
)

// runner prints each check's outcome as it ends, so a VM that hangs or
// times out still shows how far it got.
type runner struct {
	passed, failed int
	skipped        string // once set, later checks are reported not run
}

func (r *runner) ok(name string, details ...string) {
	r.passed++
	if len(details) > 0 {
		fmt.Printf("ok %s (%s)\n", name, strings.Join(details, ", "))
		return
	}
	fmt.Printf("ok %s\n", name)
}

func (r *runner) fail(name string, err error) {
	r.failed++
	// One line per check, whatever the error holds.
	fmt.Printf("FAIL %s: %s\n", name, strings.ReplaceAll(err.Error(), "\n", " | "))
}

// check runs fn as check name and reports whether it passed.
func (r *runner) check(name string, fn func() (string, error)) bool {
	if r.skipped != "" {
		r.fail(name, fmt.Errorf("not run: %s", r.skipped))
		return false
	}
	detail, err := fn()
	if err != nil {
		r.fail(name, err)
		return false
	}
	if detail != "" {
		r.ok(name, detail)
	} else {
		r.ok(name)
	}
	return true
}

func (r *runner) skipRest(why string) { r.skipped = why }
