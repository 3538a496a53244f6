/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Header parsing: one pass over the frame into a flat struct pkt.
 *
 * The semantics here are mirrored by pkg/rules (Decode); a change to one is
 * a change to both, and the replay tests prove they agree.
 *
 * Lengths are checked as plain integers against the frame length (the
 * meaning), and every read is also checked against data_end (what the
 * verifier needs). Offsets are masked to 14 bits before they become
 * pointers: a linear XDP buffer is at most a page, so the mask never
 * changes a real offset, and it keeps the verifier's range small.
 */
#ifndef XDPFW_PARSE_H
#define XDPFW_PARSE_H

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include "layout.h"

#define ETH_HLEN        14
#define ETH_P_IP        0x0800
#define ETH_P_ARP       0x0806
#define ETH_P_8021Q     0x8100
#define ETH_P_8021AD    0x88A8
#define ETH_P_IPV6      0x86DD

#define IPPROTO_HOPOPTS  0
#define IPPROTO_ICMP     1
#define IPPROTO_TCP      6
#define IPPROTO_UDP      17
#define IPPROTO_ROUTING  43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH       51
#define IPPROTO_ICMPV6   58
#define IPPROTO_DSTOPTS  60

#define MAX_VLAN_TAGS   2
#define MAX_EXT_HDRS    8
#define OFF_MASK        0x3fff

struct pkt {
	__u32 proto_key;        /* L4 protocol, or PROTO_KEY_* */
	__u32 family;           /* 0 (not IP), 4 or 6 */
	__u32 has_ports;
	__u16 sport;            /* host byte order */
	__u16 dport;
	__u8 saddr[16];         /* IPv4 uses the first 4 bytes */
	__u8 daddr[16];
};

enum parse_result {
	PARSE_OK = 0,
	PARSE_MALFORMED,
};

/* Pointer to n readable bytes at off, or NULL. */
#define PKT_AT(data, end, off, n) \
	({ void *__p = (data) + ((off) & OFF_MASK); \
	   __p + (n) > (end) ? (void *)0 : __p; })

static __always_inline int is_ext_hdr(__u32 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
	       nh == IPPROTO_FRAGMENT || nh == IPPROTO_AH ||
	       nh == IPPROTO_DSTOPTS;
}

static __always_inline void copy_addr(__u8 *dst, const __u8 *src, int n)
{
#pragma unroll
	for (int i = 0; i < 16; i++)
		if (i < n)
			dst[i] = src[i];
}

/*
 * The L4 header, within [off, l3end). Ports only for TCP and UDP; ICMP,
 * ICMPv6 need their 4-byte header; neighbour discovery is recognised here.
 */
static __always_inline int parse_l4(void *data, void *end, __u32 off,
				    __u32 l3end, struct pkt *p)
{
	__u8 *h;

	switch (p->proto_key) {
	case IPPROTO_TCP:
		if (off + 20 > l3end || !(h = PKT_AT(data, end, off, 20)))
			return PARSE_MALFORMED;
		if ((h[12] >> 4) < 5 || off + (h[12] >> 4) * 4 > l3end)
			return PARSE_MALFORMED;
		break;
	case IPPROTO_UDP:
		if (off + 8 > l3end || !(h = PKT_AT(data, end, off, 8)))
			return PARSE_MALFORMED;
		break;
	case IPPROTO_ICMP:
		if (p->family != 4)
			return PARSE_OK;
		if (off + 4 > l3end || !PKT_AT(data, end, off, 4))
			return PARSE_MALFORMED;
		return PARSE_OK;
	case IPPROTO_ICMPV6:
		if (p->family != 6)
			return PARSE_OK;
		if (off + 4 > l3end || !(h = PKT_AT(data, end, off, 4)))
			return PARSE_MALFORMED;
		if (h[0] >= 133 && h[0] <= 137)
			p->proto_key = PROTO_KEY_ND;
		return PARSE_OK;
	default:
		return PARSE_OK;
	}
	p->has_ports = 1;
	p->sport = ((__u16)h[0] << 8) | h[1];
	p->dport = ((__u16)h[2] << 8) | h[3];
	return PARSE_OK;
}

