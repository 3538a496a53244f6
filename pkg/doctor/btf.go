package doctor

import "os"

// vmlinuxBTF is where the kernel publishes its own type information.
const vmlinuxBTF = "/sys/kernel/btf/vmlinux"

// BTF says whether the kernel describes its types, which CO-RE programs
// need. xdpfw's program reads only packets and its own maps, so this is
// for information (and for a datapath that one day reads kernel structs).
type BTF struct {
	Present bool `json:"present"`
	Finding
}

func checkBTF() BTF {
	if _, err := os.Stat(vmlinuxBTF); err != nil {
		return BTF{false, Finding{OK, vmlinuxBTF + " absent (informational: xdpfw does not need it)"}}
	}
	return BTF{true, Finding{OK, vmlinuxBTF + " present (informational: xdpfw does not need it)"}}
}
