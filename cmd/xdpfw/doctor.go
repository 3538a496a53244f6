package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xdpfw/xdpfw/pkg/doctor"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "check that this machine can run xdpfw, and say what to fix",
		ArgsUsage: "[IFACE...]",
		Description: `Examines the machine for what xdpfw needs and prints one line per check,
each with a verdict: ok, warn (xdpfw works, not at its best) or fail
(xdpfw cannot work until it is fixed), and what to do about it.

  root        whether it has the capabilities xdpfw needs: CAP_SYS_ADMIN
              (CAP_BPF is not enough) and CAP_NET_ADMIN, as root has, or
              another user given them (AmbientCapabilities)
  kernel      the running release, the minimum xdpfw needs and whether it
              is one xdpfw is tested on
  features    every BPF feature the program uses (program and map types,
              helpers, multi-buffer XDP), probed by loading throwaway
              programs and maps, each with the Linux release that has it
  bpffs       the BPF filesystem under --pin-dir is mounted, and this user
              may make the pin directory, or its pins if it exists
  BTF         whether the kernel publishes its types (informational)
  memlock     whether BPF maps are charged to RLIMIT_MEMLOCK, and the
              limit: a failure if they are (kernels before 5.11, which
              xdpfw does not run on; it lifts no limit)
  interface   for each IFACE, or every interface but loopback: driver,
              MTU, the program attach gives it (xdpfw, or xdpfw_frags above
              the MTU whose frames fill one buffer: 3498 on 4 KiB pages; a
              veth's peer's MTU counts too, its frames being the peer's)
              and whether the driver runs XDP natively (asked of the
              kernel on Linux 6.3 and later, else a list of drivers); one
              without an Ethernet header (tun, WireGuard, an IP tunnel),
              which attach refuses, fails when named, else is a warning

Doctor changes nothing: nothing is attached, pinned or loaded for longer
than a probe. Run it as root, or as the user the firewall runs as. It
exits non-zero when a check fails.`,
		Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			r, err := doctor.Run(c.String("pin-dir"), c.Args().Slice())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if err := printJSON(c, r); err != nil {
					return err
				}
			} else {
				tw := newTable(c)
				fmt.Fprintln(tw, "CHECK\tVERDICT\tDETAIL")
				for _, l := range r.Lines() {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Check, l.Verdict, l.Detail)
				}
				tw.Flush()
			}
			// Scripts read the verdicts; the exit status says whether
			// xdpfw can run at all.
			switch n := r.Failed(); n {
			case 0:
				return nil
			case 1:
				return fmt.Errorf("doctor: 1 check failed")
			default:
				return fmt.Errorf("doctor: %d checks failed", n)
			}
		},
	}
}
