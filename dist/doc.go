// Package dist holds what runs xdpfw for real, none of it Go: the systemd
// unit (xdpfw.service), the example /etc/xdpfw/xdpfw.yaml, and the
// Kubernetes DaemonSet and ConfigMap (kubernetes/). Its tests check them,
// and the packaging (make install, make deb).
package dist
