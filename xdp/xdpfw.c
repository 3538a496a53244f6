// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdpfw datapath: parse once, classify by per-field lookups into rule
 * bit vectors, act. See docs/design.md for the map layout and the update
 * protocol; layout.h holds the shared definitions.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "layout.h"
#include "parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader for replay instances only: record each verdict in
 * `trace`. The verifier removes the branch when it is zero. */
const volatile __u32 trace_enabled = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_GENS);
	__type(key, __u32);
	__type(value, struct gen_conf);
} gen_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADDR_ENTRIES);
	__type(key, struct addr4_host_key);
	__type(value, __u32);
} addr4_host SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADDR_ENTRIES);
	__type(key, struct addr6_host_key);
	__type(value, __u32);
} addr6_host SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ADDR_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct addr4_lpm_key);
	__type(value, __u32);
} addr4_lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ADDR_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct addr6_lpm_key);
	__type(value, __u32);
} addr6_lpm SEC(".maps");

/* index gen * PROTO_KEYS + key -> atom */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_GENS * PROTO_KEYS);
	__type(key, __u32);
	__type(value, __u32);
} proto_atoms SEC(".maps");

/* index (gen * 2 + dir) * PORT_CHUNKS + port / PORT_CHUNK -> chunk of
 * atoms (dir 0 source, 1 destination) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_GENS * 2 * PORT_CHUNKS);
	__type(key, __u32);
	__type(value, struct port_chunk);
} port_atoms SEC(".maps");

/* index gen * VEC_PER_GEN + VEC_BASE_<field> + atom -> rule vector */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_GENS * VEC_PER_GEN);
	__type(key, __u32);
	__type(value, struct bitvec);
} vectors SEC(".maps");

/* index gen * MAX_RULES + rank -> rule */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_GENS * MAX_RULES);
	__type(key, __u32);
	__type(value, struct rank_entry);
} ranks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, struct counter);
} rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NUM_STATS);
	__type(key, __u32);
	__type(value, struct counter);
} verdict_stats SEC(".maps");

/* Control-plane state, never read per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NUM_GENS * MAX_RULES);
	__type(key, struct rule_def_key);
	__type(value, struct rule_def);
} rule_defs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct meta);
} meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct iface);
} ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct trace);
} trace SEC(".maps");

static __always_inline __u32 addr_atom(__u32 gen, __u32 dir, __u32 flags,
				       const struct pkt *p, const __u8 *addr)
{
	__u32 *atom;

	/* Flags for the destination sit four bits above the source's. */
	flags >>= dir * 4;
	if (p->family == 4) {
		if (flags & GF_SRC4_HOST) {
			struct addr4_host_key k = { .tag = ADDR_TAG(gen, dir) };

			__builtin_memcpy(k.addr, addr, 4);
			if ((atom = bpf_map_lookup_elem(&addr4_host, &k)))
				return *atom;
		}
		if (flags & GF_SRC4_LPM) {
			struct addr4_lpm_key k = {
				.prefixlen = 8 + 32, .tag = ADDR_TAG(gen, dir) };

			__builtin_memcpy(k.addr, addr, 4);
			if ((atom = bpf_map_lookup_elem(&addr4_lpm, &k)))
				return *atom;
		}
	} else if (p->family == 6) {
		if (flags & GF_SRC6_HOST) {
			struct addr6_host_key k = { .tag = ADDR_TAG(gen, dir) };

			__builtin_memcpy(k.addr, addr, 16);
			if ((atom = bpf_map_lookup_elem(&addr6_host, &k)))
				return *atom;
		}
		if (flags & GF_SRC6_LPM) {
			struct addr6_lpm_key k = {
				.prefixlen = 8 + 128, .tag = ADDR_TAG(gen, dir) };

			__builtin_memcpy(k.addr, addr, 16);
			if ((atom = bpf_map_lookup_elem(&addr6_lpm, &k)))
				return *atom;
		}
	}
	return 0;
}

static __always_inline __u32 port_atom(__u32 gen, __u32 dir, __u32 flags,
				       const struct pkt *p, __u16 port)
{
	__u32 idx = (gen * 2 + dir) * PORT_CHUNKS + port / PORT_CHUNK;
	struct port_chunk *c;

	if (!p->has_ports || !(flags & GF_PORTS))
		return 0;
	c = bpf_map_lookup_elem(&port_atoms, &idx);
	return c ? c->atom[port % PORT_CHUNK] : 0;
}

static __always_inline const struct bitvec *vec(__u32 gen, __u32 base,
						__u32 atom)
{
	__u32 idx = gen * VEC_PER_GEN + base + atom;

	return bpf_map_lookup_elem(&vectors, &idx);
}

