// Command kernelcheck runs inside a throwaway VM booted on one kernel
// (scripts/kernels/run.sh) and proves xdpfw works there end to end through
// its CLI: replays agree with the reference model, live counters on a veth
// agree with the replays, every ruleset command works, and detach leaves
// nothing behind. It prints one line per check (`ok NAME` or
// `FAIL NAME: reason`) and a closing `N passed, M failed`.
//
// It drives the real xdpfw binary (exec), never the packages, so what it
// proves is what a user on that kernel gets. It changes the VM's network
// settings and is not meant to run on a real host.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

type config struct {
	xdpfw      string
	pinDir     string
	testdata   string
	liveRules  string // the ruleset enforced on the veths
	vstat      string
	object     string
	maxInsns   int
	refusal    bool
	cmdTimeout time.Duration
	loaderTest string // pkg/loader's test binary, for the migration check
	loaderDir  string // where its testdata directory is
}

func main() {
	var c config
	flag.StringVar(&c.xdpfw, "xdpfw", "/bin/xdpfw", "the xdpfw binary to drive")
	flag.StringVar(&c.pinDir, "pin-dir", "/sys/fs/bpf/kernelcheck", "xdpfw's pin directory")
	flag.StringVar(&c.testdata, "testdata", "/testdata", "the repository's testdata directory")
	flag.StringVar(&c.liveRules, "live-rules", "sets.yaml", "ruleset (in testdata/rulesets) for the live traffic checks")
	flag.StringVar(&c.vstat, "vstat", "", "internal/vstat binary: print verifier statistics of -object")
	flag.StringVar(&c.object, "object", "/xdpfw_bpfel.o", "the BPF object for -vstat")
	flag.IntVar(&c.maxInsns, "max-insns", 250000, "fail when a program's processed instructions exceed this (0: do not check)")
	flag.BoolVar(&c.refusal, "expect-refusal", false, "the kernel is too old: only check that xdpfw refuses it in one line")
	flag.StringVar(&c.loaderTest, "loader-test", "", "pkg/loader's static test binary: run its migration tests (from -loader-dir)")
	flag.StringVar(&c.loaderDir, "loader-dir", "/loader", "the directory holding testdata/ for -loader-test")
	// Under TCG a verification of the datapath can take a minute.
	flag.DurationVar(&c.cmdTimeout, "cmd-timeout", 10*time.Minute, "limit for one xdpfw command")
	flag.Parse()

	r := &runner{}
	x := &xdpfw{bin: c.xdpfw, pinDir: c.pinDir, timeout: c.cmdTimeout}
	if c.vstat != "" {
		runVstat(r, c)
	}
	if c.refusal {
		checkRefusal(r, x, c)
	} else {
		checkAll(r, x, c)
	}
	fmt.Printf("%d passed, %d failed\n", r.passed, r.failed)
	if r.failed > 0 {
		os.Exit(1)
	}
}

// checkAll runs the full suite in order: each stage uses the state the
// previous ones left (one program load serves every live check).
func checkAll(r *runner, x *xdpfw, c config) {
	rulesets, _ := filepath.Glob(filepath.Join(c.testdata, "rulesets", "*.yaml"))
	pcaps, _ := filepath.Glob(filepath.Join(c.testdata, "pcaps", "*.pcap"))
	if len(rulesets) == 0 || len(pcaps) == 0 {
		r.fail("testdata", fmt.Errorf("no rulesets or pcaps under %s", c.testdata))
		return
	}
	baseline, err := settledBPF()
	if err != nil {
		r.fail("bpf-baseline", err)
		return
	}
	reports := checkReplays(r, x, rulesets, pcaps)
	if reports == nil {
		// The program does not load on this kernel: every later check
		// would fail the same way, slowly.
		r.skipRest("the program did not load (see the replay check)")
		return
	}
	live := filepath.Join(c.testdata, "rulesets", c.liveRules)
	l, err := newLab()
	if err != nil {
		r.fail("veth-lab", err)
		return
	}
	checkDoctor(r, x, true, l.native, l.generic, l.frags)
	if checkLive(r, x, l, live, reports[live], pcaps) {
		checkCapture(r, x, l.native, pcaps, reports[live])
		checkCommands(r, x)
		checkConntrack(r, x, l.native)
	}
	checkDetach(r, x, l, baseline)
	if c.loaderTest != "" {
		checkMigrate(r, c.loaderTest, c.loaderDir)
	}
}