static __always_inline int parse_ipv4(void *data, void *end, __u32 off,
				      __u32 len, struct pkt *p)
{
	__u8 *h = PKT_AT(data, end, off, 20);
	__u32 hlen, tot;

	if (!h || off + 20 > len)
		return PARSE_MALFORMED;
	if ((h[0] >> 4) != 4 || (h[0] & 0xf) < 5)
		return PARSE_MALFORMED;
	hlen = (h[0] & 0xf) * 4;
	tot = ((__u32)h[2] << 8) | h[3];
	if (tot < hlen || off + tot > len)
		return PARSE_MALFORMED;

	p->family = 4;
	p->proto_key = h[9];
	copy_addr(p->saddr, h + 12, 4);
	copy_addr(p->daddr, h + 16, 4);
	/* A non-first fragment carries no L4 header: classify on L3 only. */
	if (((((__u32)h[6] << 8) | h[7]) & 0x1fff) != 0)
		return PARSE_OK;
	return parse_l4(data, end, off + hlen, off + tot, p);
}

static __always_inline int parse_ipv6(void *data, void *end, __u32 off,
				      __u32 len, struct pkt *p)
{
	__u8 *h = PKT_AT(data, end, off, 40);
	__u32 l3end, nh, cur;

	if (!h || off + 40 > len)
		return PARSE_MALFORMED;
	if ((h[0] >> 4) != 6)
		return PARSE_MALFORMED;
	l3end = off + 40 + (((__u32)h[4] << 8) | h[5]);
	if (l3end > len)
		return PARSE_MALFORMED;

	p->family = 6;
	copy_addr(p->saddr, h + 8, 16);
	copy_addr(p->daddr, h + 24, 16);
	nh = h[6];
	cur = off + 40;

	for (int i = 0; i < MAX_EXT_HDRS; i++) {
		__u8 *x;
		__u32 xlen;

		if (!is_ext_hdr(nh))
			break;
		if (cur + 8 > l3end || !(x = PKT_AT(data, end, cur, 8)))
			return PARSE_MALFORMED;
		if (nh == IPPROTO_FRAGMENT) {
			nh = x[0];
			if (((((__u32)x[2] << 8) | x[3]) & 0xfff8) != 0) {
				/* Non-first fragment: the next header names
				 * the payload's protocol, but no L4 header
				 * is here to parse. */
				p->proto_key = nh;
				return PARSE_OK;
			}
			xlen = 8;
		} else if (nh == IPPROTO_AH) {
			nh = x[0];
			xlen = ((__u32)x[1] + 2) * 4;
		} else {
			nh = x[0];
			xlen = ((__u32)x[1] + 1) * 8;
		}
		cur += xlen;
	}
	if (is_ext_hdr(nh))
		return PARSE_MALFORMED;     /* chain longer than the bound */
	if (cur > l3end)
		return PARSE_MALFORMED;     /* last header overran the packet */

	p->proto_key = nh;
	return parse_l4(data, end, cur, l3end, p);
}

static __always_inline int parse_frame(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 len = end - data;
	__u32 off = ETH_HLEN;
	__u8 *h = PKT_AT(data, end, 0, ETH_HLEN);
	__u32 type;

	if (!h)
		return PARSE_MALFORMED;
	type = ((__u32)h[12] << 8) | h[13];

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (type != ETH_P_8021Q && type != ETH_P_8021AD)
			break;
		if (!(h = PKT_AT(data, end, off, 4)))
			return PARSE_MALFORMED;
		type = ((__u32)h[2] << 8) | h[3];
		off += 4;
	}

	switch (type) {
	case ETH_P_IP:
		return parse_ipv4(data, end, off, len, p);
	case ETH_P_IPV6:
		return parse_ipv6(data, end, off, len, p);
	case ETH_P_ARP:
		p->proto_key = PROTO_KEY_ARP;
		return PARSE_OK;
	case ETH_P_8021Q:
	case ETH_P_8021AD:
		return PARSE_MALFORMED;     /* a third VLAN tag */
	default:
		p->proto_key = PROTO_KEY_NONIP;
		return PARSE_OK;
	}
}

#endif
