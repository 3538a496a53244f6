package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
)

// checkDetach: detach --all leaves no pins, no XDP program on any veth,
// and no BPF program or map beyond those the VM had before xdpfw ran.
func checkDetach(r *runner, x *xdpfw, l *lab, baseline bpfCount) {
	r.skipped = "" // clean up whatever failed before
	r.check("detach-all", func() (string, error) {
		if _, err := x.run("detach", "--all"); err != nil {
			return "", err
		}
		if entries, err := os.ReadDir(x.pinDir); err == nil && len(entries) > 0 {
			return "", fmt.Errorf("%d pins left in %s (%s...)", len(entries), x.pinDir, entries[0].Name())
		}
		for _, p := range []pair{l.native, l.generic, l.frags} {
			if id, err := xdpProg(p.dev); err != nil || id != 0 {
				return "", fmt.Errorf("%s: XDP program %d still attached (%v)", p.dev, id, err)
			}
		}
		// The kernel frees programs and maps after an RCU grace period.
		var now bpfCount
		var err error
		poll(5*time.Second, func() bool {
			now, err = countBPF()
			return err == nil && now.within(baseline)
		})
		if err != nil {
			return "", err
		}
		if !now.within(baseline) {
			return "", fmt.Errorf("%d BPF programs and %d maps left, %d and %d before xdpfw ran", now.progs, now.maps, baseline.progs, baseline.maps)
		}
		return fmt.Sprintf("%d programs, %d maps as before", now.progs, now.maps), nil
	})
}

// bpfCount is how many BPF programs and maps the kernel holds.
type bpfCount struct{ progs, maps int }

// within reports whether c holds no more programs and maps than b.
func (c bpfCount) within(b bpfCount) bool { return c.progs <= b.progs && c.maps <= b.maps }

// settledBPF counts the programs and maps once the kernel has freed what
// a process before (vstat) let go of: it frees them after an RCU grace
// period, so a count taken at once can include them (20 maps were seen).
func settledBPF() (bpfCount, error) {
	c, err := countBPF()
	for i := 0; err == nil && i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		var next bpfCount
		if next, err = countBPF(); err == nil && next == c && i >= 2 {
			break
		}
		c = next
	}
	return c, err
}

func countBPF() (c bpfCount, err error) {
	if c.progs, err = countIDs(ebpf.ProgramGetNextID); err != nil {
		return c, fmt.Errorf("count programs: %w", err)
	}
	if c.maps, err = countIDs(ebpf.MapGetNextID); err != nil {
		return c, fmt.Errorf("count maps: %w", err)
	}
	return c, nil
}

// countIDs walks one of the kernel's id spaces (programs or maps).
func countIDs[ID ~uint32](next func(ID) (ID, error)) (int, error) {
	n := 0
	for id := ID(0); ; n++ {
		var err error
		id, err = next(id)
		if errors.Is(err, os.ErrNotExist) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
