// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Traffic generator for xdpfw-bench's end-to-end runs. Each frame it
 * sends has its source address and ports rewritten, so that one template
 * becomes many flows. Two ways to send:
 *
 * - xdpfw_bench_gen is never attached: BPF_PROG_TEST_RUN runs it in
 *   live-frames mode on a template frame and it sends the frame with
 *   XDP_TX out of the veth named as the ingress interface, to its peer
 *   (the receiver).
 * - Where the kernel refuses live-frames runs (some builds answer EPERM),
 *   frames circulate instead: xdpfw_bench_loop, attached to one end of a
 *   veth pair of its own, broadcasts each frame it receives through
 *   loop_out: entry 0 is the pair's other end, so a copy comes round
 *   again, and the other entries are the veth to the receiver, each
 *   running xdpfw_bench_emit on its own copy, which rewrites it into a new
 *   flow. A few frames put into the pair keep it going until stop is set.
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

/* Frames generated so far. The test run executes on one CPU at a time,
 * and so does the loop (one veth's NAPI), so a plain increment is enough. */
__u64 seq = 0;

/* Set by the control plane to end a loop: frames coming round are dropped. */
__u32 stop = 0;

/* The loop's broadcast targets: the loop's other end first, then one
 * entry per copy sent to the receiver a round (the control plane fills
 * as many as it wants copies). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} loop_out SEC(".maps");

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

/* rewrite makes the frame a new flow; non-zero if it is too short. */
static __always_inline int rewrite(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 n = seq++;
	__u16 host = src_base + (__u16)(n % src_count);

	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u16 *lo;

		if ((void *)(ip + 1) > end)
			return -1;
		lo = (__u16 *)&ip->saddr + 1;
		csum_replace2(&ip->check, *lo, bpf_htons(host));
		*lo = bpf_htons(host);
		if (set_ports(ip + 1, end, n))
			return -1;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return -1;
		ip6->saddr.in6_u.u6_addr16[7] = bpf_htons(host);
		if (set_ports(ip6 + 1, end, n))
			return -1;
	}
	return 0;
}

SEC("xdp")
int xdpfw_bench_gen(struct xdp_md *ctx)
{
	return rewrite(ctx) ? XDP_ABORTED : XDP_TX;
}

/* is_template: a TCP or UDP frame over IPv4 or IPv6, as the templates
 * are. The kernel sends frames of its own out of the loop's veths when
 * they come up (IPv6 duplicate address detection, router solicitations,
 * MLD reports); let into the loop, they went round with the templates and
 * reached the receiver with "ports" written into their ICMPv6 headers. */
static __always_inline int is_template(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 proto;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return 0;
		proto = ip->protocol;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return 0;
		proto = ip6->nexthdr;
	} else {
		return 0;
	}
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

SEC("xdp")
int xdpfw_bench_loop(struct xdp_md *ctx)
{
	if (stop || !is_template(ctx))
		return XDP_DROP;
	return bpf_redirect_map(&loop_out, 0, BPF_F_BROADCAST);
}

/* Run by the devmap on each copy bound for the receiver: XDP_PASS sends it. */
SEC("xdp/devmap")
int xdpfw_bench_emit(struct xdp_md *ctx)
{
	return rewrite(ctx) ? XDP_ABORTED : XDP_PASS;
}
