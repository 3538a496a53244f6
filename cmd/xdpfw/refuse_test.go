package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpfw/xdpfw/internal/privtest"
)

// liveRuleset is a live state with a drop policy, a rule and a set.
const liveRuleset = `policy: drop
sets:
  bl: {elements: [192.0.2.0/24, 2001:db8::/32]}
rules:
  - {src: "@bl", action: drop}
  - {proto: tcp, dport: 22, action: pass}
`

// withLiveRuleset gives a pin directory with liveRuleset applied, and a
// temporary directory for the test's files.
func withLiveRuleset(t *testing.T) (pin, dir string) {
	t.Helper()
	privtest.Require(t)
	pin = privtest.PinDir(t)
	mustRunCLI(t, pin, liveRuleset, "apply", "-f", "-")
	return pin, t.TempDir()
}

// refused runs a command that must fail in one line containing want and
// checks that the live state (save's output) did not change.
func refused(t *testing.T, pin, stdin, want string, args ...string) {
	t.Helper()
	before, _ := runCLI(t, pin, "", "save")
	_, err := runCLI(t, pin, stdin, args...)
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("xdpfw %s: %v, want one line with %q", strings.Join(args, " "), err, want)
	}
	if after, _ := runCLI(t, pin, "", "save"); after != before {
		t.Errorf("xdpfw %s failed but changed the live state:\nbefore %s\nafter  %s", strings.Join(args, " "), before, after)
	}
}

// TestApplyRefusesNoPolicy: an empty, comment-only or policy-less file,
// or empty standard input, is refused and the live ruleset stays.
func TestApplyRefusesNoPolicy(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	dir := t.TempDir()
	const want = "no policy: a ruleset file must say policy: pass or policy: drop (an empty or cut-off file would open the firewall)"
	// Before any state: nothing is created.
	refused(t, pin, "", "<stdin>: "+want, "apply", "-f", "-")
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Fatalf("a refused apply created %s", pin)
	}
	mustRunCLI(t, pin, liveRuleset, "apply", "-f", "-")
	for name, text := range map[string]string{
		"empty.yaml":   "",
		"comment.yaml": "# xdpfw ruleset\n# (cut off)\n",
		"rules.yaml":   "rules:\n  - {proto: tcp, dport: 22, action: pass}\n",
	} {
		path := writeFile(t, dir, name, text)
		refused(t, pin, "", path+": "+want, "apply", "-f", path)
		refused(t, pin, "", path+": "+want, "apply", "--check", "-f", path)
		refused(t, pin, text, "<stdin>: "+want, "apply", "-f", "-")
	}
}

