/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Header parsing: one pass over the frame into a flat struct pkt.
 *
 * The semantics here are mirrored by pkg/rules (Decode); a change to one is
 * a change to both, and the replay tests prove they agree.
 *
 * Lengths are checked as plain integers against the frame length (the
 * meaning, all buffers of a multi-buffer frame included), and every read
 * is also checked against data_end (what the verifier needs). Offsets are
 * masked to 14 bits before they become pointers: a linear XDP buffer is at
 * most a page, so the mask never changes a real offset, and it keeps the
 * verifier's range small. Reads past the linear part go through
 * bpf_xdp_load_bytes.
 */
#ifndef XDPFW_PARSE_H
#define XDPFW_PARSE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
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
	__u32 frag;             /* FRAG_*, IP only */
	__u32 has_ports;
	__u32 has_l4;           /* l4 holds TCP flags or ICMP type/code */
	__u32 len;              /* frame length, every buffer of it */
	__u16 sport;            /* host byte order */
	__u16 dport;
	__u16 l4;               /* TCP flags, or ICMP type << 8 | code */
	__u16 vlan[MAX_VLAN_TAGS]; /* outer, inner; VLAN_NONE when absent */
	__u8 dscp;              /* IP only */
	__u8 ttl;               /* IP only: TTL or hop limit */
	/* IPv4 uses the first 4 bytes. Also as words, which the fast path
	 * copies and compares: through a byte type clang may not assume
	 * alignment, so on BPF it reads and writes each byte on its own,
	 * four times the instructions. */
	union {
		__u8 saddr[16];
		__u32 saddr32[4];
	};
	union {
		__u8 daddr[16];
		__u32 daddr32[4];
	};
	/* For connection tracking (conntrack.h): the fragment id (IPv4
	 * identification or the IPv6 fragment header's), where the L4 header
	 * starts, and where the IP packet ends (frame offsets, IP only). */
	__u32 frag_id;
	__u32 l4off;
	__u32 l3end;
	__u16 echo_id;          /* ICMP/ICMPv6 header bytes 4-5, when has_echo_id */
	__u16 has_echo_id;
};

enum parse_result {
	PARSE_OK = 0,
	PARSE_MALFORMED,
};

/*
 * Where the frame is. Headers are read in place from the linear part; a
 * multi-buffer frame (jumbo, xdp.frags) may put a header past it, and then
 * it is copied into a per-CPU scratch buffer (the stack has no room). The
 * scratch holds the largest header read at once and each copy replaces
 * the last, so a header pointer is used only until the next read.
 */
struct frame {
	void *ctx;              /* struct xdp_md, or struct __sk_buff when skb */
	__u32 len;              /* all buffers */
	__u32 frags;            /* 0: one buffer, so nothing past data_end */
	__u32 skb;              /* a TC program's packet: a constant, so each
				 * program keeps only its own branch */
};

