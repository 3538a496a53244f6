package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/xdpfw/xdpfw/pkg/loader"
)

// xdpfw runs the CLI under test on one pin directory.
type xdpfw struct {
	bin     string
	pinDir  string
	timeout time.Duration
}

// result is one finished invocation.
type result struct {
	args           []string
	stdout, stderr string
	elapsed        time.Duration
	err            error // non-nil on a non-zero exit or a timeout
}

// exec runs xdpfw --pin-dir DIR ARGS with stdin (may be nil) within limit.
func (x *xdpfw) exec(limit time.Duration, stdin []byte, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	full := append([]string{"--pin-dir", x.pinDir}, args...)
	cmd := exec.CommandContext(ctx, x.bin, full...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	start := time.Now()
	err := cmd.Run()
	res := result{args: args, stdout: out.String(), stderr: errOut.String(), elapsed: time.Since(start)}
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v", limit)
	}
	if err != nil {
		res.err = fmt.Errorf("%s: %v: %s", commandLine(args), err, strings.TrimSpace(res.stderr))
	}
	return res
}

// commandLine shows an invocation in an error, its long lists of
// captures cut short.
func commandLine(args []string) string {
	if len(args) > 8 {
		args = append(args[:7:7], fmt.Sprintf("...(%d more)", len(args)-7))
	}
	return "xdpfw " + strings.Join(args, " ")
}

// run is exec with the default limit and no input, for commands that must
// succeed: it returns their stdout.
func (x *xdpfw) run(args ...string) (string, error) {
	res := x.exec(x.timeout, nil, args...)
	return res.stdout, res.err
}

// runJSON runs a --json command and decodes its output into v.
func (x *xdpfw) runJSON(v any, args ...string) error {
	out, err := x.run(append(args, "--json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("xdpfw %s --json: bad output (%v): %.200s", strings.Join(args, " "), err, out)
	}
	return nil
}

// What the --json commands print (cmd/xdpfw's types are in package main).
type (
	statusJSON struct {
		Policy     string                `json:"policy"`
		Rules      int                   `json:"rules"`
		Interfaces []loader.Attachment   `json:"interfaces"`
		Capture    *loader.CaptureStatus `json:"capture"`
	}
	ruleRow struct {
		ID     uint32 `json:"id"`
		Match  string `json:"match"`
		Action string `json:"action"`
		loader.Counter
	}
	ruleListJSON struct {
		Policy string    `json:"policy"`
		Rules  []ruleRow `json:"rules"`
	}
	setElementsJSON struct {
		Elements []string `json:"elements"`
	}
)

func (x *xdpfw) status() (st statusJSON, err error) {
	return st, x.runJSON(&st, "status")
}

func (x *xdpfw) ruleList() (rl ruleListJSON, err error) {
	return rl, x.runJSON(&rl, "rule", "list")
}

func (x *xdpfw) stats() (st map[string]loader.Counter, err error) {
	return st, x.runJSON(&st, "stats")
}

// ifaceStats are the verdict counters of the attached interface dev.
func (x *xdpfw) ifaceStats(dev string) (map[string]loader.Counter, error) {
	var all []loader.IfaceCounters
	if err := x.runJSON(&all, "stats", "--interfaces"); err != nil {
		return nil, err
	}
	for _, ic := range all {
		if ic.Iface == dev {
			return ic.Counters, nil
		}
	}
	return nil, fmt.Errorf("stats --interfaces lists no %s", dev)
}
