package loader

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpfw/xdpfw/internal/fixtures"
	"github.com/xdpfw/xdpfw/internal/privtest"
)

// TestReattachInPlace: attaching again in the same mode an interface
// whose MTU changed which of xdpfw's programs it needs (the frags one
// above one buffer, the one-buffer one below) swaps them in one step:
// frames sent to it the whole time under policy drop all meet a program,
// xdpfw drops each, none reaches the stack. Attach removed the old
// program before putting the new one on, and frames passed unfiltered
// in between.
func TestReattachInPlace(t *testing.T) {
	dir := privtest.PinDir(t)
	inThrowawayNetns(t, func() error {
		defer removeState(dir)
		if err := addVeths("ipl0"); err != nil {
			return err
		}
		for _, name := range []string{"ipl0", "ipl0p"} {
			if err := netlink.LinkSetUp(linkNamed(t, name)); err != nil {
				return err
			}
		}
		s, err := OpenOrCreate(dir)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := s.Apply(mustRuleset(t, "policy: drop\n")); err != nil {
			return err
		}
		for _, mode := range []Mode{ModeNative, ModeGeneric} {
			if err := reattachUnderFire(t, s, mode); err != nil {
				return fmt.Errorf("%s mode: %w", mode, err)
			}
		}
		return nil
	})
}

// reattachUnderFire attaches ipl0 in mode, then, while frames stream in
// from its peer, changes its MTU back and forth across one buffer and
// attaches it again each time (in native mode the frags program, once on,
// stays); it checks that no frame got past XDP
// (a packet socket on ipl0 sees those the stack gets) and that xdpfw
// dropped every one sent.
func reattachUnderFire(t *testing.T, s *State, mode Mode) error {
	if _, _, err := s.Attach("ipl0", mode, false); err != nil {
		return err
	}
	ipl0, peer := linkNamed(t, "ipl0"), linkNamed(t, "ipl0p")
	listen, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
	if err != nil {
		return err
	}
	defer unix.Close(listen)
	if err := unix.Bind(listen, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ipl0.Attrs().Index}); err != nil {
		return err
	}
	unix.SetsockoptInt(listen, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	send, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(send)
	frame := fixtures.UDP("10.9.9.2", "10.9.9.1", 47011, 9)
	dropped := func() uint64 {
		counters, err := s.InterfaceCounters()
		if err != nil {
			t.Errorf("interface counters: %v", err)
		}
		for _, c := range counters {
			if c.Iface == "ipl0" {
				return c.Counters["drop"].Packets
			}
		}
		return 0
	}
	before := dropped()

	var (
		sent atomic.Uint64
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sa := &unix.SockaddrLinklayer{Ifindex: peer.Attrs().Index, Halen: 6}
		for !stop.Load() {
			if unix.Sendto(send, frame, 0, sa) == nil {
				sent.Add(1)
			}
		}
	}()
	var reattachErr error
	prog := xdpProgOf(linkNamed(t, "ipl0"))
	for i := 0; i < 8 && reattachErr == nil; i++ {
		mtu := 9000
		if i%2 == 1 {
			mtu = 1500
		}
		if reattachErr = netlink.LinkSetMTU(ipl0, mtu); reattachErr != nil {
			break
		}
		var att Attachment
		if att, _, reattachErr = s.Attach("ipl0", mode, false); reattachErr != nil {
			break
		}
		if ids, _ := s.progIDs(); mode == ModeNative && prog == ids.frags {
			// A native veth keeps the frags program once it has it:
			// its peer's MTU bound stays as that program set it.
			if att.ProgID != ids.frags || att.Mode != mode {
				t.Errorf("attach at MTU %d: %+v, want %s mode and the frags program %d kept", mtu, att, mode, ids.frags)
			}
		} else if att.ProgID == prog || att.Mode != mode {
			t.Errorf("attach at MTU %d: %+v, want %s mode and the other program than %d", mtu, att, mode, prog)
		}
		prog = att.ProgID
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if reattachErr != nil {
		return reattachErr
	}
	time.Sleep(50 * time.Millisecond) // the last frames sent arrive

	passed := 0
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(listen, buf, 0)
		if err != nil {
			break
		}
		if bytes.Equal(buf[:n], frame) {
			passed++
		}
	}
	if passed > 0 {
		t.Errorf("%s mode: %d of the %d frames sent across the attaches reached the stack: a moment with no program", mode, passed, sent.Load())
	}
	if got := dropped() - before; sent.Load() == 0 || got < sent.Load() {
		t.Errorf("%s mode: xdpfw dropped %d frames of the %d sent", mode, got, sent.Load())
	}
	return netlink.LinkSetMTU(ipl0, 1500)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
