package serve

import (
	"os"
	"strconv"
	"strings"

	"github.com/xdpfw/xdpfw/pkg/layout"
	"github.com/xdpfw/xdpfw/pkg/loader"
)

// logNotices makes what the loader tells of a change it made (a lock
// waited for, a migration, maps grown or resized, connections seeded)
// records of the service's log. The CLI prints them as lines of their
// own (cmd/xdpfw/main.go), which in a key=value log are lines no reader
// of it can parse. The hooks are the process's: serve is its only
// command.
func logNotices(log *logger) {
	// Every scrape and reload takes the pin directory's lock: while a
	// long command (a big set load) holds it, say so once per interval
	// rather than once per scrape. A wait for this process's own hold
	// (a scrape or a sweep while a reload resizes the conntrack tables)
	// is no news: logged, it named serve's own pid, as if it waited for
	// itself.
	self := "pid " + strconv.Itoa(os.Getpid())
	loader.LockWaitNotice = func(dir, holder string) {
		if holder == self || strings.HasPrefix(holder, self+" ") {
			return
		}
		log.limited("lock", "waiting for the pin directory's lock", "pin_dir", dir, "holder", holder)
	}
	loader.MigrateNotice = func(dir string, from, to int, reach loader.Reach) {
		program := ""
		if reach.Of > 0 {
			program = "its " + strings.TrimPrefix(reach.String(), "the ") + ", "
		}
		log.Info("moved the state to this build's layout: "+program+"ruleset, sets and counters kept",
			"pin_dir", dir, "from_layout", from, "to_layout", to)
	}
	loader.GrowNotice = func(dir string, g loader.Growth) {
		what := "the ruleset outgrew its maps"
		if g.Finished {
			what = "finished replacing the maps an interrupted change had begun"
		}
		log.Info(what+replacedOn(g.Interfaces), "pin_dir", dir, "grown", g.String(), "bytes", g.Bytes)
	}
	loader.LeftNotice = func(dir, iface string, prog uint32) {
		log.Warn("an interface the state lists runs another XDP program than the state's (program_id 0: none): left as it is, xdpfw not filtering there (status lists it replaced)",
			"pin_dir", dir, "interface", iface, "program_id", prog)
	}
	loader.CTResizeNotice = func(dir string, flows, frags uint32, sockets int, ifaces loader.Reach) {
		args := []any{"pin_dir", dir, "flows", flows, "frags", frags}
		switch {
		case flows == layout.CtIdleEntries:
			log.Info("the conntrack tables are idle now (no rule and no drop policy reads connection state; the most recent records kept)"+replacedOn(ifaces), args...)
		case sockets < 0:
			log.Warn("the conntrack tables resized (the most recent records kept), but without this host's TCP connections: the kernel would not list them (no tcp_diag)"+replacedOn(ifaces), args...)
		default:
			log.Info("the conntrack tables resized (the most recent records kept, and this host's TCP connections they had no record of)"+replacedOn(ifaces),
				append(args, "connections_added", sockets)...)
		}
	}
	loader.CTSeedNotice = func(dir string, n int) {
		log.Info("this host's established TCP connections put in the conntrack table (made before xdpfw saw them)", "pin_dir", dir, "connections", n)
	}
}

// replacedOn is what a notice of maps replaced says of the interfaces
// given the program on the new ones (Reach.String): nothing when the
// state is attached to none.
func replacedOn(r loader.Reach) string {
	if r.Of == 0 {
		return ""
	}
	return ": " + r.String()
}
