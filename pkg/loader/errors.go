package loader

import "errors"

// Errors callers may test for; each message reads well as one CLI line.
var (
	ErrNotRoot     = errors.New("xdpfw needs root (CAP_BPF, CAP_NET_ADMIN): run it as root or with sudo")
	ErrNotAttached = errors.New("xdpfw is not attached to any interface (run: xdpfw attach IFACE)")
)
