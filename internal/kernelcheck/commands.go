package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// checkCommands exercises the ruleset commands on the live, attached
// firewall the live checks left (with non-zero counters, which the
// round-trip must keep).
func checkCommands(r *runner, x *xdpfw) {
	r.check("rule-add-del", func() (string, error) {
		out, err := x.run("rule", "add", "--priority", "1", "--proto", "udp", "--dport", "9", "--action", "drop")
		if err != nil {
			return "", err
		}
		id, err := strconv.ParseUint(strings.TrimSpace(out), 10, 32)
		if err != nil {
			return "", fmt.Errorf("rule add printed %q, want an id", out)
		}
		if err := wantRule(x, uint32(id), true); err != nil {
			return "", err
		}
		if _, err := x.run("rule", "del", fmt.Sprint(id)); err != nil {
			return "", err
		}
		return fmt.Sprintf("rule %d", id), wantRule(x, uint32(id), false)
	})
	r.check("sets", func() (string, error) { return "", checkSets(x) })
	r.check("save-apply-roundtrip", func() (string, error) { return "", checkRoundTrip(x) })
	r.check("policy", func() (string, error) {
		st, err := x.status()
		if err != nil {
			return "", err
		}
		orig := st.Policy
		for _, p := range []string{"drop", "pass", orig} {
			if _, err := x.run("policy", p); err != nil {
				return "", err
			}
			if st, err = x.status(); err != nil {
				return "", err
			}
			if st.Policy != p {
				return "", fmt.Errorf("status says policy %s after policy %s", st.Policy, p)
			}
		}
		return "", nil
	})
}

func wantRule(x *xdpfw, id uint32, present bool) error {
	rl, err := x.ruleList()
	if err != nil {
		return err
	}
	found := slices.ContainsFunc(rl.Rules, func(r ruleRow) bool { return r.ID == id })
	if found != present {
		return fmt.Errorf("rule %d listed: %v, want %v", id, found, present)
	}
	return nil
}

// checkSets builds a set element by element, replaces it from a
// blocklist file, has a rule use it, and removes it all again.
func checkSets(x *xdpfw) error {
	const set = "kcheck"
	steps := [][]string{
		{"set", "create", set, "--family", "ipv4"},
		{"set", "add", set, "192.0.2.0/24", "198.51.100.7"},
	}
	for _, s := range steps {
		if _, err := x.run(s...); err != nil {
			return err
		}
	}
	if err := wantElements(x, set, "192.0.2.0/24", "198.51.100.7/32"); err != nil {
		return err
	}
	f, err := os.CreateTemp("", "kcheck-*.netset")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString("# a blocklist\n10.0.0.0/8\n203.0.113.5 ; one host\n"); err != nil {
		return err
	}
	f.Close()
	if _, err := x.run("set", "load", set, f.Name()); err != nil {
		return err
	}
	if err := wantElements(x, set, "10.0.0.0/8", "203.0.113.5/32"); err != nil {
		return err
	}
	out, err := x.run("rule", "add", "--src", "@"+set, "--action", "drop")
	if err != nil {
		return err
	}
	for _, s := range [][]string{{"rule", "del", strings.TrimSpace(out)}, {"set", "destroy", set}} {
		if _, err := x.run(s...); err != nil {
			return err
		}
	}
	return nil
}

func wantElements(x *xdpfw, set string, want ...string) error {
	var got setElementsJSON
	if err := x.runJSON(&got, "set", "list", set); err != nil {
		return err
	}
	slices.Sort(got.Elements)
	slices.Sort(want)
	if !slices.Equal(got.Elements, want) {
		return fmt.Errorf("set %s holds %v, want %v", set, got.Elements, want)
	}
	return nil
}

// checkRoundTrip: save, apply what it printed, save again: the same
// text, and the same rules with the same ids and counters.
func checkRoundTrip(x *xdpfw) error {
	saved, err := x.run("save")
	if err != nil {
		return err
	}
	before, err := x.ruleList()
	if err != nil {
		return err
	}
	if res := x.exec(x.timeout, []byte(saved), "apply", "-f", "-"); res.err != nil {
		return res.err
	}
	again, err := x.run("save")
	if err != nil {
		return err
	}
	if again != saved {
		return fmt.Errorf("save after apply of save's output differs:\n%s\n--- then ---\n%s", saved, again)
	}
	after, err := x.ruleList()
	if err != nil {
		return err
	}
	if !slices.Equal(before.Rules, after.Rules) {
		return fmt.Errorf("rules changed: %+v, then %+v", before.Rules, after.Rules)
	}
	return nil
}
