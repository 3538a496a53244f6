package main

import (
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