/* Index of the lowest set bit; x must be non-zero. */
static __always_inline __u32 lowest_bit(__u64 x)
{
	__u32 n = 0;

	if (!(x & 0xffffffffULL)) { n += 32; x >>= 32; }
	if (!(x & 0xffffULL))     { n += 16; x >>= 16; }
	if (!(x & 0xffULL))       { n += 8;  x >>= 8; }
	if (!(x & 0xfULL))        { n += 4;  x >>= 4; }
	if (!(x & 0x3ULL))        { n += 2;  x >>= 2; }
	if (!(x & 0x1ULL))        { n += 1; }
	return n;
}

/*
 * The rank of the highest-priority rule matching every field, or -1.
 * cand names every word that can hold a match (the words of rules matched
 * on their primary field, and of rules with no condition); the loop ANDs
 * only those, lowest first, and the first non-zero AND holds the answer.
 */
static __always_inline int first_match(const struct bitvec *a,
				       const struct bitvec *b,
				       const struct bitvec *c,
				       const struct bitvec *d,
				       const struct bitvec *e, __u64 wild)
{
	__u64 cand = a->summary | b->summary | c->summary | d->summary |
		     e->summary | wild;

	for (int i = 0; i < VEC_WORDS && cand; i++) {
		__u32 w = lowest_bit(cand) & (VEC_WORDS - 1);
		__u64 m = a->words[w] & b->words[w] & c->words[w] &
			  d->words[w] & e->words[w];

		if (m)
			return w * 64 + lowest_bit(m);
		cand &= cand - 1;
	}
	return -1;
}

static __always_inline void count(void *map, __u32 key, __u64 bytes)
{
	struct counter *c = bpf_map_lookup_elem(map, &key);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline int finish(__u32 action, __u32 reason, __u32 rule_id,
				  __u64 bytes)
{
	count(&verdict_stats, action == XDP_DROP ? STAT_DROP : STAT_PASS, bytes);
	if (reason == REASON_DEFAULT)
		count(&verdict_stats, STAT_DEFAULT, bytes);
	else if (reason == REASON_MALFORMED)
		count(&verdict_stats, STAT_MALFORMED, bytes);
	else if (reason == REASON_NEIGHBOR)
		count(&verdict_stats, STAT_NEIGHBOR, bytes);

	if (trace_enabled) {
		__u32 zero = 0;
		struct trace *t = bpf_map_lookup_elem(&trace, &zero);

		if (t) {
			t->seq++;
			t->rule_id = rule_id;
			t->action = action;
			t->reason = reason;
		}
	}
	return action;
}

SEC("xdp")
int xdpfw(struct xdp_md *ctx)
{
	__u64 bytes = ctx->data_end - ctx->data;
	struct pkt p = {};
	__u32 zero = 0, gen, flags, idx;
	const struct bitvec *vs, *vd, *vp, *vsp, *vdp;
	struct gen_conf *conf;
	struct rank_entry *r;
	__u32 *g;
	int rank;

	if (parse_frame(ctx, &p) != PARSE_OK)
		return finish(XDP_DROP, REASON_MALFORMED, 0, bytes);

	/* The one read of the generation: everything below uses it. */
	g = bpf_map_lookup_elem(&active, &zero);
	if (!g)
		return XDP_PASS;
	gen = *(volatile __u32 *)g & 1;
	conf = bpf_map_lookup_elem(&gen_conf, &gen);
	if (!conf)
		return XDP_PASS;
	flags = conf->flags;

	vs = vec(gen, VEC_BASE_SRC, addr_atom(gen, 0, flags, &p, p.saddr));
	vd = vec(gen, VEC_BASE_DST, addr_atom(gen, 1, flags, &p, p.daddr));
	idx = gen * PROTO_KEYS + (p.proto_key < PROTO_KEYS ? p.proto_key : PROTO_KEY_NONIP);
	g = bpf_map_lookup_elem(&proto_atoms, &idx);
	vp = vec(gen, VEC_BASE_PROTO, g ? *g : 0);
	vsp = vec(gen, VEC_BASE_SPORT, port_atom(gen, 0, flags, &p, p.sport));
	vdp = vec(gen, VEC_BASE_DPORT, port_atom(gen, 1, flags, &p, p.dport));

	rank = -1;
	if (vs && vd && vp && vsp && vdp)
		rank = first_match(vs, vd, vp, vsp, vdp, conf->wild_summary);

	if (rank >= 0 && (__u32)rank < conf->nrules) {
		idx = gen * MAX_RULES + rank;
		r = bpf_map_lookup_elem(&ranks, &idx);
		if (r) {
			count(&rule_stats, r->slot, bytes);
			return finish(r->action, REASON_RULE, r->rule_id, bytes);
		}
	}
	/* ARP and neighbour discovery are never locked out by the policy. */
	if (p.proto_key == PROTO_KEY_ARP || p.proto_key == PROTO_KEY_ND)
		return finish(XDP_PASS, REASON_NEIGHBOR, 0, bytes);
	return finish(conf->policy, REASON_DEFAULT, 0, bytes);
}