// TestSaveOutput: save -o writes the file atomically (no temporary file
// left, the mode of the file it replaces kept); save without live state
// fails in one line and writes nothing.
func TestSaveOutput(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "xdpfw.yaml")
	if _, err := runCLI(t, pin, "", "save", "-o", out); err == nil || !strings.HasPrefix(err.Error(), "save: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("save without state: %v, want a one-line error", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("save without state wrote %s", out)
	}
	if printed, err := runCLI(t, pin, "", "save"); err == nil || printed != "" {
		t.Errorf("save without state printed %q, %v", printed, err)
	}

	mustRunCLI(t, pin, liveRuleset, "apply", "-f", "-")
	printed := mustRunCLI(t, pin, "", "save")
	if err := os.WriteFile(out, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if o := mustRunCLI(t, pin, "", "save", "-o", out); o != "" {
		t.Errorf("save -o printed %q", o)
	}
	got, err := os.ReadFile(out)
	if err != nil || string(got) != printed {
		t.Fatalf("save -o wrote %q (%v), save printed %q", got, err, printed)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("save -o over a 0600 file left mode %v", fi.Mode())
	}
	fresh := filepath.Join(dir, "new.yaml")
	mustRunCLI(t, pin, "", "save", "-o", fresh)
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("save -o of a new file: %v, %v", fi, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("save -o left files behind: %v", ents)
	}
	if o := mustRunCLI(t, pin, "", "apply", "-f", out); !strings.HasPrefix(o, "unchanged") {
		t.Errorf("apply of save -o's file: %q", o)
	}
	refused(t, pin, "", "not a regular file", "save", "-o", dir)
	// The error names FILE and its directory, not the temporary file
	// (.x.yaml.tmp123) the operator never gave.
	nowhere := filepath.Join(dir, "nowhere")
	refused(t, pin, "", "save: "+nowhere+"/x.yaml: cannot make a file in "+nowhere+": no such file or directory", "save", "-o", nowhere+"/x.yaml")

	// -o - is standard output, as apply -f - reads standard input.
	t.Chdir(t.TempDir())
	if o := mustRunCLI(t, pin, "", "save", "-o", "-"); o != printed {
		t.Errorf("save -o - printed %q, save printed %q", o, printed)
	}
	if _, err := os.Stat("-"); !os.IsNotExist(err) {
		t.Errorf("save -o - wrote a file named -: %v", err)
	}

	// A symlink's target gets the ruleset; the link stays.
	target := filepath.Join(t.TempDir(), "real.yaml")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	mustRunCLI(t, pin, "", "save", "-o", link)
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("save -o through a symlink replaced the link: %v, %v", fi, err)
	}
	if got, err := os.ReadFile(target); err != nil || string(got) != printed {
		t.Errorf("save -o through a symlink left its target %q (%v)", got, err)
	}
	dangling := filepath.Join(dir, "dangling.yaml")
	if err := os.Symlink(filepath.Join(dir, "nowhere", "x.yaml"), dangling); err != nil {
		t.Fatal(err)
	}
	refused(t, pin, "", "a symlink whose target cannot be found", "save", "-o", dangling)
	if fi, err := os.Lstat(dangling); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("save -o replaced a dangling symlink: %v, %v", fi, err)
	}
}

// TestSetLoadRefusesEmpty: a list with no elements never empties a set,
// loaded by set load or named by a ruleset file.
func TestSetLoadRefusesEmpty(t *testing.T) {
	pin, dir := withLiveRuleset(t)
	empty := writeFile(t, dir, "empty.txt", "")
	comments := writeFile(t, dir, "comments.txt", "# feed\n; nothing today\n\n")
	refused(t, pin, "", "set load: <stdin> has no elements: refusing to empty set bl (xdpfw set flush bl empties it)", "set", "load", "bl", "-")
	refused(t, pin, "", "set load: "+empty+" has no elements", "set", "load", "bl", empty)
	refused(t, pin, "", "set load: "+comments+" has no elements", "set", "load", "bl", comments)
	refused(t, pin, "nonsense\n10.1.2.3/8\n", "set load: <stdin> has no elements", "set", "load", "--skip-invalid", "bl", "-")
	mustRunCLI(t, pin, "", "set", "create", "--family", "ipv6", "six")
	mustRunCLI(t, pin, "2001:db8::/48\n", "set", "load", "six", "-")
	refused(t, pin, "192.0.2.0/24\n", "has no elements", "set", "load", "--skip-invalid", "six", "-")
	if out := mustRunCLI(t, pin, "", "set", "flush", "six"); !strings.Contains(out, "0 elements") {
		t.Errorf("set flush: %q", out)
	}
	// Nor does a ruleset file's set file; elements: [] is taken as written.
	rs := writeFile(t, dir, "rs.yaml", "policy: drop\nsets:\n  bl: {file: comments.txt}\nrules:\n  - {src: \"@bl\", action: pass}\n")
	refused(t, pin, "", rs+":3: set bl: "+comments+" has no elements: refusing an empty set from a file (write elements: [] for a set meant to be empty)", "apply", "-f", rs)
	refused(t, pin, "", comments+" has no elements", "apply", "--check", "-f", rs)
	mustRunCLI(t, pin, "policy: drop\nsets:\n  bl: {elements: []}\nrules:\n  - {src: \"@bl\", action: pass}\n", "apply", "-f", "-")
}

