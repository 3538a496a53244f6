/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking: the TC egress program learns flows from packets
 * going out (ct_learn), XDP places packets coming in against them
 * (ct_state). pkg/model/conntrack.go is the specification, line for line;
 * layout.h has the table's types and why it is shaped so.
 *
 * Both sides name a flow from this host's side (ct_view): a packet going
 * out by source then destination, one coming in by destination then
 * source, so the two directions meet at one key.
 *
 * The includer defines trace_enabled (replay instances take their clock
 * from ct_clock, so timeouts replay from capture timestamps).
 */
#ifndef XDPFW_CONNTRACK_H
#define XDPFW_CONNTRACK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "layout.h"
#include "parse.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* LRU: a full table forgets the flows seen least recently. Made idle;
 * the ruleset sizes it (rules.Ruleset.CTFlows, pkg/loader/ctresize.go). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CT_IDLE_ENTRIES);
	__type(key, struct ct_key);
	__type(value, struct ct_val);
} ct SEC(".maps");

/* First fragments of established datagrams -> when their record expires. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CT_FRAG_MIN);
	__type(key, struct ct_frag_key);
	__type(value, __u64);
} ct_frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_conf);
} ct_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_stats);
} ct_stats SEC(".maps");

/* Replay's clock, ns: set before each test run of a replay instance. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ct_clock SEC(".maps");

/* What connection tracking reads of a packet: its flow seen from the
 * side it travels, and what it says about that flow. */
struct ct_view {
	struct ct_key key;
	__u8 kind;
	__u8 echo_reply;
	__u8 tcp_flags;
	__u8 dhcp;      /* between the DHCP client and server ports */
};

/* ct_related's quoted packet and its flow: per-CPU scratch, because with
 * run's frame they pass the 512-byte stack cap. */
struct ct_quote {
	struct pkt in;
	struct ct_view v;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_quote);
} ct_quote SEC(".maps");

static const __u32 ct_default_timeout[16] = {
	[CT_TO_SYN_SENT] = CT_DEF_SYN_SENT,
	[CT_TO_ESTABLISHED] = CT_DEF_ESTABLISHED,
	[CT_TO_CLOSING] = CT_DEF_CLOSING,
	[CT_TO_CLOSE] = CT_DEF_CLOSE,
	[CT_TO_UDP] = CT_DEF_UDP,
	[CT_TO_UDP_REPLIED] = CT_DEF_UDP_REPLIED,
	[CT_TO_ICMP] = CT_DEF_ICMP,
	[CT_TO_GENERIC] = CT_DEF_GENERIC,
	[CT_TO_FRAGMENT] = CT_DEF_FRAGMENT,
	[CT_TO_SYN_RECV] = CT_DEF_SYN_RECV,
};

/*
 * The live clock is CLOCK_MONOTONIC_COARSE: the last tick's time, read
 * from memory. The precise clock reads the clocksource, which on a VM
 * (kvm-clock) took 40% of an established packet's flow lookup; timeouts
 * are seconds, a tick (1 to 10 ms) is far below them. The control plane
 * reads the same clock (pkg/loader's ctClock) for ages and resizes.
 */
static __always_inline __u64 ct_now(void)
{
	if (trace_enabled) {
		__u32 zero = 0;
		__u64 *t = bpf_map_lookup_elem(&ct_clock, &zero);

		if (t)
			return *t;
	}
	return bpf_ktime_get_coarse_ns();
}

/*
 * The clock, read once per packet and only when a flow or fragment record
 * was found: a packet of no known flow (a flood's) never pays for it.
 * *now is CT_NOW_UNREAD until then.
 */
#define CT_NOW_UNREAD (~0ULL)
static __always_inline __u64 ct_clock_of(__u64 *now)
{
	if (*now == CT_NOW_UNREAD)
		*now = ct_now();
	return *now;
}

static __always_inline void ct_count(__u32 stat)
{
	__u32 zero = 0;
	struct ct_stats *s = bpf_map_lookup_elem(&ct_stats, &zero);

	if (s && stat < NUM_CT_STATS)
		s->n[stat]++;
}

