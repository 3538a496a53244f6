package serve

import (
	"net"
	"os"
)

// notify tells the service manager of a change of the service's state,
// by systemd's sd_notify protocol: a datagram to the socket that
// NOTIFY_SOCKET names (a leading @ is an abstract socket's, as Go's
// addresses take it). Without NOTIFY_SOCKET it does nothing.
//
// The unit is Type=notify so that it is started, and network-pre.target
// reached, only once the config has been applied: a Type=simple unit is
// started when its process is, and the network came up before the
// firewall did. READY=1 is sent after the first attempt whatever it
// gave, since a config waiting for an interface that comes later must
// not hold the boot up (it is retried).
func notify(log *logger, state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err == nil {
		_, err = conn.Write([]byte(state))
		conn.Close()
	}
	if err != nil {
		log.limited("notify", "cannot tell the service manager", "socket", addr, "state", state, "error", err)
	}
}
