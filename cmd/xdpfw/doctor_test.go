package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/privtest"
	"github.com/xdpfw/xdpfw/pkg/perf"
)

// TestDoctorJSON runs `xdpfw doctor --json` in a throwaway network
// namespace holding two veth pairs it creates: every BPF feature is there
// on the machine the tests run on, and each veth is listed with its
// driver, native XDP and the program its MTU gets.
func TestDoctorJSON(t *testing.T) {
	privtest.Require(t)
	ns, err := perf.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() }) // the last reference: the namespace and its veths go
	pinDir := privtest.PinDir(t)
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	small, jumbo := fmt.Sprintf("drs%x", rnd), fmt.Sprintf("drj%x", rnd)
	var out, errOut bytes.Buffer
	var runErr error
	err = perf.InNetns(ns, func() error {
		for _, v := range []struct {
			name string
			mtu  int
		}{{small, 1500}, {jumbo, 9000}} {
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: v.name, MTU: v.mtu}, PeerName: v.name + "p", PeerMTU: uint32(v.mtu)}
			if err := netlink.LinkAdd(veth); err != nil {
				return fmt.Errorf("create veth %s: %w", v.name, err)
			}
		}
		cliMu.Lock()
		defer cliMu.Unlock()
		app := newApp(&out, &errOut)
		runErr = app.Run([]string{"xdpfw", "--pin-dir", pinDir, "doctor", "--json"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if runErr != nil {
		t.Fatalf("doctor: %v\n%s", runErr, out.String())
	}
	var rep struct {
		OK       bool `json:"ok"`
		Features []struct {
			Name, Status, Verdict string
		} `json:"features"`
		Interfaces []struct {
			Name, Driver, Program string
			MTU                   int    `json:"mtu"`
			NativeXDP             string `json:"native_xdp"`
		} `json:"interfaces"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out.String())
	}
	if !rep.OK || len(rep.Features) == 0 {
		t.Errorf("ok %v with %d features", rep.OK, len(rep.Features))
	}
	for _, f := range rep.Features {
		if f.Status != "ok" || f.Verdict != "ok" {
			t.Errorf("feature %s: %s, %s", f.Name, f.Status, f.Verdict)
		}
	}
	want := map[string]string{small: "xdpfw", small + "p": "xdpfw", jumbo: "xdpfw_frags", jumbo + "p": "xdpfw_frags"}
	for _, i := range rep.Interfaces {
		prog, ok := want[i.Name]
		if !ok {
			t.Errorf("interface %s listed: the namespace holds only the veths (loopback is left out)", i.Name)
			continue
		}
		delete(want, i.Name)
		if i.Driver != "veth" || i.NativeXDP != "yes" || i.Program != prog {
			t.Errorf("%s: driver %s, native XDP %s, program %s; want veth, yes, %s", i.Name, i.Driver, i.NativeXDP, i.Program, prog)
		}
	}
	for name := range want {
		t.Errorf("veth %s not listed", name)
	}
}

// TestDoctorFailsOnMissingInterface: a named interface that does not
// exist is a failed check, and a failed check is a non-zero exit.
func TestDoctorFailsOnMissingInterface(t *testing.T) {
	privtest.Require(t)
	var out, errOut bytes.Buffer
	cliMu.Lock()
	app := newApp(&out, &errOut)
	err := app.Run([]string{"xdpfw", "--pin-dir", privtest.PinDir(t), "doctor", "xdpfw-no-such"})
	cliMu.Unlock()
	if err == nil || err.Error() != "doctor: 1 check failed" {
		t.Fatalf("got %v, want doctor: 1 check failed", err)
	}
	if !regexp.MustCompile(`(?m)^interface xdpfw-no-such +fail +no such interface`).Match(out.Bytes()) {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestDoctorCapabilities: doctor's root check goes by the process's
// capabilities, not its uid, and passes just the sets with which the
// commands run: a user given CAP_SYS_ADMIN and CAP_NET_ADMIN (a unit's
// AmbientCapabilities) attaches and changes the mode of an attachment,
// and passes it; one given CAP_BPF and CAP_NET_ADMIN, with CAP_PERFMON or
// not, passed it, but the verifier refuses the program without
// CAP_PERFMON, and a mode change opens the attached program by its id,
// which only CAP_SYS_ADMIN may.
func TestDoctorCapabilities(t *testing.T) {
	privtest.Require(t)
	exe := copyExecutable(t)
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("rcap%x", rnd)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("create veth %s: %v", name, err)
	}
	t.Cleanup(func() { netlink.LinkDel(veth) })
	if err := netlink.LinkSetUp(veth); err != nil {
		t.Fatal(err)
	}
	as := func(caps []uintptr, args ...string) *exec.Cmd {
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
			AmbientCaps: caps,
		}
		return cmd
	}
	for _, tc := range []struct {
		name string
		caps []uintptr
		want string
	}{
		{"given CAP_SYS_ADMIN and CAP_NET_ADMIN", []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN}, "ok"},
		{"given CAP_BPF and CAP_NET_ADMIN", []uintptr{unix.CAP_BPF, unix.CAP_NET_ADMIN}, "fail"},
		{"given CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN", []uintptr{unix.CAP_BPF, unix.CAP_PERFMON, unix.CAP_NET_ADMIN}, "fail"},
		{"given CAP_BPF alone", []uintptr{unix.CAP_BPF}, "fail"},
	} {
		// The user's own pin directory: the BPF filesystem is root's.
		pin := privtest.PinDir(t)
		if err := os.Mkdir(pin, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(pin, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		out, _ := as(tc.caps, "--pin-dir", pin, "doctor", "--json", name).Output() // other checks may fail
		var rep struct {
			Root struct{ Verdict, Detail string } `json:"root"`
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("%s: doctor --json: %v\n%s", tc.name, err, out)
		}
		if rep.Root.Verdict != tc.want {
			t.Errorf("uid 65534 %s: root check %s (%s), want %s", tc.name, rep.Root.Verdict, rep.Root.Detail, tc.want)
		}
		if rep.Root.Verdict != "ok" {
			continue
		}
		for _, args := range [][]string{{"attach", name}, {"attach", "--mode", "generic", name}, {"detach", name}} {
			if out, err := as(tc.caps, append([]string{"--pin-dir", pin}, args...)...).CombinedOutput(); err != nil {
				t.Errorf("uid 65534 %s passes the root check, but xdpfw %s fails: %v\n%s", tc.name, strings.Join(args, " "), err, out)
			}
		}
	}
}

// TestDoctorPinDirWritable: a user given xdpfw's capabilities passes
// doctor's root check, and must also be able to make the pin directory
// (or its pins): doctor's bpffs check fails one who cannot, naming the
// directory and saying how to give it to the user, and passes one who
// can, a user given CAP_DAC_OVERRIDE included, whom attach lets make its
// pins: access(2) judged the real uid without capabilities and failed it.
func TestDoctorPinDirWritable(t *testing.T) {
	privtest.Require(t)
	exe := copyExecutable(t)
	root := privtest.PinDir(t) // root's, as /sys/fs/bpf/xdpfw's parent is
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	own := root + "/own"
	if err := os.Mkdir(own, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(own, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	caps := []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN}
	for _, tc := range []struct {
		name  string
		pin   string
		caps  []uintptr
		want  string
		where string // the directory a failure names
	}{
		{"a pin directory to make in root's", root + "/xdpfw", caps, "fail", root},
		{"root's pin directory", root, caps, "fail", root},
		{"a pin directory to make in root's, with CAP_DAC_OVERRIDE", root + "/xdpfw", append(caps, unix.CAP_DAC_OVERRIDE), "ok", ""},
		{"its own pin directory", own, caps, "ok", ""},
		{"a pin directory to make in its own", own + "/a/b", caps, "ok", ""},
	} {
		cmd := exec.Command(exe, "--pin-dir", tc.pin, "doctor", "--json", "lo")
		cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
			AmbientCaps: tc.caps,
		}
		out, _ := cmd.Output() // other checks may fail
		var rep struct {
			Root  struct{ Verdict, Detail string } `json:"root"`
			BPFFS struct{ Verdict, Detail string } `json:"bpffs"`
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("%s: doctor --json: %v\n%s", tc.name, err, out)
		}
		if rep.Root.Verdict != "ok" {
			t.Fatalf("%s: root check %s (%s), want ok", tc.name, rep.Root.Verdict, rep.Root.Detail)
		}
		if rep.BPFFS.Verdict != tc.want {
			t.Errorf("uid 65534 with %s: bpffs check %s (%s), want %s", tc.name, rep.BPFFS.Verdict, rep.BPFFS.Detail, tc.want)
		}
		want := tc.where + ": permission denied to uid 65534 (run xdpfw as root, or make the pin directory this user's: install -d -o 65534 -m 0700 " + tc.pin + ")"
		if tc.want == "fail" && rep.BPFFS.Detail != want {
			t.Errorf("uid 65534 with %s: bpffs check says %q, want %q", tc.name, rep.BPFFS.Detail, want)
		}
	}
}

// TestDoctorUserNamespace: root in a user namespace of its own (a
// rootless container, unshare -r) has every capability of the namespace
// and none bpf() takes: doctor's root check fails it, and a command says
// it needs root, where both passed it and the first map made failed
// (operation not permitted, MEMLOCK may be too low).
func TestDoctorUserNamespace(t *testing.T) {
	privtest.Require(t)
	exe := copyExecutable(t)
	pin := privtest.PinDir(t)
	for _, size := range []int{1, 1<<32 - 1} { // the latter as the initial namespace's map reads
		inNS := func(args ...string) *exec.Cmd {
			cmd := exec.Command(exe, append([]string{"--pin-dir", pin}, args...)...)
			cmd.Env = append(os.Environ(), "XDPFW_TEST_MAIN=1")
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: size}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: size}},
			}
			return cmd
		}
		out, _ := inNS("doctor", "--json").Output() // it fails
		var rep struct {
			Root struct{ Verdict, Detail string } `json:"root"`
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("doctor --json: %v\n%s", err, out)
		}
		if rep.Root.Verdict != "fail" || !strings.Contains(rep.Root.Detail, "user namespace") {
			t.Errorf("root in a user namespace mapping %d uids: root check %s (%s), want fail naming the user namespace", size, rep.Root.Verdict, rep.Root.Detail)
		}
		out, err := inNS("set", "create", "s").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "needs root") {
			t.Errorf("set create as root in a user namespace mapping %d uids: %v, want it to say it needs root:\n%s", size, err, out)
		}
	}
}