/* Timeout i in ns: ct_conf's, or the default while it is 0. */
static __always_inline __u64 ct_timeout(__u32 i)
{
	__u32 zero = 0, sec = 0;
	struct ct_conf *c = bpf_map_lookup_elem(&ct_conf, &zero);

	i &= 15;
	if (c && i < NUM_CT_TIMEOUTS)
		sec = c->timeout[i];
	if (!sec)
		sec = ct_default_timeout[i];
	return (__u64)sec * 1000000000ULL;
}

/*
 * An established flow nothing has answered: picked up from a segment the
 * host sent mid-stream (its record lost to a flush, an eviction or a
 * restart; or stray ACKs, an ACK scan from here). Timed as a SYN sent
 * until a packet comes in on it, or as established if that is shorter,
 * as Linux caps a picked-up connection without a reply at its
 * unacknowledged timeout: a host sending such segments to no one filled
 * the table with flows that lived five days.
 */
static __always_inline __u64 ct_unanswered_timeout(void)
{
	__u64 syn = ct_timeout(CT_TO_SYN_SENT), est = ct_timeout(CT_TO_ESTABLISHED);

	return syn < est ? syn : est;
}

static __always_inline __u64 ct_flow_timeout(const struct ct_val *v)
{
	switch (v->kind) {
	case CT_KIND_TCP:
		switch (v->tcp) {
		case CT_TCP_SYN_SENT:
			return ct_timeout(CT_TO_SYN_SENT);
		case CT_TCP_SYN_RECV:
			return ct_timeout(CT_TO_SYN_RECV);
		case CT_TCP_ESTABLISHED:
			if (!v->replied)
				return ct_unanswered_timeout();
			return ct_timeout(CT_TO_ESTABLISHED);
		case CT_TCP_CLOSING:
			return ct_timeout(CT_TO_CLOSING);
		}
		return ct_timeout(CT_TO_CLOSE);
	case CT_KIND_UDP:
		return ct_timeout(v->replied ? CT_TO_UDP_REPLIED : CT_TO_UDP);
	case CT_KIND_ECHO:
		return ct_timeout(CT_TO_ICMP);
	}
	return ct_timeout(CT_TO_GENERIC);
}

/* Whether flow v has timed out at now. The difference is signed: another
 * CPU may have stamped the flow later than now was read. */
static __always_inline int ct_expired(const struct ct_val *v, __u64 now)
{
	return (__s64)(now - v->last_seen) > (__s64)ct_flow_timeout(v);
}

/* The live flow of key at *now (ct_clock_of), or NULL; a timed-out one is
 * removed. Counted only where this delete took it out: another CPU or the
 * sweep may find the same flow timed out at once, and the one removal
 * counted twice would make ct stats' evictions one short. */
static __always_inline struct ct_val *ct_lookup(const struct ct_key *key, __u64 *now)
{
	struct ct_val *v = bpf_map_lookup_elem(&ct, key);

	if (v && ct_expired(v, ct_clock_of(now))) {
		if (!bpf_map_delete_elem(&ct, key))
			ct_count(CTS_EXPIRED);
		return NULL;
	}
	return v;
}

/* A FIN or RST from either side moves a TCP flow on. */
static __always_inline void ct_tcp_flags(struct ct_val *v, __u32 flags)
{
	if (v->kind != CT_KIND_TCP)
		return;
	if (flags & TCP_RST)
		v->tcp = CT_TCP_CLOSE;
	else if ((flags & TCP_FIN) && v->tcp < CT_TCP_CLOSING)
		v->tcp = CT_TCP_CLOSING;
}

static __always_inline __u32 icmp_proto(__u32 family)
{
	return family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
}

/* ICMP errors that quote the packet they answer. */
static __always_inline int icmp_is_error(__u32 family, __u32 type)
{
	if (family == 4)
		return type == 3 || type == 11 || type == 12;
	return type == 1 || type == 2 || type == 3 || type == 4;
}

/* Where a DHCP client broadcasts: 255.255.255.255, or ff02::1:2
 * (All_DHCP_Relay_Agents_and_Servers). */