// TestDefaultRouteInBlocklists: 0.0.0.0/0 or ::/0 in a blocklist (set
// load, a ruleset's set file) or given to set add is refused, even with
// --skip-invalid, unless --allow-default-route; inline elements are taken
// as written.
func TestDefaultRouteInBlocklists(t *testing.T) {
	pin, dir := withLiveRuleset(t)
	feed := writeFile(t, dir, "feed.txt", "198.51.100.0/24\n0.0.0.0/0 ; poisoned\n")
	const want = "feed.txt:2: 0.0.0.0/0 covers every address: a blocklist may hold it only with --allow-default-route"
	refused(t, pin, "", want, "set", "load", "bl", feed)
	refused(t, pin, "", want, "set", "load", "--skip-invalid", "bl", feed)
	refused(t, pin, "::/0\n", "<stdin>:1: ::/0 covers every address", "set", "load", "bl", "-")
	rs := writeFile(t, dir, "rs.yaml", "policy: drop\nsets:\n  bl: {file: feed.txt}\nrules:\n  - {src: \"@bl\", action: pass}\n")
	refused(t, pin, "", rs+":3: set bl: "+dir+"/"+want, "apply", "-f", rs)
	refused(t, pin, "", want, "apply", "--check", "-f", rs)

	// set add, by which a script feeds a list's entries one by one, too.
	refused(t, pin, "", "set add: 0.0.0.0/0 covers every address: a blocklist may hold it only with --allow-default-route", "set", "add", "bl", "198.51.100.7", "0.0.0.0/0")
	refused(t, pin, "", "set add: ::/0 covers every address", "set", "add", "bl", "::/0")
	if out := mustRunCLI(t, pin, "", "set", "add", "--allow-default-route", "bl", "::/0"); !strings.Contains(out, "1 added") {
		t.Errorf("set add --allow-default-route: %q", out)
	}
	mustRunCLI(t, pin, "", "set", "del", "bl", "::/0")

	if out := mustRunCLI(t, pin, "", "set", "load", "--allow-default-route", "bl", feed); !strings.Contains(out, "2 elements") {
		t.Errorf("set load --allow-default-route: %q", out)
	}
	mustRunCLI(t, pin, "", "apply", "--allow-default-route", "-f", rs)
	mustRunCLI(t, pin, "policy: drop\nsets:\n  bl: {elements: [0.0.0.0/0, \"::/0\"]}\nrules:\n  - {src: \"@bl\", action: pass}\n", "apply", "-f", "-")
}

