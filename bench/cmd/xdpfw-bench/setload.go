package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/xdpfw/xdpfw/bench/workload"
	"github.com/xdpfw/xdpfw/pkg/perf"
	"github.com/xdpfw/xdpfw/pkg/rules"
)

// cli runs the xdpfw binary, built from this tree, on a private pin
// directory: the control-plane figures are whole CLI invocations, process
// start included, as an operator sees them.
type cli struct {
	exe, pin, dir string
	// nothing is a Go program that exits at once: what starting any
	// process costs here, the floor under every CLI figure, which moves
	// with the machine's phase (6 to 9 ms on the development VM).
	nothing string
}

func newCLI() (*cli, error) {
	dir, err := os.MkdirTemp("", "xdpfw-bench-cli-")
	if err != nil {
		return nil, err
	}
	c := &cli{exe: filepath.Join(dir, "xdpfw"), dir: dir,
		pin: filepath.Join("/sys/fs/bpf", fmt.Sprintf("xdpfw-bench-cli-%d", os.Getpid()))}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	// Built as make build and the package build it: without cgo, without
	// urfave/cli's man-page writer.
	build := exec.Command(gobin, "build", "-tags", "urfave_cli_no_docs", "-o", c.exe, "./cmd/xdpfw")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("go build ./cmd/xdpfw: %v: %s", err, out)
	}
	src := filepath.Join(dir, "nothing.go")
	c.nothing = filepath.Join(dir, "nothing")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	build = exec.Command(gobin, "build", "-o", c.nothing, src)
	build.Env, build.Dir = append(os.Environ(), "CGO_ENABLED=0"), dir
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("go build of a program that does nothing: %v: %s", err, out)
	}
	return c, nil
}