static __always_inline int dhcp_broadcast(const __u8 *a, __u32 fam)
{
	static const __u8 servers6[16] = { 0xff, 0x02, [13] = 0x01, [15] = 0x02 };

	if (fam == 4)
		return a[0] == 0xff && a[1] == 0xff && a[2] == 0xff && a[3] == 0xff;
	for (int i = 0; i < 16; i++)
		if (a[i] != servers6[i])
			return 0;
	return 1;
}

/*
 * The flow of p, travelling out (source local) or in: 1 if p names one
 * (IP, not a later fragment, with ports or an echo identifier where its
 * protocol has them), else 0. A DHCP request the host broadcasts is keyed
 * by the ports alone, with zero addresses (layout.h). A global function:
 * its callers' paths do not multiply its own.
 */
__noinline int ct_view(const struct pkt *p, __u32 out, struct ct_view *v)
{
	__u32 fam, n, proto, type, req, rep;

	if (!p || !v)
		return 0;
	fam = p->family;
	n = fam == 4 ? 4 : 16;
	if ((fam != 4 && fam != 6) || p->frag == FRAG_LATER)
		return 0;
	proto = p->proto_key == PROTO_KEY_ND ? IPPROTO_ICMPV6 : p->proto_key & 0xff;
	__builtin_memset(v, 0, sizeof(*v));
	v->key.family = fam;
	v->key.proto = proto;
	copy_addr_words(v->key.local32, out ? p->saddr32 : p->daddr32, n);
	copy_addr_words(v->key.remote32, out ? p->daddr32 : p->saddr32, n);
	if (p->has_ports) {
		v->key.lport = out ? p->sport : p->dport;
		v->key.rport = out ? p->dport : p->sport;
		v->kind = CT_KIND_UDP;
		if (proto == IPPROTO_TCP) {
			v->kind = CT_KIND_TCP;
			v->tcp_flags = p->l4;
		} else if ((fam == 4 && v->key.lport == DHCP4_CLIENT && v->key.rport == DHCP4_SERVER) ||
			   (fam == 6 && v->key.lport == DHCP6_CLIENT && v->key.rport == DHCP6_SERVER)) {
			/* A request to the broadcast or DHCPv6 multicast
			 * address is answered by whichever server takes it:
			 * kept by its ports. A unicast renewal, and anything
			 * coming in, keeps its addresses (ct_place tries the
			 * ports' key second). */
			v->dhcp = 1;
			if (out && dhcp_broadcast(p->daddr, fam)) {
				__builtin_memset(v->key.local, 0, 16);
				__builtin_memset(v->key.remote, 0, 16);
			}
		}
		return 1;
	}
	if (p->has_l4 && proto == icmp_proto(fam)) {
		type = p->l4 >> 8;
		req = fam == 4 ? 8 : 128;
		rep = fam == 4 ? 0 : 129;
		if (type != req && type != rep)
			return 0;       /* errors and the rest: no flow of their own */
		if (!p->has_echo_id)
			return 0;
		v->key.lport = p->echo_id;
		v->kind = CT_KIND_ECHO;
		v->echo_reply = type == rep;
		return 1;
	}
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == icmp_proto(fam))
		return 0;               /* its header is missing */
	v->kind = CT_KIND_GENERIC;
	return 1;
}

/* Whether TCP flags are a combination a stack sends (CT_TCP_VALID). */
static __always_inline int ct_tcp_valid(__u32 flags)
{
	return (CT_TCP_VALID >> (flags & CT_TCP_FLAGS)) & 1;
}

/*
 * Learns from p, a packet going out: the egress program's work. Answering
 * someone's ping starts nothing, nor does a RST of no flow.
 */
