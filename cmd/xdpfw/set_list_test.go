package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestSetNoStateAndListJSON: a command that needs the live state, run
// before there is any, names the pin directory and every command that
// makes the state (set create and apply do, not only attach); set list
// --json gives a set no rule uses "referenced_by": [], not null, and the
// table "-".
func TestSetNoStateAndListJSON(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	want := "no live state in " + pin + " (not attached, no ruleset applied, no set created): run xdpfw apply -f FILE, xdpfw set create NAME or xdpfw attach IFACE"
	for _, args := range [][]string{{"set", "list"}, {"set", "add", "a", "192.0.2.1"}, {"rule", "list"}, {"save"}} {
		if _, err := runCLI(t, pin, "", args...); err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("xdpfw %v with no state: %v\nwant %s", args, err, want)
		}
	}
	mustRunCLI(t, pin, "", "set", "create", "a")
	mustRunCLI(t, pin, "", "set", "create", "b")
	mustRunCLI(t, pin, "", "rule", "add", "--src", "@b", "--action", "drop")
	var sets []map[string]any
	if err := json.Unmarshal([]byte(mustRunCLI(t, pin, "", "set", "list", "--json")), &sets); err != nil {
		t.Fatal(err)
	}
	got := map[any]any{}
	for _, s := range sets {
		got[s["name"]] = s["referenced_by"]
	}
	if wantRefs := map[any]any{"a": []any{}, "b": []any{1.0}}; !reflect.DeepEqual(got, wantRefs) {
		t.Errorf("referenced_by by set %#v, want %#v", got, wantRefs)
	}
	// The table writes the ids as rule list does: "-" for none, not a
	// Go slice's "[]" or "[1 2]".
	mustRunCLI(t, pin, "", "rule", "add", "--dst", "@b", "--action", "drop")
	table := mustRunCLI(t, pin, "", "set", "list")
	for _, want := range []string{"a     inet    0         -", "b     inet    0         1,2"} {
		if !strings.Contains(table, want+"\n") {
			t.Errorf("set list:\n%s\nwant a line %q", table, want)
		}
	}
}

// TestSetNamedHelp: a set may be named help or h, as an interface may:
// a command without subcommands takes the word as its argument. urfave/cli
// gave each such command a help subcommand, so set create help printed
// set create's help and made nothing (exit 0), and set add help ADDR said
// No help topic for ADDR.
func TestSetNamedHelp(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	for _, name := range []string{"help", "h"} {
		mustRunCLI(t, pin, "", "set", "create", name)
		if out := mustRunCLI(t, pin, "", "set", "add", name, "192.0.2.1"); !strings.HasPrefix(out, "set "+name+": 1 added") {
			t.Errorf("set add %s 192.0.2.1: %q", name, out)
		}
	}
	if out := mustRunCLI(t, pin, "", "set", "list"); !strings.Contains(out, "help") || !strings.Contains(out, "\nh ") {
		t.Errorf("set list:\n%s\nwant sets help and h", out)
	}
	if out := mustRunCLI(t, pin, "", "set", "create", "--help"); !strings.Contains(out, "xdpfw set create - ") {
		t.Errorf("set create --help: %q", out)
	}
}
