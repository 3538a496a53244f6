package doctor

// nativeDrivers are drivers with native XDP (an ndo_bpf implementation)
// in Linux 6.1, the oldest kernel xdpfw supports; kernels before 6.3
// cannot be asked, so doctor falls back to this list there. A driver not
// listed may still have it: attach --mode auto tries native first.
var nativeDrivers = map[string]bool{
	"veth": true, "virtio_net": true, "tun": true, "bonding": true,
	"mlx4_en": true, "mlx5_core": true, "i40e": true, "ice": true,
	"ixgbe": true, "ixgbevf": true, "igb": true, "igc": true,
	"bnxt_en": true, "ena": true, "nfp": true, "qede": true,
	"sfc": true, "hv_netvsc": true, "gve": true, "xen_netfront": true,
	"netsec": true, "mvneta": true, "mvpp2": true, "stmmac": true,
	"fec": true, "thunder-nicvf": true, "dpaa2-eth": true, "enetc": true,
}
