package serve

import (
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	sys "golang.org/x/sys/unix"
)

// resubscribeEvery is how long watchLinks waits before it subscribes
// again when its subscription ended (the socket's buffer overflowed
// while the service was busy, or it could not subscribe at all).
const resubscribeEvery = 5 * time.Second

// watchLinks reports on the returned channel the name of a network
// interface that appeared (made, or renamed to that name: udev names a
// NIC after the kernel made it) when listed says the config names it
// (attaches to it, or a rule matches on it). Only those are reported: a
// host making a veth for each container would otherwise have the config
// applied again for each. A report not taken yet stands for any after it: the reload
// it brings reads every interface.
//
// Without it an interface the config names was attached to, and its
// rules' ifindex resolved, only when the config was next applied: one
// made late at boot waited for the retry (up to retryEvery, with the
// network up meanwhile), and one made again (a bond or VLAN recreated, a
// NIC whose driver was reloaded) had no firewall until the file changed,
// since the last reload had succeeded.
func watchLinks(listed func(name string) bool, log *logger, stop <-chan struct{}) <-chan string {
	out := make(chan string, 1)
	go func() {
		names := map[int32]string{} // by ifindex, as last seen
		for first := true; ; first = false {
			updates := make(chan netlink.LinkUpdate, 64)
			done := make(chan struct{})
			err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
				ErrorCallback: func(err error) {
					select {
					case <-done:
						// Closed here (stop, or the end of follow): the
						// subscription's receive failing on the closed
						// socket is its end, not a fault to log.
						return
					default:
					}
					if fromProcess(err) {
						return
					}
					log.limited("links", "watching the network interfaces", "error", err)
				},
			})
			// The interfaces there are, once subscribed (one made in
			// between is in both), asked on a socket of their own: the
			// subscription's (ListExisting) sends its requests to every
			// listener of link events too, another serve, ip monitor.
			var existing []netlink.Link
			if err == nil {
				existing, err = netlink.LinkList()
			}
			if err != nil {
				close(done)
				log.limited("links", "cannot watch the network interfaces: an interface the config lists made later is attached to at the next reload", "error", err)
			} else {
				follow(updates, existing, names, first, listed, out, log, stop)
				close(done)
			}
			select {
			case <-stop:
				return
			case <-time.After(resubscribeEvery):
			}
		}
	}()
	return out
}

// follow reads one subscription's updates until it ends or stop closes,
// reporting a listed interface that appeared, and logging one that went
// (deleted, moved to another network namespace, or renamed away): it
// had been said by the metrics alone (attached 0). The interfaces there
// were as it began (existing) are not reported on the first subscription
// (the start's reload sees them), but are on a later one: an interface
// may have been made while there was none.
func follow(updates <-chan netlink.LinkUpdate, existing []netlink.Link, names map[int32]string, first bool, listed func(string) bool, out chan<- string, log *logger, stop <-chan struct{}) {
	for _, l := range existing {
		appeared(int32(l.Attrs().Index), l.Attrs().Name, !first, names, listed, out, log)
	}
	for {
		var u netlink.LinkUpdate
		var ok bool
		select {
		case <-stop:
			return
		case u, ok = <-updates:
			if !ok {
				return
			}
		}
		if u.Header.Type == sys.RTM_DELLINK {
			if old, ok := names[u.Index]; ok && listed(old) {
				log.Warn("an interface the config names is gone (deleted, or moved to another network namespace): the config is applied to one of that name when it appears", "interface", old)
			}
			delete(names, u.Index)
			continue
		}
		appeared(u.Index, u.Attrs().Name, true, names, listed, out, log)
	}
}

// appeared records interface index's name, reporting it when asked to
// and it is new there (made, or renamed: a change of state is not) and
// listed, and logging a listed name it had before (renamed away).
func appeared(index int32, name string, report bool, names map[int32]string, listed func(string) bool, out chan<- string, log *logger) {
	old, known := names[index]
	if old == name {
		return
	}
	names[index] = name
	if known && listed(old) {
		log.Warn("an interface the config names was renamed: the config is applied to one of that name when it appears", "interface", old, "renamed", name)
	}
	if !report || !listed(name) {
		return
	}
	select {
	case out <- name:
	default: // a reload is pending already
	}
}

// fromProcess reports whether err is the subscription's word that it
// dropped a message a process sent rather than the kernel: another
// subscriber's request for the interfaces there are (a second serve
// starting, ip monitor's peers) goes to every listener of link events.
// The subscription goes on, and nothing is wrong with it.
func fromProcess(err error) bool {
	return strings.HasPrefix(err.Error(), "Wrong sender portid ")
}
