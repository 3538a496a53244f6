package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestPolicyDropWarns: switching to a drop policy says on stderr what it
// cuts, once the change is made: everything when no rule passes, the
// host's own connections' replies when no rule passes established flows;
// nothing once a rule does.
func TestPolicyDropWarns(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, "", "set", "create", "s") // the state, no rules
	steps := []struct {
		add  []string // a rule added before policy drop
		warn string   // "" for no warning
	}{
		{nil, "no rule passes anything"},
		{[]string{"--proto", "tcp", "--dport", "22", "--action", "pass"}, "no rule passes ct-state established"},
		{[]string{"--ct-state", "established,related", "--action", "pass", "--priority", "0"}, ""},
	}
	for _, st := range steps {
		if st.add != nil {
			mustRunCLI(t, pin, "", append([]string{"rule", "add"}, st.add...)...)
		}
		mustRunCLI(t, pin, "", "policy", "pass")
		out, errOut, err := runCLIBoth(pin, "", "policy", "drop")
		if err != nil || out != "policy drop\n" {
			t.Fatalf("policy drop after %v: %q, %v", st.add, out, err)
		}
		switch {
		case st.warn == "" && errOut != "":
			t.Errorf("policy drop after %v warned: %q", st.add, errOut)
		case st.warn != "" && !strings.HasPrefix(errOut, "xdpfw: warning: policy drop: "+st.warn):
			t.Errorf("policy drop after %v: stderr %q, want a warning %q", st.add, errOut, st.warn)
		}
	}
	if out := mustRunCLI(t, pin, "", "save"); !strings.Contains(out, "policy: drop") {
		t.Errorf("the warned change was not made:\n%s", out)
	}
}

// TestPolicyShow: policy without an argument prints the live policy, and
// --json prints it as {"policy": ...}, as setting it does: status was the
// only way to read it. More than one argument is refused, nothing changed.
func TestPolicyShow(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	mustRunCLI(t, pin, "", "set", "create", "s") // the state, policy pass
	for _, want := range []string{"pass", "drop"} {
		mustRunCLI(t, pin, "", "policy", strings.ToUpper(want))
		if out := mustRunCLI(t, pin, "", "policy"); out != "policy "+want+"\n" {
			t.Errorf("policy after policy %s: %q", want, out)
		}
		for _, args := range [][]string{{"policy", "--json"}, {"policy", want, "--json"}} {
			var doc map[string]any
			out, _, err := runCLIBoth(pin, "", args...)
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc) != 1 || doc["policy"] != want {
				t.Errorf("%v after policy %s: %q (%v), want {\"policy\": %q}", args, want, out, err, want)
			}
		}
	}
	if _, err := runCLI(t, pin, "", "policy", "pass", "drop"); err == nil || !strings.Contains(err.Error(), "at most one") {
		t.Errorf("policy pass drop: %v, want refused", err)
	}
	if out := mustRunCLI(t, pin, "", "policy"); out != "policy drop\n" {
		t.Errorf("policy pass drop changed the policy: %q", out)
	}
}
