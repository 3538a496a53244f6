package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// machine describes where and when the run happened, for the head of
// results.md: figures from another machine or kernel are not comparable.
func machine(cfg Config) Table {
	var u unix.Utsname
	unix.Uname(&u)
	rows := [][]string{
		{"date", time.Now().UTC().Format("2006-01-02 15:04 MST")},
		{"run", cfg.Name},
		{"kernel", unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])},
		{"CPU", fmt.Sprintf("%s, %d online", cpuModel(), runtime.NumCPU())},
		{"memory", memTotal()},
		{"Go", runtime.Version()},
		{"xdpfw commit", command("git", "rev-parse", "--short", "HEAD")},
		{"xdp-tools", command("dpkg-query", "-W", "-f", "${Version}", "xdp-tools")},
		{"nftables", command("nft", "--version")},
		{"iptables", command("iptables", "--version")},
	}
	return Table{Header: []string{"", ""}, Rows: rows}
}

func cpuModel() string {
	return procField("/proc/cpuinfo", "model name")
}

func memTotal() string {
	return procField("/proc/meminfo", "MemTotal")
}

// procField is the value of the first "key: value" line with key.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// command is the first line a command prints, or why it could not run.
func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("unavailable (%v)", err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