#define SCRATCH_BYTES 40
struct scratch {
	__u8 buf[SCRATCH_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* Pointer to n readable bytes at off, or NULL past the frame's end. */
static __always_inline __u8 *pkt_at(struct frame *f, __u32 off, __u32 n)
{
	struct __sk_buff *skb = f->ctx;
	struct xdp_md *xdp = f->ctx;
	void *data = (void *)(long)(f->skb ? skb->data : xdp->data);
	void *end = (void *)(long)(f->skb ? skb->data_end : xdp->data_end);
	__u8 *p = data + (off & OFF_MASK);
	struct scratch *s;
	__u32 zero = 0;

	if (off <= OFF_MASK && (void *)(p + n) <= end)
		return p;
	if (!f->frags || n > SCRATCH_BYTES || off + n > f->len)
		return NULL;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return NULL;
	if (f->skb ? bpf_skb_load_bytes(skb, off, s->buf, n) :
		     bpf_xdp_load_bytes(xdp, off, s->buf, n))
		return NULL;
	return s->buf;
}

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

/* An address of n bytes (4 or 16) from one word-aligned place to another,
 * a word at a time (a byte-typed copy is a load and a store per byte). */
static __always_inline void copy_addr_words(__u32 *dst, const __u32 *src, int n)
{
#pragma unroll
	for (int i = 0; i < 4; i++)
		if (4 * i < n)
			dst[i] = src[i];
}

/*
 * An address of n bytes (4 or 16) out of the frame into dst, a word at a
 * time. The frame's words need not be aligned: the verifier checks the
 * alignment of packet reads only where the CPU needs it
 * (!CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS; x86 and arm64 do not).
 */
static __always_inline void addr_from_frame(__u32 *dst, const __u8 *src, int n)
{
	const __u32 *s = (const void *)src;

#pragma unroll
	for (int i = 0; i < 4; i++)
		if (4 * i < n)
			dst[i] = s[i];
}

/* An echo message's identifier, for connection tracking: the second word
 * of the ICMP header, when the packet holds it (any type: conntrack.h
 * decides which types have one). */
static __always_inline void parse_echo_id(struct frame *f, __u32 off, __u32 l3end,
					  struct pkt *p)
{
	__u8 *h;

	if (off + 8 <= l3end && (h = pkt_at(f, off + 4, 2))) {
		p->echo_id = ((__u16)h[0] << 8) | h[1];
		p->has_echo_id = 1;
	}
}

/*
 * The L4 header, within [off, l3end). Ports only for TCP and UDP, flags
 * for TCP, type and code for ICMP (in IPv4) and ICMPv6 (in IPv6), which
 * need their 4-byte header; neighbour discovery is recognised here.
 */
static __always_inline int parse_l4(struct frame *f, __u32 off, __u32 l3end,
				    struct pkt *p)
{
	__u8 *h;

	switch (p->proto_key) {
	case IPPROTO_TCP:
		if (off + 20 > l3end || !(h = pkt_at(f, off, 20)))
			return PARSE_MALFORMED;
		if ((h[12] >> 4) < 5 || off + (h[12] >> 4) * 4 > l3end)
			return PARSE_MALFORMED;
		p->has_l4 = 1;
		p->l4 = h[13];
		break;
	case IPPROTO_UDP:
		if (off + 8 > l3end || !(h = pkt_at(f, off, 8)))
			return PARSE_MALFORMED;
		break;
	case IPPROTO_ICMP:
		if (p->family != 4)
			return PARSE_OK;
		if (off + 4 > l3end || !(h = pkt_at(f, off, 4)))
			return PARSE_MALFORMED;
		p->has_l4 = 1;
		p->l4 = ((__u16)h[0] << 8) | h[1];
		parse_echo_id(f, off, l3end, p);
		return PARSE_OK;
	case IPPROTO_ICMPV6:
		if (p->family != 6)
			return PARSE_OK;
		if (off + 4 > l3end || !(h = pkt_at(f, off, 4)))
			return PARSE_MALFORMED;
		p->has_l4 = 1;
		p->l4 = ((__u16)h[0] << 8) | h[1];
		if (h[0] >= 133 && h[0] <= 137)
			p->proto_key = PROTO_KEY_ND;
		parse_echo_id(f, off, l3end, p);
		return PARSE_OK;
	default:
		return PARSE_OK;
	}
	p->has_ports = 1;
	p->sport = ((__u16)h[0] << 8) | h[1];
	p->dport = ((__u16)h[2] << 8) | h[3];
	return PARSE_OK;
}

static __always_inline int parse_ipv4(struct frame *f, __u32 off, struct pkt *p)
{
	__u8 *h = pkt_at(f, off, 20);
	__u32 hlen, tot, frag;

	if (!h || off + 20 > f->len)
		return PARSE_MALFORMED;
	if ((h[0] >> 4) != 4 || (h[0] & 0xf) < 5)
		return PARSE_MALFORMED;
	hlen = (h[0] & 0xf) * 4;
	tot = ((__u32)h[2] << 8) | h[3];
	if (tot < hlen || off + tot > f->len)
		return PARSE_MALFORMED;

	p->family = 4;
	p->proto_key = h[9];
	p->dscp = h[1] >> 2;
	p->ttl = h[8];
	addr_from_frame(p->saddr32, h + 12, 4);
	addr_from_frame(p->daddr32, h + 16, 4);
	p->frag_id = ((__u32)h[4] << 8) | h[5];
	p->l4off = off + hlen;
	p->l3end = off + tot;
	frag = ((__u32)h[6] << 8) | h[7];
	/* A non-first fragment carries no L4 header: classify on L3 only. */
	if (frag & 0x1fff) {
		p->frag = FRAG_LATER;
		return PARSE_OK;
	}
	if (frag & 0x2000)
		p->frag = FRAG_FIRST;
	return parse_l4(f, off + hlen, off + tot, p);
}

/* plain: the caller saw no extension header after the fixed one, so
 * the chain is not walked (xdpfw.c's inline path for plain IPv6). */
static __always_inline int parse_ipv6(struct frame *f, __u32 off, struct pkt *p,
				      const int plain)
{
	__u8 *h = pkt_at(f, off, 40);
	__u32 l3end, nh, cur;

	if (!h || off + 40 > f->len)
		return PARSE_MALFORMED;
	if ((h[0] >> 4) != 6)
		return PARSE_MALFORMED;
	l3end = off + 40 + (((__u32)h[4] << 8) | h[5]);
	if (l3end > f->len)
		return PARSE_MALFORMED;

	p->family = 6;
	p->dscp = ((h[0] & 0xf) << 2) | (h[1] >> 6);
	p->ttl = h[7];
	addr_from_frame(p->saddr32, h + 8, 16);
	addr_from_frame(p->daddr32, h + 24, 16);
	nh = h[6];
	cur = off + 40;
	p->l3end = l3end;

	for (int i = 0; i < MAX_EXT_HDRS && !plain; i++) {
		__u8 *x;
		__u32 xlen;

		if (!is_ext_hdr(nh))
			break;
		if (cur + 8 > l3end || !(x = pkt_at(f, cur, 8)))
			return PARSE_MALFORMED;
		if (nh == IPPROTO_FRAGMENT) {
			nh = x[0];
			p->frag_id = ((__u32)x[4] << 24) | ((__u32)x[5] << 16) |
				     ((__u32)x[6] << 8) | x[7];
			if (((((__u32)x[2] << 8) | x[3]) & 0xfff8) != 0) {
				/* Non-first fragment: the next header names
				 * the payload's protocol, but no L4 header
				 * is here to parse. */
				p->proto_key = nh;
				p->frag = FRAG_LATER;
				return PARSE_OK;
			}
			/* Offset 0 with M clear is an atomic fragment:
			 * the whole packet, not a fragment (RFC 6946). */
			if (x[3] & 1)
				p->frag = FRAG_FIRST;
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
	p->l4off = cur;
	return parse_l4(f, cur, l3end, p);
}

static __always_inline int parse_frame(struct frame *f, struct pkt *p)
{
	__u32 off = ETH_HLEN;
	__u8 *h = pkt_at(f, 0, ETH_HLEN);
	__u32 type;

	p->vlan[0] = VLAN_NONE;
	p->vlan[1] = VLAN_NONE;
	if (!h)
		return PARSE_MALFORMED;
	type = ((__u32)h[12] << 8) | h[13];

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (type != ETH_P_8021Q && type != ETH_P_8021AD)
			break;
		if (!(h = pkt_at(f, off, 4)))
			return PARSE_MALFORMED;
		p->vlan[i] = (((__u16)h[0] & 0x0f) << 8) | h[1];
		type = ((__u32)h[2] << 8) | h[3];
		off += 4;
	}

	switch (type) {
	case ETH_P_IP:
		return parse_ipv4(f, off, p);
	case ETH_P_IPV6:
		return parse_ipv6(f, off, p, 0);
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