// TestInputBounds: devices, FIFOs and directories are refused at once
// without being read; files and standard input over --max-size are
// refused; the live state does not change.
func TestInputBounds(t *testing.T) {
	pin, dir := withLiveRuleset(t)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for path, kind := range map[string]string{"/dev/zero": "a character device", "/dev/urandom": "a character device", fifo: "a named pipe", dir: "a directory"} {
		want := path + ": not a regular file but " + kind + ": only regular files are read (- reads standard input)"
		refused(t, pin, "", want, "apply", "-f", path)
		refused(t, pin, "", want, "apply", "--check", "-f", path)
		refused(t, pin, "", want, "set", "load", "bl", path)
		refused(t, pin, "", want, "replay", "--rules", path, "../../testdata/pcaps/basic.pcap")
		rs := writeFile(t, dir, "rs.yaml", "policy: drop\nsets:\n  bl: {file: "+path+"}\n")
		refused(t, pin, "", want, "apply", "-f", rs)
	}
	// A missing file is named as given, as replay names a capture: not
	// as the stat that found it missing ("stat FILE: ...").
	missing := filepath.Join(dir, "missing.yaml")
	rs := writeFile(t, dir, "rs.yaml", "policy: drop\nsets:\n  bl: {file: "+missing+"}\n")
	for _, args := range [][]string{
		{"apply", "-f", missing},
		{"apply", "--check", "-f", missing},
		{"set", "load", "bl", missing},
		{"replay", "--rules", missing, "../../testdata/pcaps/basic.pcap"},
		{"apply", "-f", rs},
	} {
		refused(t, pin, "", missing+": no such file or directory", args...)
		if _, err := runCLI(t, pin, "", args...); err != nil && strings.Contains(err.Error(), "stat "+missing) {
			t.Errorf("xdpfw %s: %v, want the file named, not its stat", strings.Join(args, " "), err)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("refusing devices and FIFOs took %v", d)
	}

	big := writeFile(t, dir, "big.txt", strings.Repeat("198.51.100.1\n", 200)) // 2600 bytes
	refused(t, pin, "", big+": larger than the 2 KiB limit (--max-size raises it)", "set", "load", "--max-size", "2K", "bl", big)
	refused(t, pin, strings.Repeat("198.51.100.1\n", 200), "<stdin>: larger than the 1000 bytes limit", "set", "load", "--max-size", "1000", "bl", "-")
	mustRunCLI(t, pin, "", "set", "load", "--max-size", "3K", "bl", big)
	ruleset := liveRuleset + strings.Repeat("# padding\n", 300)
	rsFile := writeFile(t, dir, "big.yaml", ruleset)
	refused(t, pin, "", rsFile+": larger than the 1 KiB limit", "apply", "--max-size", "1k", "-f", rsFile)
	refused(t, pin, ruleset, "<stdin>: larger than the 1 KiB limit", "apply", "--max-size", "1KiB", "-f", "-")
	refused(t, pin, "", "apply: --max-size: want a positive size", "apply", "--max-size", "lots", "-f", rsFile)
	refused(t, pin, "", "serve: --max-size: want a positive size", "serve", "--max-size", "lots", "--config", rsFile)
	mustRunCLI(t, pin, "", "apply", "--check", "--max-size", "1M", "-f", rsFile)
}

// TestMaxSizeNeverLowersSetFiles: --max-size bounds the ruleset file; a
// size below a set file's default limit (256 MiB) leaves that limit, so
// a --max-size given for the ruleset file never refuses a set file the
// default takes.
func TestMaxSizeNeverLowersSetFiles(t *testing.T) {
	dir := t.TempDir()
	list := writeFile(t, dir, "bl.txt", strings.Repeat("198.51.100.1\n", 200)) // 2600 bytes
	rs := writeFile(t, dir, "rs.yaml", "policy: pass\nsets:\n  bl: {file: "+list+"}\nrules:\n  - {src: \"@bl\", action: drop}\n")
	for _, tc := range []struct {
		args []string
		want string // the error, "" for none
	}{
		{[]string{"apply", "--check", "--max-size", "1K", "-f", rs}, ""},
		// Refused for --local once both files are read: no kernel needed.
		{[]string{"replay", "--diff", "--max-size", "1K", "--rules", rs, "--against", rs, "--local", "bogus", "x.pcap"}, `--local "bogus"`},
	} {
		_, err := runCLI(t, filepath.Join(dir, "pins"), "", tc.args...)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("xdpfw %s: %v; want the set file read (error %q)", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	refused := "rs.yaml: larger than the 100 bytes limit"
	if _, err := runCLI(t, filepath.Join(dir, "pins"), "", "apply", "--check", "--max-size", "100", "-f", rs); err == nil || !strings.Contains(err.Error(), refused) {
		t.Errorf("apply --check --max-size 100: %v, want %q", err, refused)
	}
}

// TestRepeatedFlagRefused: a flag given twice is refused in one line by
// every command, rather than the last value winning silently.
func TestRepeatedFlagRefused(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"rule add: --dport given twice: a flag takes one value", []string{"rule", "add", "--proto", "tcp", "--dport", "22", "--dport", "23", "--action", "pass"}},
		{"rule add: --dport given twice", []string{"rule", "add", "--dport=22", "--proto", "tcp", "--action", "drop", "--dport", "23"}},
		{"rule add: --action given twice", []string{"rule", "add", "--action", "pass", "--src", "10.0.0.0/8", "--action", "drop"}},
		{"apply: --file given twice (as -f and --file)", []string{"apply", "-f", "a.yaml", "--file", "b.yaml"}},
		{"set load: --quiet given twice (as --quiet and -q)", []string{"set", "load", "--quiet", "bl", "-", "-q"}},
		{"--pin-dir given twice: a flag takes one value", []string{"--pin-dir", pin, "policy", "pass"}}, // runCLI gives one
		{"attach: --mode given twice", []string{"attach", "lo", "--mode", "native", "--mode", "generic"}},
	} {
		refused(t, pin, "192.0.2.1\n", tc.want, tc.args...)
	}
	// Different flags, and the same flag of different commands, are fine.
	mustRunCLI(t, pin, "", "rule", "add", "--sport", "22", "--dport", "22", "--proto", "tcp", "--action", "drop")
}

// TestErrorsQuoteLittle: a set file that is not a blocklist (here like
// /etc/shadow) is reported by line without its contents, and the error
// printer cuts a long line (a 100 KB argument) to maxErrorLine.
func TestErrorsQuoteLittle(t *testing.T) {
	pin, dir := withLiveRuleset(t)
	const hash = "$6$Zq8LQ0xRa1b2c3d4$3Zt8lMkqJ0oYp2uVx9eH1cB7nA4sD6fG5hJ8kL0mN3bV2cX1zQ9wE7rT5yU3iO1pAq1w2e3r4t5y6u7i8o9p0aZsXdCfVgBh"
	shadow := writeFile(t, dir, "shadow", "root:"+hash+":19000:0:99999:7:::\nuser:"+hash+":19000:0:99999:7:::\n")
	rs := writeFile(t, dir, "rs.yaml", "policy: drop\nsets:\n  bl: {file: shadow}\n")
	for _, args := range [][]string{{"apply", "-f", rs}, {"set", "load", "bl", shadow}, {"apply", "-f", shadow}, {"replay", "--rules", shadow, "x.pcap"}} {
		_, err := runCLI(t, pin, "", args...)
		if err == nil || strings.Contains(err.Error(), hash[:40]) {
			t.Errorf("xdpfw %s: %v: quotes the file", strings.Join(args, " "), err)
		}
	}
	huge := strings.Repeat("9", 100_000)
	_, err := runCLI(t, pin, "", "rule", "add", "--proto", "tcp", "--dport", huge, "--action", "drop")
	if err == nil {
		t.Fatal("rule add with a 100 KB port succeeded")
	}
	if line := errorLine(err); len(line) > maxErrorLine+len("…") || !strings.HasSuffix(line, "…") {
		t.Errorf("errorLine gave %d bytes: %.80q", len(line), line)
	}
	if line := errorLine(errors.New("a\nb")); line != "a b" {
		t.Errorf("errorLine(a\\nb) = %q", line)
	}
}

// TestNumbersAreDecimal: numbers given to flags are decimal, leading
// zeros and all, as ports are: --priority 010 is 10, never octal 8 (which
// would run the rule before those of 9), and so are capture --rule and
// ct list --port; 0x10 is refused, and a priority past 65535 or a port
// of 0 is out of range, said with the flag's own bounds.
func TestNumbersAreDecimal(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	mustRunCLI(t, pin, "", "rule", "add", "--priority", "010", "--proto", "udp", "--dport", "53", "--action", "drop")
	if out := mustRunCLI(t, pin, "", "rule", "list"); !strings.Contains(out, "proto udp dport 53") {
		t.Fatalf("rule list:\n%s", out)
	}
	saved := mustRunCLI(t, pin, "", "save")
	if !strings.Contains(saved, "priority: 10\n") {
		t.Errorf("--priority 010 saved as:\n%s", saved)
	}
	refused(t, pin, "", `invalid value "0x10" for flag --priority: want a number in decimal digits`, "rule", "add", "--priority", "0x10", "--proto", "udp", "--dport", "54", "--action", "drop")
	refused(t, pin, "", `invalid value "99999999999999999999" for flag --priority: out of range (0-65535)`, "rule", "add", "--priority", "99999999999999999999", "--action", "drop")
	refused(t, pin, "", `invalid value "65536" for flag --priority: out of range (0-65535)`, "rule", "add", "--priority", "65536", "--action", "drop")
	refused(t, pin, "", "capture: no rule 10 in the live ruleset", "capture", "--rule", "1", "--rule", "010")
	refused(t, pin, "", `invalid value "0x10" for flag --port: want a number in decimal digits`, "ct", "list", "--port", "0x10")
	// Every number flag: the flag package took 0x10 for 16 and 010 for
	// 8, so detach --ifindex 010 detached ifindex 8 (the nosuch0 refuses
	// a capture the old parsing would have started).
	refused(t, pin, "", "no interface record has ifindex 10 ", "detach", "--ifindex", "010")
	for _, args := range [][]string{
		{"detach", "--ifindex", "0x10"},
		{"capture", "--snaplen", "0x10", "--iface", "nosuch0"},
		{"capture", "--max-rate", "0x10", "--iface", "nosuch0"},
		{"capture", "-c", "0x10", "--iface", "nosuch0"},
		{"replay", "--bench", "--repeat", "0x10", "--rules", "nosuch.yaml", "nosuch.pcap"},
		{"replay", "--bench", "--rounds", "0x10", "--rules", "nosuch.yaml", "nosuch.pcap"},
	} {
		refused(t, pin, "", "want a number in decimal digits", args...)
	}
	// A range says its own bounds, whichever side is passed.
	refused(t, pin, "", `invalid value "0" for flag --port: out of range (1-65535)`, "ct", "list", "--port", "0")
	refused(t, pin, "", `invalid value "65536" for flag --port: out of range (1-65535)`, "ct", "list", "--port", "65536")
	// The flag is named once.
	refused(t, pin, "", `ct-state: unknown state "bogus" (want new`, "rule", "add", "--ct-state", "bogus", "--action", "drop")
	if _, err := runCLI(t, pin, "", "rule", "add", "--ct-state", "bogus", "--action", "drop"); err == nil || strings.Count(err.Error(), "ct-state") != 1 {
		t.Errorf("--ct-state bogus: %v, want the flag named once", err)
	}
}

// TestUsageLines: a command missing its arguments names itself as typed,
// and save -o with an empty name (an unset variable) is refused rather
// than taken as standard output.
func TestUsageLines(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	refused(t, pin, "", "rule del: missing rule id (usage: xdpfw rule del ID...)", "rule", "del")
	refused(t, pin, "", "set destroy: need exactly one set name (usage: xdpfw set destroy NAME)", "set", "destroy")
	out, err := runCLI(t, pin, "", "save", "-o", "")
	if err == nil || err.Error() != "save: --output: an empty file name (leave the flag out to print to standard output)" || out != "" {
		t.Errorf("save -o '': %q, %v; want nothing printed and the empty name refused", out, err)
	}
}

// TestRuleAddNeverMatches: rule add refuses a rule on an IPv6 set with an
// ICMP (IPv4) type, which would never match, and ICMP on IPv6 or ICMPv6
// on IPv4, or an IPv4 address written IPv4-mapped, which match only
// crafted frames, as set add does such an address; the message says why.
func TestRuleAddNeverMatches(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	mustRunCLI(t, pin, "", "set", "create", "s6", "--family", "ipv6")
	refused(t, pin, "", "set @s6 is ipv6, but icmp-type/icmp-code match IPv4 only: the rule would never match",
		"rule", "add", "--src", "@s6", "--proto", "icmp", "--icmp-type", "echo-request", "--action", "drop")
	refused(t, pin, "", "the rule matches ipv6 only, but proto icmp is IPv4's: it would match only crafted frames (for IPv6, use proto icmpv6)",
		"rule", "add", "--proto", "icmp", "--family", "ipv6", "--action", "drop")
	refused(t, pin, "", "set @s6 is ipv6, but proto icmp is IPv4's: the rule would match only crafted frames (for IPv6, use proto icmpv6)",
		"rule", "add", "--dst", "@s6", "--proto", "1", "--action", "drop")
	refused(t, pin, "", "the rule matches ipv4 only, but proto icmpv6 is IPv6's: it would match only crafted frames (for IPv4, use proto icmp)",
		"rule", "add", "--proto", "icmpv6", "--dst", "192.0.2.1", "--action", "drop")
	mustRunCLI(t, pin, "", "rule", "add", "--proto", "icmpv6", "--family", "ipv6", "--action", "drop")
	refused(t, pin, "", "src ::ffff:192.0.2.1/128 is IPv4 192.0.2.1/32 written as IPv6 (IPv4-mapped): the rule would match only crafted IPv6 frames, never IPv4's (write 192.0.2.1/32)",
		"rule", "add", "--src", "::ffff:192.0.2.1", "--action", "drop")
	mustRunCLI(t, pin, "", "rule", "add", "--src", "::ffff:0:0/96", "--action", "drop")
	refused(t, pin, "", "proto 44 is IPv6's fragment header, which xdpfw skips to match the protocol after it: the rule would match only crafted frames (for fragments, use the fragment condition: first, non-first or any)",
		"rule", "add", "--proto", "44", "--action", "drop")
	// A set's element alike, for the rules that name the set; set del
	// still removes one an older release took.
	refused(t, pin, "", "set add: ::ffff:192.0.2.0/120 is IPv4 192.0.2.0/24 written as IPv6 (IPv4-mapped): it would match only crafted IPv6 frames, never IPv4's (add 192.0.2.0/24)",
		"set", "add", "s6", "2001:db8::1", "::ffff:192.0.2.0/120")
	mustRunCLI(t, pin, "", "set", "add", "s6", "::ffff:0:0/96")
	refused(t, pin, "", "::ffff:192.0.2.1/128 is not in set s6", "set", "del", "s6", "::ffff:192.0.2.1")
}

// TestRuleAddMissingSet: a rule on a set that does not exist is refused
// naming the set and how to make it, not the id the rule would have had.
func TestRuleAddMissingSet(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	refused(t, pin, "", "", "rule", "add", "--src", "@nosuch", "--action", "drop")
	_, err := runCLI(t, pin, "", "rule", "add", "--src", "@nosuch", "--action", "drop")
	if want := "set @nosuch does not exist (create it with xdpfw set create nosuch)"; err == nil || err.Error() != want {
		t.Errorf("rule add --src @nosuch: %v, want %q", err, want)
	}
}

// TestOneIsSingular: counts of one say the noun once ("1 rule"), where
// the output said "1 rules" and "1 elements".
func TestOneIsSingular(t *testing.T) {
	privtest.Require(t)
	pin, dir := privtest.PinDir(t), t.TempDir()
	file := writeFile(t, dir, "one.yaml", "policy: pass\nrules:\n  - {proto: tcp, dport: 22, action: drop}\n")
	for _, tc := range []struct {
		want string
		args []string
	}{
		{file + ": ok: 1 rule, policy pass\n", []string{"apply", "--check", "-f", file}},
		{"applied 1 rule (0 unchanged, 1 added, 0 removed), policy pass\n", []string{"apply", "-f", file}},
		{"unchanged: 1 rule, policy pass\n", []string{"apply", "-f", file}},
		{"", []string{"set", "create", "bl"}},
		{"set bl: 1 added, 0 deleted, 0 already there; 1 element\n", []string{"set", "add", "bl", "192.0.2.1"}},
		{"set bl: 1 added, 0 deleted, 0 already there; 2 elements\n", []string{"set", "add", "bl", "192.0.2.2"}},
	} {
		if out := mustRunCLI(t, pin, "", tc.args...); out != tc.want {
			t.Errorf("xdpfw %s: %q, want %q", strings.Join(tc.args, " "), out, tc.want)
		}
	}
}

// TestApplyOtherFamilyICMP: a file's rule with the other family's ICMP
// (here proto icmp on IPv6), which the previous release took and saved,
// applies with a warning at its rule's line (as does one on a set of the
// other family), and save | apply -f - of the state changes
// nothing; rule add still refuses one. The file was refused, so a state
// holding such a rule could not apply its own save.
func TestApplyOtherFamilyICMP(t *testing.T) {
	privtest.Require(t)
	pin := privtest.PinDir(t)
	file := "policy: pass\nsets:\n  s4: {family: ipv4}\nrules:\n  - {family: ipv6, proto: icmp, action: drop}\n  - dst: '@s4'\n    proto: icmpv6\n    action: drop\n"
	warn := "xdpfw: warning: <stdin>:5: rule #1: the rule matches ipv6 only, but proto icmp is IPv4's: it would match only crafted frames (for IPv6, use proto icmpv6)\n" +
		"xdpfw: warning: <stdin>:6: rule #2: set @s4 is ipv4, but proto icmpv6 is IPv6's: the rule would match only crafted frames (for IPv4, use proto icmp)\n"
	out, errOut, err := runCLIBoth(pin, file, "apply", "-f", "-")
	if err != nil || errOut != warn || !strings.HasPrefix(out, "applied 2 rules ") {
		t.Fatalf("apply: %v, printed %q, stderr %q; want the warning %q", err, out, errOut, warn)
	}
	saved := mustRunCLI(t, pin, "", "save")
	if out := mustRunCLI(t, pin, saved, "apply", "-f", "-"); out != "unchanged: 2 rules, policy pass\n" {
		t.Errorf("save | apply -f -: %q", out)
	}
	refused(t, pin, "", "proto icmp is IPv4's", "rule", "add", "--family", "ipv6", "--proto", "icmp", "--action", "drop")
}

// TestTCPFlagsList: rule add refuses a bare list of flags ("syn,ack"),
// all set in xdpfw but any of them in nftables, saying both unambiguous
// spellings; a file's, as earlier releases saved them, applies (and
// checks) with a warning as all set, and the state's save writes the
// "/" form, whose apply changes nothing and warns of nothing.
func TestTCPFlagsList(t *testing.T) {
	pin, _ := withLiveRuleset(t)
	refused(t, pin, "", `--tcp-flags: "syn,ack" means all these flags set, but nftables reads it as any of them: write "syn,ack / syn,ack" for all, or a rule per flag for any`,
		"rule", "add", "--tcp-flags", "syn,ack", "--action", "drop")
	mustRunCLI(t, pin, "", "rule", "add", "--tcp-flags", "syn,ack / syn,ack", "--action", "drop")

	pin = privtest.PinDir(t)
	file := "policy: pass\nrules:\n  - action: drop\n    tcp-flags: syn,ack\n"
	warn := `xdpfw: warning: <stdin>:4: rule #1: tcp-flags: "syn,ack" means all these flags set, but nftables reads it as any of them: write "syn,ack / syn,ack" for all, or a rule per flag for any` + "\n"
	for _, args := range [][]string{{"apply", "--check", "-f", "-"}, {"apply", "-f", "-"}} {
		out, errOut, err := runCLIBoth(pin, file, args...)
		if err != nil || errOut != warn {
			t.Fatalf("xdpfw %s: %v, printed %q, stderr %q; want the warning %q", strings.Join(args, " "), err, out, errOut, warn)
		}
	}
	saved := mustRunCLI(t, pin, "", "save")
	if !strings.Contains(saved, "tcp-flags: syn,ack / syn,ack\n") {
		t.Errorf("save wrote\n%s", saved)
	}
	out, errOut, err := runCLIBoth(pin, saved, "apply", "-f", "-")
	if err != nil || errOut != "" || out != "unchanged: 1 rule, policy pass\n" {
		t.Errorf("save | apply -f -: %v, printed %q, stderr %q", err, out, errOut)
	}
}