static __always_inline void ct_learn_view(struct ct_view *v, __u64 now, __u32 ack_kind, __u32 ack)
{
	struct ct_val *fl, nv = {};
	__u32 flags = v->tcp_flags, tcp = v->kind == CT_KIND_TCP;

	if (v->kind == CT_KIND_ECHO && v->echo_reply)
		return;
	if (tcp && !ct_tcp_valid(flags))
		return;         /* a raw socket's scan: no flow, none moved */
	fl = ct_lookup(&v->key, &now);
	if (!fl) {
		if (tcp && (flags & TCP_RST))
			return;
		nv.kind = v->kind;
		nv.last_seen = now;
		/* this host answers a SYN (anyone's, maybe spoofed: briefly),
		 * or picks up a flow it sends on (unanswered: briefly too,
		 * ct_unanswered_timeout) */
		if (tcp && (flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK))
			nv.tcp = CT_TCP_SYN_RECV;
		else if (tcp && (flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
			nv.tcp = CT_TCP_ESTABLISHED;
		ct_tcp_flags(&nv, flags);
		nv.ack_kind = ack_kind;
		nv.ack = ack;
		/* Only where no flow is: two CPUs learning one new flow at once
		 * would each count an insert for one entry (ct stats showing an
		 * eviction that never was), the second overwriting the first. */
		if (!bpf_map_update_elem(&ct, &v->key, &nv, BPF_NOEXIST))
			ct_count(CTS_INSERTS);
		return;
	}
	if (tcp && fl->tcp >= CT_TCP_CLOSING && (flags & (TCP_SYN | TCP_ACK)) == TCP_SYN) {
		/* the ports reused for a new connection */
		fl->tcp = CT_TCP_SYN_SENT;
		fl->replied = 0;
	} else if (tcp && fl->tcp >= CT_TCP_CLOSING &&
		   (flags & (TCP_SYN | TCP_ACK | TCP_RST)) == (TCP_SYN | TCP_ACK)) {
		/* the host accepts a new connection on the ports (ct_place
		 * placed its SYN as new): a handshake again, as an unknown
		 * flow's SYN-ACK starts one */
		fl->tcp = CT_TCP_SYN_RECV;
		fl->replied = 0;
	} else if (tcp && fl->tcp <= CT_TCP_SYN_RECV &&
		   (flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_ACK) {
		/* The host's stack acknowledges past the handshake only once
		 * the other side has answered it: an answer nothing placed
		 * (the table idle, or read by no rule then, or come in on an
		 * interface without xdpfw), which would leave the flow to a
		 * handshake's timeout. */
		fl->tcp = CT_TCP_ESTABLISHED;
		fl->replied = 1;
	}
	ct_tcp_flags(fl, flags);
	/* What a RST coming in is checked against (enum ct_ack). A SYN or
	 * SYN-ACK opens a sequence space whatever the flow's state (its
	 * connection may have ended unseen): what was kept is another
	 * connection's, and a RST refusing a SYN carries sequence number 0
	 * and acknowledges the SYN (RFC 9293 3.10.7.1). Else the highest
	 * acknowledgement in sequence space stays: a segment retransmitted
	 * or sent out of order does not move it back. */
	if (ack_kind == CT_ACK_SYN ||
	    (ack_kind == CT_ACK_SENT && ((flags & TCP_SYN) || fl->ack_kind != CT_ACK_SENT ||
					 (__s32)(ack - fl->ack) > 0))) {
		fl->ack_kind = ack_kind;
		fl->ack = ack;
	}
	fl->last_seen = now;
}

/* The state of a packet of no learned flow: new if it can start one. */
static __always_inline __u32 ct_unknown(const struct ct_view *v)
{
	if (v->kind == CT_KIND_TCP &&
	    (v->tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN)
		return CT_INVALID;
	if (v->kind == CT_KIND_ECHO && v->echo_reply)
		return CT_INVALID;
	return CT_NEW;
}

/*
 * The packet an ICMP error p quotes, into in: its IP header and the 8
 * bytes after it, as routers cut them short (so the quote's own lengths
 * are not checked against it). 0 when the quote names no flow: too
 * short, another family, or a later fragment. A global function: the
 * ways its IPv6 extension walk ends would multiply the lookups after it.
 */
__noinline int ct_quote_parse(struct xdp_md *ctx, const struct pkt *p, struct pkt *in)
{
	struct frame f = { .ctx = ctx, .frags = 1 };
	__u32 q, qend, l4, nh;
	__u8 *h;

	if (!ctx || !p || !in)
		return 0;
	f.len = p->len;
	q = p->l4off + 8;
	qend = p->l3end;
	__builtin_memset(in, 0, sizeof(*in));
	if (p->family == 4) {
		if (q + 20 > qend || !(h = pkt_at(&f, q, 20)))
			return 0;
		if ((h[0] >> 4) != 4 || (h[0] & 0xf) < 5)
			return 0;
		l4 = q + (h[0] & 0xf) * 4;
		if (l4 > qend || ((((__u32)h[6] << 8) | h[7]) & 0x1fff))
			return 0;   /* too short, or a later fragment: no ports */
		in->family = 4;
		nh = h[9];
		copy_addr(in->saddr, h + 12, 4);
		copy_addr(in->daddr, h + 16, 4);
	} else {
		if (q + 40 > qend || !(h = pkt_at(&f, q, 40)))
			return 0;
		if ((h[0] >> 4) != 6)
			return 0;
		in->family = 6;
		nh = h[6];
		copy_addr(in->saddr, h + 8, 16);
		copy_addr(in->daddr, h + 24, 16);
		l4 = q + 40;
		for (int i = 0; i < MAX_EXT_HDRS; i++) {
			__u8 *x;

			if (!is_ext_hdr(nh))
				break;
			if (l4 + 8 > qend || !(x = pkt_at(&f, l4, 8)))
				return 0;
			if (nh == IPPROTO_FRAGMENT) {
				if ((((__u32)x[2] << 8) | x[3]) & 0xfff8)
					return 0;
				l4 += 8;
			} else if (nh == IPPROTO_AH) {
				l4 += ((__u32)x[1] + 2) * 4;
			} else {
				l4 += ((__u32)x[1] + 1) * 8;
			}
			nh = x[0];
		}
		if (is_ext_hdr(nh) || l4 > qend)
			return 0;
	}
	in->proto_key = nh;
	in->l4off = l4;
	in->l3end = l4 + 8;
	if (l4 + 8 > qend) {
		/* no L4 header quoted: only a protocol without one names a flow */
		return nh != IPPROTO_TCP && nh != IPPROTO_UDP && nh != icmp_proto(in->family);
	}
	if (!(h = pkt_at(&f, l4, 8)))
		return 0;
	if (nh == IPPROTO_TCP || nh == IPPROTO_UDP) {
		in->has_ports = 1;
		in->sport = ((__u16)h[0] << 8) | h[1];
		in->dport = ((__u16)h[2] << 8) | h[3];
	} else if (nh == icmp_proto(in->family)) {
		in->has_l4 = 1;
		in->l4 = ((__u16)h[0] << 8) | h[1];
		in->echo_id = ((__u16)h[4] << 8) | h[5];
		in->has_echo_id = 1;
	}
	return 1;
}

/* Whether p, an ICMP error coming in on ctx, quotes a packet of a learned
 * flow that this host sent: the quote's source is where the error goes. */
static __always_inline int ct_related(struct xdp_md *ctx, const struct pkt *p, __u64 *now)
{
	struct ct_quote *cq;
	__u32 zero = 0, n = p->family == 4 ? 4 : 16;

	cq = bpf_map_lookup_elem(&ct_quote, &zero);
	if (!cq || !ct_quote_parse(ctx, p, &cq->in) || !ct_view(&cq->in, 1, &cq->v) ||
	    (cq->v.kind == CT_KIND_ECHO && cq->v.echo_reply))
		return 0;
	for (__u32 i = 0; i < 4; i++)
		if (4 * i < n && cq->v.key.local32[i] != p->daddr32[i])
			return 0;
	return ct_lookup(&cq->v.key, now) != NULL;
}

/* Multicast listener messages (MLD query, report, done; MLDv2 report):
 * untracked, as Linux's conntrack leaves them, like neighbour discovery.
 * Invalid, a ct-state invalid drop before a rule letting them in (the
 * usual nftables host ruleset) dropped the queries a host must answer to
 * stay in its groups, its solicited-node one among them. */
static __always_inline int icmp6_mld(const struct pkt *p)
{
	__u32 type = p->l4 >> 8;

	return p->family == 6 && p->has_l4 && p->proto_key == IPPROTO_ICMPV6 &&
	       (type == 130 || type == 131 || type == 132 || type == 143);
}

/* The protocol of p's fragment record: IPv4's, which every fragment
 * carries. An IPv6 datagram's fragments are one by addresses and id
 * alone (RFC 8200): a later fragment names the header after the fragment
 * header, which is not the L4 protocol where the first fragment has
 * options after it. */
static __always_inline __u32 ct_frag_proto(const struct pkt *p)
{
	return p->family == 4 ? p->proto_key & 0xff : 0;
}

/* Whether p, a TCP RST coming in with flags, may close fl (enum ct_ack):
 * after the host's SYN, with ACK set and acknowledging it, as Linux in
 * SYN-SENT; after its acknowledgements, with its sequence number from the
 * last to CT_RST_WINDOW past it. The frame is read only for a RST. */
static __always_inline int ct_rst_valid(struct xdp_md *ctx, const struct pkt *p,
					const struct ct_val *fl, __u32 flags)
{
	struct frame f = { .ctx = ctx, .frags = 1, .len = p->len };
	__u32 syn = fl->ack_kind == CT_ACK_SYN, n;
	__u8 *h;

	if (!syn && fl->ack_kind != CT_ACK_SENT)
		return 1;
	if (syn && !(flags & TCP_ACK))
		return 0;
	h = pkt_at(&f, p->l4off + (syn ? 8 : 4), 4);   /* its ack, or its seq */
	if (!h)
		return 0;
	n = ((__u32)h[0] << 24) | ((__u32)h[1] << 16) | ((__u32)h[2] << 8) | h[3];
	return syn ? n == fl->ack : n - fl->ack <= CT_RST_WINDOW;
}

/* The state of p, a packet coming in, moving its flow on. */
static __always_inline __u32 ct_place(struct xdp_md *ctx, const struct pkt *p)
{
	struct ct_view v;
	struct ct_val *fl;
	__u32 fam = p->family;
	__u64 now = CT_NOW_UNREAD;
	int broadcast = 0;

	if ((fam != 4 && fam != 6) || p->proto_key == PROTO_KEY_ND)
		return CT_UNTRACKED;
	if (p->frag == FRAG_LATER) {
		struct ct_frag_key k = {
			.family = fam, .proto = ct_frag_proto(p), .id = p->frag_id };
		__u64 *exp;

		copy_addr(k.src, p->saddr, fam == 4 ? 4 : 16);
		copy_addr(k.dst, p->daddr, fam == 4 ? 4 : 16);
		exp = bpf_map_lookup_elem(&ct_frags, &k);
		return exp && ct_clock_of(&now) <= *exp ? CT_ESTABLISHED : CT_INVALID;
	}
	if (p->has_l4 && p->proto_key == icmp_proto(fam) && icmp_is_error(fam, p->l4 >> 8))
		return ct_related(ctx, p, &now) ? CT_RELATED : CT_INVALID;
	if (!ct_view(p, 0, &v))     /* other ICMP types, or an echo without its id */
		return icmp6_mld(p) ? CT_UNTRACKED : CT_INVALID;
	if (v.kind == CT_KIND_TCP && !ct_tcp_valid(v.tcp_flags))
		return CT_INVALID;  /* whatever its flow, which it leaves as it was */
	fl = ct_lookup(&v.key, &now);
	if (!fl && v.dhcp) {
		/* A reply to a request the host broadcast: by the ports alone. */
		__builtin_memset(v.key.local, 0, 16);
		__builtin_memset(v.key.remote, 0, 16);
		fl = ct_lookup(&v.key, &now);
		broadcast = fl != NULL;
	}
	/* An echo request, and a lone SYN on the ports of a closing or
	 * closed connection (a new connection reusing them, as Linux takes
	 * it), start a flow of their own: they do not belong to this one. */
	if (!fl || (v.kind == CT_KIND_ECHO && !v.echo_reply) ||
	    (v.kind == CT_KIND_TCP && fl->tcp >= CT_TCP_CLOSING &&
	     (v.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) == TCP_SYN))
		return ct_unknown(&v);
	if (v.kind == CT_KIND_TCP && (v.tcp_flags & TCP_RST) &&
	    !ct_rst_valid(ctx, p, fl, v.tcp_flags))
		return CT_INVALID;
	if (v.kind == CT_KIND_TCP &&
	    ((fl->tcp == CT_TCP_SYN_SENT &&
	      (v.tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) ||
	     (fl->tcp == CT_TCP_SYN_RECV && (v.tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_ACK)))
		fl->tcp = CT_TCP_ESTABLISHED;
	ct_tcp_flags(fl, v.tcp_flags);
	fl->replied = 1;
	/* A broadcast request's flow is not moved on from outside: it lasts
	 * its timeout from the host's last request, however often anyone
	 * sends to the client port. */
	if (!broadcast)
		fl->last_seen = now;
	if (p->frag == FRAG_FIRST) {
		struct ct_frag_key k = {
			.family = fam, .proto = ct_frag_proto(p), .id = p->frag_id };
		__u64 exp = now + ct_timeout(CT_TO_FRAGMENT);

		copy_addr(k.src, p->saddr, fam == 4 ? 4 : 16);
		copy_addr(k.dst, p->daddr, fam == 4 ? 4 : 16);
		bpf_map_update_elem(&ct_frags, &k, &exp, BPF_ANY);
	}
	return CT_ESTABLISHED;
}

/* The per-state counter of a state. */
static __always_inline __u32 ct_state_stat(__u32 st)
{
	switch (st) {
	case CT_NEW:
		return CTS_NEW;
	case CT_ESTABLISHED:
		return CTS_ESTABLISHED;
	case CT_RELATED:
		return CTS_RELATED;
	case CT_INVALID:
		return CTS_INVALID;
	}
	return CTS_UNTRACKED;
}

/*
 * The state of p, a packet coming in on ctx: a global function, verified
 * once on its own, and called only when a rule of the live generation
 * names ct-state (or for a DHCP reply the rules left to a drop policy).
 */
__noinline __u32 ct_state(struct xdp_md *ctx, const struct pkt *p)
{
	__u32 st;

	if (!ctx || !p)
		return CT_UNTRACKED;
	st = ct_place(ctx, p);
	ct_count(ct_state_stat(st));
	return st;
}

/* A DHCP reply: what the rules may leave to a drop policy, and what a
 * host must not lose. */
static __always_inline int dhcp_reply(const struct pkt *p)
{
	if (!p->has_ports || p->proto_key != IPPROTO_UDP)
		return 0;
	if (p->family == 4)
		return p->sport == DHCP4_SERVER && p->dport == DHCP4_CLIENT;
	return p->sport == DHCP6_SERVER && p->dport == DHCP6_CLIENT;
}

/*
 * The egress program's work on one packet of skb: parsed as XDP parses
 * (a global function of its own), then learned from.
 */
__noinline int ct_learn(struct __sk_buff *skb, struct pkt *p)
{
	struct frame f = { .ctx = skb, .frags = 1, .skb = 1 };
	struct ct_view v;
	__u32 ack_kind = CT_ACK_NONE, ack = 0;

	if (!skb || !p)
		return 0;
	f.len = skb->len;
	p->len = f.len;
	ct_count(CTS_EGRESS);
	if (parse_frame(&f, p) != PARSE_OK || !ct_view(p, 1, &v))
		return 0;
	/* what a RST coming in is checked against: the segment's
	 * acknowledgement, or a lone SYN's sequence number and the one it
	 * takes */
	if (v.kind == CT_KIND_TCP && (v.tcp_flags & (TCP_SYN | TCP_ACK))) {
		__u32 syn = !(v.tcp_flags & TCP_ACK);
		__u8 *h = pkt_at(&f, p->l4off + (syn ? 4 : 8), 4);

		if (h) {
			ack_kind = syn ? CT_ACK_SYN : CT_ACK_SENT;
			ack = (((__u32)h[0] << 24) | ((__u32)h[1] << 16) | ((__u32)h[2] << 8) | h[3]) + syn;
		}
	}
	ct_learn_view(&v, ct_now(), ack_kind, ack);
	return 0;
}

#endif