// timed runs exe with args and returns how long it took, process start
// to exit, its output discarded.
func timed(exe string, args ...string) (time.Duration, error) {
	cmd := exec.Command(exe, args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v: %s", exe, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return took, nil
}

// run runs one invocation and returns its stdout and how long it took.
func (c *cli) run(args ...string) (string, time.Duration, error) {
	cmd := exec.Command(c.exe, append([]string{"--pin-dir", c.pin}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		return "", 0, fmt.Errorf("xdpfw %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), took, nil
}

// reset removes the state: nothing is attached, so the pins are all of it.
func (c *cli) reset() error { return os.RemoveAll(c.pin) }

func (c *cli) Close() {
	c.reset()
	os.RemoveAll(c.dir)
}

// writeFile writes a file in the CLI's scratch directory.
func (c *cli) writeFile(name string, fill func(*bytes.Buffer) error) (string, error) {
	var b bytes.Buffer
	if err := fill(&b); err != nil {
		return "", err
	}
	path := filepath.Join(c.dir, name)
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}

// setLoads times `xdpfw set load` of the first n entries of the feed into
// a new, empty set, and `nft -f` of the same entries into interval sets,
// rounds times each.
func setLoads(c *cli, feed workload.Feed, n, rounds int) (xdpfw, nft []time.Duration, err error) {
	list, err := c.writeFile(fmt.Sprintf("feed-%d.txt", n), func(b *bytes.Buffer) error { return feed.WriteList(b, n) })
	if err != nil {
		return nil, nil, err
	}
	for range rounds {
		if err := c.reset(); err != nil {
			return nil, nil, err
		}
		if _, _, err := c.run("set", "create", "feed"); err != nil {
			return nil, nil, err
		}
		_, d, err := c.run("set", "load", "feed", list)
		if err != nil {
			return nil, nil, err
		}
		xdpfw = append(xdpfw, d)
	}
	if err := c.reset(); err != nil {
		return nil, nil, err
	}
	file, err := c.writeFile(fmt.Sprintf("feed-%d.nft", n), func(b *bytes.Buffer) error { nftFeed(b, feed[:n]); return nil })
	if err != nil {
		return nil, nil, err
	}
	nft, err = nftLoads(file, rounds)
	if err != nil {
		return nil, nil, err
	}
	return xdpfw, nft, nil
}

// nftFeed writes a table with the prefixes in two interval sets, one per
// family: an nft set holds one address type.
func nftFeed(b *bytes.Buffer, ps []netip.Prefix) {
	b.WriteString("table inet xdpfw_bench {\n")
	for _, fam := range []struct {
		name, typ string
		is4       bool
	}{{"feed4", "ipv4_addr", true}, {"feed6", "ipv6_addr", false}} {
		fmt.Fprintf(b, "  set %s { type %s; flags interval; elements = {\n", fam.name, fam.typ)
		for _, p := range ps {
			if p.Addr().Is4() == fam.is4 {
				fmt.Fprintf(b, "    %s,\n", p)
			}
		}
		b.WriteString("  } }\n")
	}
	b.WriteString("}\n")
}

// nftLoads times `nft -f file`, with the process, rounds times in one
// throwaway namespace, deleting the table between rounds (untimed). One
// namespace for all rounds: a namespace torn down with a million set
// elements frees them in the background for seconds, slowing whatever
// runs next.
func nftLoads(file string, rounds int) ([]time.Duration, error) {
	ns, err := perf.NewNetns()
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	nsFile, err := perf.NetnsFile(ns)
	if err != nil {
		return nil, err
	}
	defer nsFile.Close()
	var out []time.Duration
	for i := range rounds {
		if i > 0 {
			if err := perf.ExecIn(nsFile, nil, nil, "nft", "delete", "table", "inet", "xdpfw_bench"); err != nil {
				return nil, err
			}
		}
		start := time.Now()
		if err := perf.ExecIn(nsFile, nil, nil, "nft", "-f", file); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	if err := perf.ExecIn(nsFile, nil, nil, "nft", "delete", "table", "inet", "xdpfw_bench"); err != nil {
		return nil, err
	}
	return out, nil
}

// liveChanges is the CLI at full scale: the state created; a ruleset file
// of 4095 rules, one of them naming a set of the first n feed entries,
// applied to it, and applied again (nothing changes); then, rounds times,
// one element added to and deleted from the set, and a 4096th rule added
// and deleted.
type liveChanges struct {
	create, apply, reapply, setAdd, setDel, ruleAdd, ruleDel []time.Duration
	// nothing and help: a program that does nothing, and `xdpfw --help`
	// (the binary's own start), taking turns with the changes.
	nothing, help []time.Duration
}

func cliChanges(c *cli, tr workload.Traffic, feed workload.Feed, n, rounds int) (liveChanges, error) {
	var lc liveChanges
	list, err := c.writeFile("live-feed.txt", func(b *bytes.Buffer) error { return feed.WriteList(b, n) })
	if err != nil {
		return lc, err
	}
	rs := tr.ScaleRuleset(4094)
	rs.Rules = append(rs.Rules, rules.Rule{ID: 4095, Priority: 10, Action: rules.Drop, Match: rules.Match{SrcSet: "feed"}})
	file, err := c.writeFile("live.yaml", func(b *bytes.Buffer) error {
		fmt.Fprintf(b, "sets:\n  feed:\n    file: %s\n", list)
		b.Write(rules.FormatYAML(rs))
		return nil
	})
	if err != nil {
		return lc, err
	}
	empty, err := c.writeFile("empty.yaml", func(b *bytes.Buffer) error {
		b.Write(rules.FormatYAML(&rules.Ruleset{Policy: rules.Pass}))
		return nil
	})
	if err != nil {
		return lc, err
	}
	if err := c.reset(); err != nil {
		return lc, err
	}
	defer c.reset()
	for _, step := range []struct {
		into *[]time.Duration
		file string
	}{{&lc.create, empty}, {&lc.apply, file}, {&lc.reapply, file}} {
		_, d, err := c.run("apply", "-f", step.file)
		if err != nil {
			return lc, err
		}
		*step.into = append(*step.into, d)
	}
	elem := outside(feed.Set("feed", n))
	for range rounds {
		steps := []struct {
			into *[]time.Duration
			args []string
		}{
			{&lc.setAdd, []string{"set", "add", "feed", elem}},
			{&lc.setDel, []string{"set", "del", "feed", elem}},
		}
		for _, s := range steps {
			_, d, err := c.run(s.args...)
			if err != nil {
				return lc, err
			}
			*s.into = append(*s.into, d)
		}
		for _, s := range []struct {
			into *[]time.Duration
			exe  string
			args []string
		}{{&lc.nothing, c.nothing, nil}, {&lc.help, c.exe, []string{"--help"}}} {
			d, err := timed(s.exe, s.args...)
			if err != nil {
				return lc, err
			}
			*s.into = append(*s.into, d)
		}
		out, d, err := c.run("rule", "add", "--src", "198.18.0.0/24", "--action", "drop")
		if err != nil {
			return lc, err
		}
		lc.ruleAdd = append(lc.ruleAdd, d)
		if _, d, err = c.run("rule", "del", strings.TrimSpace(out)); err != nil {
			return lc, err
		}
		lc.ruleDel = append(lc.ruleDel, d)
	}
	return lc, nil
}

// outside is an address of 198.18.0.0/15 (reserved for benchmarks) that
// set does not contain, so adding it is a change.
func outside(set *rules.Set) string {
	a := netip.MustParseAddr("198.18.0.1")
	for set.Contains(a) {
		a = a.Next()
	}
	return a.String()
}
