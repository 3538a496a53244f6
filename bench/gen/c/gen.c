// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Traffic generator for xdpfw-bench's end-to-end runs. It is never
 * attached: BPF_PROG_TEST_RUN runs it in live-frames mode on a template
 * frame, and each run rewrites the source address and the ports so that
 * one template becomes many flows, then sends the frame with XDP_TX out of
 * the veth named as the ingress interface, to its peer (the receiver).
 *
 * Only what a receiver checks before its verdict is kept valid: the IPv4
 * header checksum (the kernel's IP input verifies it before iptables sees
 * the packet). L4 checksums are left stale; nothing on the dropping path
 * reads them.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set before loading: the low 16 bits of the source address cycle over
 * src_count values from src_base, the destination port over dport_count
 * values from dport_base, the source port over all 65536. */
const volatile __u16 src_base = 0;
const volatile __u16 src_count = 1;
const volatile __u16 dport_base = 0;
const volatile __u16 dport_count = 1;

/* Frames generated so far. The test run executes on one CPU at a time, so
 * a plain increment is enough. */
__u64 seq = 0;

/* csum_replace2 updates an Internet checksum for one 16-bit word changed
 * from old to new (RFC 1624, eqn. 3). */
static __always_inline void csum_replace2(__u16 *sum, __u16 old, __u16 new)
{
	__u32 c = (__u16)~*sum + (__u16)~old + new;

	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	*sum = ~c;
}

/* set_ports rewrites the two ports at the start of a TCP or UDP header. */
static __always_inline int set_ports(void *l4, void *end, __u64 n)
{
	__u16 *p = l4;

	if ((void *)(p + 2) > end)
		return -1;
	p[0] = bpf_htons((__u16)(n >> 3));
	p[1] = bpf_htons(dport_base + (__u16)(n % dport_count));
	return 0;
}

SEC("xdp")
int xdpfw_bench_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 n = seq++;
	__u16 host = src_base + (__u16)(n % src_count);

	if ((void *)(eth + 1) > end)
		return XDP_ABORTED;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u16 *lo;

		if ((void *)(ip + 1) > end)
			return XDP_ABORTED;
		lo = (__u16 *)&ip->saddr + 1;
		csum_replace2(&ip->check, *lo, bpf_htons(host));
		*lo = bpf_htons(host);
		if (set_ports(ip + 1, end, n))
			return XDP_ABORTED;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return XDP_ABORTED;
		ip6->saddr.in6_u.u6_addr16[7] = bpf_htons(host);
		if (set_ports(ip6 + 1, end, n))
			return XDP_ABORTED;
	}
	return XDP_TX;
}
