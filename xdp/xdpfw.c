// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdpfw datapath: parse once, classify by per-dimension lookups into rule
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

#include "conntrack.h"
#include "ctsweep.h"

/*
 * The arrays a packet reads are BPF_F_MMAPABLE for where that puts their
 * values, not for mapping them: at the start of a page. A plain array's
 * values start 56 bytes into a cache line (6.18), so every 64-byte value
 * (a bucket, a vector of 7 words) spanned two lines, each a miss when
 * cold; Go never maps them.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} active SEC(".maps");

/*
 * The packet's read of `active`: its one value by address (a 64-bit
 * load of the map value's address, as for globals), where a lookup would
 * add its index check and arithmetic to every frame. Go binds this
 * section to `active` before loading (pkg/loader/spec.go), so the program
 * reads the pinned word the control plane switches.
 */
static volatile __u32 active_word SEC(".data.active");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_configs);
} gen_conf SEC(".maps");

/* gen_conf's value, read by address as `active`'s is. Hidden, not
 * static: clang may take a static variable nothing in C writes for
 * constant zero, and the loader wants no Go variable for it. */
__attribute__((visibility("hidden"))) struct gen_configs gen_confs SEC(".data.gen_conf");

/* Generation gen's config (gen is 0 or 1, so the offset is bounded). */
static __always_inline const struct gen_config *conf_of(__u32 gen)
{
	return &gen_confs.gen[gen & ACTIVE_RULES];
}

/* index gen << bits + bucket -> bucket (layout.h, enum addr_buckets). Go
 * sizes the maps to the ruleset; the sizes here are a new state's. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NUM_GENS << ADDR_BUCKET_BITS_MIN);
	__type(key, __u32);
	__type(value, struct addr4_bucket);
} addr4_host SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NUM_GENS << ADDR_BUCKET_BITS_MIN);
	__type(key, __u32);
	__type(value, struct addr6_bucket);
} addr6_host SEC(".maps");

/* A generation's buckets of each family, as bits: set from the maps when
 * the program is loaded, as vec_words is. */
const volatile __u32 addr4_bits = ADDR_BUCKET_BITS_MIN;
const volatile __u32 addr6_bits = ADDR_BUCKET_BITS_MIN;

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

/* index gen * chunks_per_gen + the dimension's base + key / CHUNK ->
 * chunk of atoms, for every dimension keyed by a small number (layout.h,
 * enum chunk_base). Go sizes the map to the ruleset; the size here is a
 * new state's. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NUM_GENS * CHUNKS_COMMON);
	__type(key, __u32);
	__type(value, struct atom_chunk);
} value_atoms SEC(".maps");

/* A generation's entries of value_atoms: set from the map when the
 * program is loaded, as vec_words is. */
const volatile __u32 chunks_per_gen = CHUNKS_COMMON;

/* (gen, ifindex) -> atom of the input-interface dimension */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);   /* most rulesets name no interface */
	__uint(max_entries, NUM_GENS * (IFACE_ATOMS - 1));
	__type(key, struct iface_key);
	__type(value, __u32);
} iface_atoms SEC(".maps");

/* The rule vectors (enum vec_sizes): the vector of atom a of dimension d
 * is entry conf->vec_base[d] + a, its first vec_words words. Go sizes the
 * map to the ruleset, entries and words, and sets vec_words from it when
 * it loads the programs; the sizes here are a new state's. No BTF value
 * type: the value's size is the map's. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, VEC_ENTRIES_MIN);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 8 + 8 * VEC_WORDS_MIN);
} vectors SEC(".maps");

/* The words a vector of the map holds: a constant to the verifier (read
 * only, frozen), so it bounds the word a packet reads. */
const volatile __u32 vec_words = VEC_WORDS_MIN;

/*
 * Named sets, by slot (layout.h). The inner maps are created by the
 * control plane, one set of four per named set; these are templates.
 * Hash sizes differ per set (each is sized for its set); LPM tries grow
 * as they are filled. Sizes, not BTF types: clang emits the inner maps'
 * key structs as forward declarations only.
 */
struct set4_host_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SET_HOST_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct set4_key));
	__uint(value_size, sizeof(struct set_val));
};

struct set6_host_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SET_HOST_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct set6_key));
	__uint(value_size, sizeof(struct set_val));
};

/* The sets' bucket arrays (layout.h, struct set4_bucket, set6_bucket):
 * sized per set (BPF_F_INNER_MAP lets an inner array's size differ from
 * the template's), written by Go through a shared mapping. */
struct set4_bkt_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 + SET_BKT_MIN);
	__uint(map_flags, BPF_F_MMAPABLE | BPF_F_INNER_MAP);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct set4_bucket));
};

struct set6_bkt_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 + SET_BKT_MIN);
	__uint(map_flags, BPF_F_MMAPABLE | BPF_F_INNER_MAP);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct set6_bucket));
};

struct set4_lpm_map {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SET_LPM_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct set4_lpm_key));
	__uint(value_size, sizeof(struct set_val));
};

struct set6_lpm_map {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SET_LPM_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct set6_lpm_key));
	__uint(value_size, sizeof(struct set_val));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_SETS);
	__type(key, __u32);
	__array(values, struct set4_host_map);
} set4_host SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_SETS);
	__type(key, __u32);
	__array(values, struct set6_host_map);
} set6_host SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_SETS);
	__type(key, __u32);
	__array(values, struct set4_lpm_map);
} set4_lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_SETS);
	__type(key, __u32);
	__array(values, struct set6_lpm_map);
} set6_lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_SETS);
	__type(key, __u32);
	__array(values, struct set4_bkt_map);
} set4_bkt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_SETS);
	__type(key, __u32);
	__array(values, struct set6_bkt_map);
} set6_bkt SEC(".maps");

/* index gen * MAX_RULES + rank -> rule */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NUM_GENS * MAX_RULES);
	__type(key, __u32);
	__type(value, struct rank_entry);
} ranks SEC(".maps");

/* Each rule's frames, by its counter slot (rank_entry.slot): Go's alone.
 * A commit that rewrites a generation first moves what rank_stats
 * counted in it here (pkg/loader/rankcounts.go). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, struct counter);
} rule_stats SEC(".maps");

/* index rank * NUM_GENS + gen -> the frames the rule of that rank
 * decided while gen was live. By rank, not by the rule's slot: a frame
 * knows its rank before the rank entry arrives, so the counter's line
 * and the rank entry's are asked for together rather than one after the
 * other (a cold frame's last two misses). The generations side by side,
 * so Go reads the first ranks of both from entry 0 on. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_RULES * NUM_GENS);
	__type(key, __u32);
	__type(value, struct counter);
} rank_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NUM_STATS);
	__type(key, __u32);
	__type(value, struct counter);
} verdict_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IFACE_STAT_SLOTS * NUM_OUTCOMES);
	__type(key, __u32);
	__type(value, struct counter);
} iface_stats SEC(".maps");

/* Control-plane state, never read per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NUM_GENS * MAX_RULES);
	__type(key, struct rule_def_key);
	__type(value, struct rule_def_short);
} rule_defs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NUM_GENS * MAX_RULES);
	__type(key, struct rule_def_key);
	__type(value, struct rule_def);
} rule_defs_long SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct meta);
} meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SETS);
	__type(key, struct set_name);
	__type(value, struct set_def);
} set_defs SEC(".maps");

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

/* `xdpfw capture` (layout.h): its selection, its counters, its records. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct capture_conf);
} capture_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ring_stats);
} capture_stats SEC(".maps");

/* The ring is made by the capture that starts and put in slot 0, and
 * taken out when it stops: no capture, no megabyte of ring. */
struct capture_ring_map {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CAPTURE_RING_BYTES);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct capture_ring_map);
} capture_ring SEC(".maps");

/* Frames of rules with `log: true` (RANK_LOG), for `xdpfw serve`. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ring_stats);
} log_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, LOG_RING_BYTES);
} log_ring SEC(".maps");

/* The network-order mask of the first bits of a 32-bit word, bits <= 32. */
static __always_inline __u32 mask32(int bits)
{
	if (bits <= 0)
		return 0;
	if (bits >= 32)
		return ~0u;
	return __builtin_bswap32(~0u << (32 - bits));
}

/* Bucket h (the top bits of a 64-bit hash) of generation gen, in a map
 * of 1 << bits buckets a generation. */
static __always_inline __u32 bucket_idx(__u32 gen, __u64 h, __u32 bits)
{
	return (gen << bits) + (__u32)(h >> (64 - bits));
}

/* The seeded mix of an IPv6 set key's first half (struct set_bkt_head):
 * MurmurHash3's finalizer of hi ^ seed, or 0 when there is no seed
 * (keep: all ones if there is one, branch-free). */
static __always_inline __u64 seed_mix(__u64 hi, __u64 seed, __u64 keep)
{
	__u64 x = hi ^ seed;

	x ^= x >> 33;
	x *= SET_BKT_MIX1;
	x ^= x >> 33;
	x *= SET_BKT_MIX2;
	x ^= x >> 33;
	return x & keep;
}

/*
 * The atom of the IPv4 key (tag, len, a: the address masked to len) in
 * generation gen's buckets, seeded by seed (its config's addr_seed as a
 * word, enum addr_hash), or -1. A slot is compared as one word with its
 * atom masked out.
 */
_Static_assert(__builtin_offsetof(struct addr4_bucket, slot) % 8 == 0 &&
	       sizeof(struct addr4_bucket) % 8 == 0, "addr4 slots are read as one u64");
static __always_inline int addr4_find(__u32 gen, __u32 tag, __u32 len, __u32 a, __u64 seed)
{
	__u64 key = (tag | ADDR_SLOT_USED) | len << 8 | (__u64)a << 32, hk = key ^ seed;
	__u32 idx = bucket_idx(gen, hk * ADDR_HASH1, addr4_bits);
	struct addr4_bucket *b = bpf_map_lookup_elem(&addr4_host, &idx);
	__u64 w;

	for (int pass = 0; pass < 2; pass++) {
		if (!b)
			return -1;
#pragma unroll
		for (int s = 0; s < ADDR4_SLOTS; s++) {
			/* One load: slots are 8-byte aligned in the
			 * bucket, though their type is not. */
			w = *(const __u64 *)(const void *)&b->slot[s];
			if ((w & ~0xffff0000ULL) == key)
				return w >> 16 & 0xffff;
		}
		if (pass || !(b->flags & ADDR_B_OVERFLOW))
			return -1;
		idx = bucket_idx(gen, hk * ADDR_HASH2, addr4_bits);
		b = bpf_map_lookup_elem(&addr4_host, &idx);
	}
	return -1;
}

/* addr4_find for IPv6: a holds the masked address as four words, mul is
 * the generation's multiplier of the first half and keep all ones if it
 * is seeded (the head goes into the first half then; enum addr_hash). */
static __always_inline int addr6_find(__u32 gen, __u32 tag, __u32 len, const __u32 *a,
				      __u64 mul, __u64 keep)
{
	__u32 head = (tag | ADDR_SLOT_USED) | len << 8, w[5];
	__u64 key = (((__u64)a[1] << 32 | a[0]) ^ (head & keep)) * mul ^ ((__u64)a[3] << 32 | a[2]) ^ head;
	__u32 idx = bucket_idx(gen, key * ADDR_HASH1, addr6_bits);
	struct addr6_bucket *b = bpf_map_lookup_elem(&addr6_host, &idx);

	for (int pass = 0; pass < 2; pass++) {
		if (!b)
			return -1;
#pragma unroll
		for (int s = 0; s < ADDR6_SLOTS; s++) {
			__builtin_memcpy(w, &b->slot[s], 20);
			if ((w[0] & 0xffff) == head && w[1] == a[0] && w[2] == a[1] &&
			    w[3] == a[2] && w[4] == a[3])
				return w[0] >> 16;
		}
		if (pass || !(b->flags & ADDR_B_OVERFLOW))
			return -1;
		idx = bucket_idx(gen, key * ADDR_HASH2, addr6_bits);
		b = bpf_map_lookup_elem(&addr6_host, &idx);
	}
	return -1;
}

/*
 * The atom of addr in direction dir: its longest match among the rules'
 * prefixes. The buckets hold the prefixes of the longest lengths (conf's
 * list for the table), probed longest first, so the first hit is the
 * longest match; only when all miss is the trie, which holds the
 * shorter ones, walked.
 */
static __always_inline __u32 addr_atom(__u32 gen, __u32 dir, __u32 flags,
				       const struct gen_config *conf,
				       const struct pkt *p, const __u32 *addr)
{
	__u32 *atom, tab = dir * 2 + (p->family == 6), n, len, tag = ADDR_TAG(gen, dir);
	__u64 seed = conf->addr_seed, mul, keep;
	int found;

	/* Flags for the destination sit four bits above the source's. */
	flags >>= dir * 4;
	n = conf->hash_nlens[tab & 3];
	seed |= seed << 32;
	mul = ADDR_HASH6 ^ seed << 1;
	keep = -((seed | -seed) >> 63);
	if (p->family == 4) {
		if (flags & GF_SRC4_HOST) {
			__u32 a = addr[0];

			for (int i = 0; i < ADDR_HASH_LENS; i++) {
				if (i >= n)
					break;
				len = conf->hash_lens[tab & 3][i];
				a &= mask32(len);
				found = addr4_find(gen, tag, len, a, seed);
				if (found >= 0)
					return found;
			}
		}
		if (flags & GF_SRC4_LPM) {
			struct addr4_lpm_key k = { .prefixlen = 8 + 32, .tag = tag };

			__builtin_memcpy(k.addr, addr, 4);
			if ((atom = bpf_map_lookup_elem(&addr4_lpm, &k)))
				return *atom;
		}
	} else if (p->family == 6) {
		if (flags & GF_SRC6_HOST) {
			__u32 a[4] = { addr[0], addr[1], addr[2], addr[3] };

			for (int i = 0; i < ADDR_HASH_LENS; i++) {
				if (i >= n)
					break;
				len = conf->hash_lens[tab & 3][i];
				/* lengths come longest first: masking what the
				 * last probe masked loses nothing */
#pragma unroll
				for (int w = 0; w < 4; w++)
					a[w] &= mask32(len - 32 * w);
				found = addr6_find(gen, tag, len, a, mul, keep);
				if (found >= 0)
					return found;
			}
		}
		if (flags & GF_SRC6_LPM) {
			struct addr6_lpm_key k = { .prefixlen = 8 + 128, .tag = tag };

			__builtin_memcpy(k.addr, addr, 16);
			if ((atom = bpf_map_lookup_elem(&addr6_lpm, &k)))
				return *atom;
		}
	}
	return 0;
}

/* The atom of key in a chunked value dimension. */
static __always_inline __u32 value_atom(__u32 gen, __u32 base, __u32 key)
{
	__u32 idx = gen * chunks_per_gen + base + key / CHUNK;
	struct atom_chunk *c = bpf_map_lookup_elem(&value_atoms, &idx);

	return c ? c->atom[key % CHUNK] : 0;
}

/* The protocol dimension's key (layout.h). */
static __always_inline __u32 proto_dim_key(const struct pkt *p)
{
	__u32 proto;

	if (p->proto_key == PROTO_KEY_ARP)
		return PKEY_ARP;
	if (!p->family)
		return PKEY_NONIP;
	proto = p->proto_key == PROTO_KEY_ND ? PROTO_ND : p->proto_key & 0xff;
	return ((p->frag & 3) * 2 + (p->family == 6)) * PROTO_SPAN + proto;
}

_Static_assert(sizeof(struct set_bkt_head) == sizeof(struct set4_bucket) &&
	       sizeof(struct set6_bucket) == sizeof(struct set4_bucket) &&
	       sizeof(struct set4_slot) == 8 && sizeof(struct set6_slot) == 24,
	       "a bucket array's elements are one cache line of words");

/* The SET_* flags of the slot word key in a bucket array of nb buckets
 * and seed seed (struct set_bkt_head), or -1. Each slot and the flags are
 * read once, in order: Go flags a bucket overflowing before it writes a
 * key to the key's second bucket. */
static __always_inline int set4_probe(void *bkt, __u32 nb, __u64 key, __u64 seed)
{
	__u64 hk = key ^ seed;
	__u32 idx = 1 + (__u32)(((hk * SET_BKT_HASH1) >> 32) * nb >> 32);
	struct set4_bucket *b = bpf_map_lookup_elem(bkt, &idx);
	__u64 w;

	for (int pass = 0; pass < 2; pass++) {
		if (!b)
			return -1;
#pragma unroll
		for (int s = 0; s < SET_BKT_SLOTS; s++) {
			w = *(volatile __u64 *)&b->slot[s];
			if ((w & 0xffffffffffULL) == key)
				return w >> 40 & 0xff;
		}
		if (pass || !(*(volatile __u64 *)&b->flags & SET_BKT_OVERFLOW))
			return -1;
		idx = 1 + (__u32)(((hk * SET_BKT_HASH2) >> 32) * nb >> 32);
		b = bpf_map_lookup_elem(bkt, &idx);
	}
	return -1;
}

/* set4_probe for IPv6: a holds the masked address as four words, head
 * the slot's first word without the flags (len | SET6_SLOT_USED << 16),
 * seed and keep the array's seed and whether it has one. */
static __always_inline int set6_probe(void *bkt, __u32 nb, __u32 head, const __u32 *a,
				      __u64 seed, __u64 keep)
{
	__u64 hi = (__u64)a[1] << 32 | a[0], lo = (__u64)a[3] << 32 | a[2];
	__u64 key = hi * SET_BKT_HASH6 ^ lo ^ head ^ seed_mix(hi, seed, keep), w;
	__u32 idx = 1 + (__u32)(((key * SET_BKT_HASH1) >> 32) * nb >> 32);
	struct set6_bucket *b = bpf_map_lookup_elem(bkt, &idx);

	for (int pass = 0; pass < 2; pass++) {
		if (!b)
			return -1;
#pragma unroll
		for (int s = 0; s < SET6_BKT_SLOTS; s++) {
			w = *(volatile __u64 *)&b->slot[s];
			if ((w & 0xff00ff) == head && *(volatile __u64 *)&b->slot[s].addr[0] == hi &&
			    *(volatile __u64 *)&b->slot[s].addr[8] == lo)
				return w >> 8 & 0xff;
		}
		if (pass || !(*(volatile __u64 *)&b->flags & SET_BKT_OVERFLOW))
			return -1;
		idx = 1 + (__u32)(((key * SET_BKT_HASH2) >> 32) * nb >> 32);
		b = bpf_map_lookup_elem(bkt, &idx);
	}
	return -1;
}

/*
 * The SET_* flags of the address in k (its family v6, a constant at each
 * call) in a set with a bucket array: its lengths probed longest first,
 * then the trie only if the head says it may hold a longer match than
 * the buckets gave.
 */
static __always_inline __u32 set_bkt_lookup(void *bkt, void *lpm, struct set6_lpm_key *k, const int v6)
{
	__u32 zero = 0, a[4] = {}, lens, len, hit = 0, flags = 0;
	struct set_bkt_head *h = bpf_map_lookup_elem(bkt, &zero);
	struct set_val *v;
	__u64 seed, keep;
	int f;

	if (!h)
		return 0;
	lens = *(volatile __u32 *)h->lens;
	seed = *(volatile __u64 *)&h->seed;
	keep = -((seed | -seed) >> 63);
	__builtin_memcpy(a, k->addr, v6 ? 16 : 4);
	for (int i = 0; i < SET_BKT_LENS; i++) {
		len = lens >> (8 * i) & 0xff;
		if (!len)
			break;
		/* longest first: masking what the last probe masked loses nothing */
#pragma unroll
		for (int w = 0; w < 4; w++)
			a[w] &= mask32(len - 32 * w);
		if (v6)
			f = set6_probe(bkt, h->nbuckets, len | SET6_SLOT_USED << 16, a, seed, keep);
		else
			f = set4_probe(bkt, h->nbuckets, a[0] | (__u64)(len | SET_BKT_USED) << 32, seed);
		if (f >= 0) {
			hit = len + 1;
			flags = f;
			break;
		}
	}
	if (*(volatile __u8 *)&h->trie_max > hit) {
		v = bpf_map_lookup_elem(lpm, k);
		if (v && v->len + 1u > hit)
			flags = v->flags;
	}
	return flags;
}

/*
 * The SET_* flags of the packet's address in direction dir: its longest
 * match in the set in slot, or 0. One key buffer serves all the maps
 * (the hashes' key is its address part). A set of an earlier layout has
 * no bucket arrays: its hosts are in the host hashes.
 *
 * A global function, verified once, not once per set in set_mask's
 * loop: inlined there, the bucket probes' branches took the program from
 * 156k to 409k processed instructions on 6.1; and set_mask does not
 * branch on its answer, because 6.1's verifier cannot trace precision
 * back through a call and then marks every number precise, which made
 * each set's yes or no a path of its own (past the million).
 */
__noinline __u32 set_flags(const struct pkt *p, __u32 dir, __u32 slot)
{
	struct set6_lpm_key k;
	struct set_val *v;
	const __u32 *addr;
	void *host, *lpm, *bkt;

	if (!p)
		return 0;
	addr = dir ? p->daddr32 : p->saddr32;
	if (p->family == 4) {
		k.prefixlen = 32;
		__builtin_memcpy(k.addr, addr, 4);
		lpm = bpf_map_lookup_elem(&set4_lpm, &slot);
		if (!lpm)
			return 0;
		bkt = bpf_map_lookup_elem(&set4_bkt, &slot);
		if (bkt)
			return set_bkt_lookup(bkt, lpm, &k, 0);
		host = bpf_map_lookup_elem(&set4_host, &slot);
	} else if (p->family == 6) {
		k.prefixlen = 128;
		__builtin_memcpy(k.addr, addr, 16);
		lpm = bpf_map_lookup_elem(&set6_lpm, &slot);
		if (!lpm)
			return 0;
		bkt = bpf_map_lookup_elem(&set6_bkt, &slot);
		if (bkt)
			return set_bkt_lookup(bkt, lpm, &k, 1);
		host = bpf_map_lookup_elem(&set6_host, &slot);
	} else {
		return 0;
	}
	if (!host || !lpm)
		return 0;
	v = bpf_map_lookup_elem(host, k.addr);
	if (!v)
		v = bpf_map_lookup_elem(lpm, &k);
	return v ? v->flags : 0;
}

/*
 * The keys of both set dimensions, source | destination << 8: bit j of
 * a direction's key when its address is in the j-th set the rules of
 * generation act & ACTIVE_RULES reference there, as of set generation
 * act & ACTIVE_SETS. A global function, so its loops over the sets are
 * verified once; one call for both directions, because a call costs
 * about 14 ns on the development VM (every return goes through the
 * kernel's SRSO return thunk). Each set is a call to set_flags (above).
 */
__noinline __u32 set_mask(const struct pkt *p, __u32 act)
{
	__u32 gen = act & ACTIVE_RULES, sgen = (act & ACTIVE_SETS) >> 1, mask = 0;
	const struct gen_config *conf = conf_of(gen);

	if (!p || (p->family != 4 && p->family != 6))
		return 0;
	for (__u32 dir = 0; dir < 2; dir++) {
		__u32 n = conf->nsets[dir];

		for (__u32 j = 0; j < MAX_SET_REFS && j < n; j++) {
			__u32 f = set_flags(p, dir, conf->set_slot[dir][j]);

			mask |= (f >> (SET_MEMBER_SHIFT + sgen) & 1) << (j + MAX_SET_REFS * dir);
		}
	}
	return mask;
}

/* set_mask's answer, bounded where the verifier can see it: clang knows
 * the mask fits in 16 bits and would drop a plain AND, but the verifier
 * treats a global function's result as any number. */
static __always_inline __u32 set_keys(const struct pkt *p, __u32 act)
{
	__u32 m = set_mask(p, act);

	asm volatile("" : "+r"(m));
	return m & (SET_KEYS * SET_KEYS - 1);
}

/*
 * The first match of a GF_SOLO generation: the lowest of the ranks its
 * dimensions' entries name (each is rank + 1, 0 for none). ARP and
 * neighbour discovery match no rule but those on the protocol (Go's Solo
 * checks the classifier agrees), so their other entries are voided.
 * Without a branch on the entries (a dimension's 0 becomes 0xffff, past
 * any rank; the minimum is taken with the sign of a difference). The
 * inline path folds each atom in where it is found (solo_put), over the
 * dimensions looked up only, so a denylist on two of them pays for two;
 * decide_all, whose generations with vectors would pay for it in each of
 * up to fourteen dimensions and ignore it, takes it afterwards from the
 * atoms of a solo generation (solo_match). A rank >= nrules: no match.
 */
_Static_assert(MAX_RULES < 0xffff, "a solo entry is a rank + 1 below 0xffff");
struct solo_min {
	__s64 best;
	__u32 keep;             /* all ones, or 0 for ARP and ND */
	int fold;               /* solo_put folds atoms in (a constant) */
};

static __always_inline struct solo_min solo_start(const struct pkt *p, const int fold)
{
	__u64 z = (__u64)(p->proto_key ^ PROTO_KEY_ARP) * (p->proto_key ^ PROTO_KEY_ND);
	struct solo_min m = { .best = 0xffff, .keep = -(__u32)((z | -z) >> 63), .fold = fold };

	return m;
}

static __always_inline void solo_fold(struct solo_min *m, int d, __u32 atom)
{
	__u32 v = d == DIM_PROTO ? atom : atom & m->keep;
	__s64 r = (__s64)((v - 1) & 0xffff), diff = r - m->best;

	m->best += diff & (diff >> 63);
}

/* Dimension d's atom into a[d], and into the solo minimum if it folds. */
static __always_inline void solo_put(struct solo_min *m, __u16 *a, int d, __u32 atom)
{
	a[d] = atom;
	if (m->fold)
		solo_fold(m, d, atom);
}

/* The solo minimum of the first ndims atoms a holds. */
static __always_inline int solo_match(const struct pkt *p, const __u16 *a, int ndims)
{
	struct solo_min m = solo_start(p, 1);

#pragma unroll
	for (int d = 0; d < NUM_DIMS; d++)
		if (d < ndims)
			solo_fold(&m, d, a[d]);
	return (int)m.best;
}

/*
 * The atom of every dimension some rule uses among the first ndims
 * (unused ones are never looked up: they keep atom 0, which their base
 * makes the all-ones vector; the inline path's generations use none past
 * COMMON_DIMS, so its copy has no test for them). Every capacity fits a
 * u16. Atom 0 is "no value": ports of a frame without ports, DSCP of a
 * non-IP frame, an unknown interface.
 * Returns the solo minimum if fold (solo_put), else 0xffff.
 */
static __always_inline int atoms(__u32 act, const struct gen_config *conf,
				 const struct pkt *p, __u32 ifindex, __u32 sets,
				 __u16 *a, int ndims, const int fold)
{
	__u32 gen = act & ACTIVE_RULES, flags = conf->flags;
	struct solo_min m = solo_start(p, fold);

	if (flags & GF_USE(DIM_SRC))
		solo_put(&m, a, DIM_SRC, addr_atom(gen, 0, flags, conf, p, p->saddr32));
	if (flags & GF_USE(DIM_DST))
		solo_put(&m, a, DIM_DST, addr_atom(gen, 1, flags, conf, p, p->daddr32));
	if (flags & GF_USE(DIM_PROTO))
		solo_put(&m, a, DIM_PROTO, value_atom(gen, CHUNK_BASE_PROTO, proto_dim_key(p)));
	if (p->has_ports && (flags & GF_USE(DIM_SPORT)))
		solo_put(&m, a, DIM_SPORT, value_atom(gen, CHUNK_BASE_SPORT, p->sport));
	if (p->has_ports && (flags & GF_USE(DIM_DPORT)))
		solo_put(&m, a, DIM_DPORT, value_atom(gen, CHUNK_BASE_DPORT, p->dport));
	if (ndims > DIM_CT && (flags & GF_USE(DIM_CT)))
		solo_put(&m, a, DIM_CT, value_atom(gen, CHUNK_BASE_CT, (sets >> 16) & (CT_KEYS - 1)));
	if (ndims > DIM_L4 && p->has_l4 && (flags & GF_USE(DIM_L4)))
		solo_put(&m, a, DIM_L4, value_atom(gen, conf->chunk_base[DIM_L4], p->l4));
	if (ndims > DIM_VLAN && (flags & GF_USE(DIM_VLAN)))
		solo_put(&m, a, DIM_VLAN, value_atom(gen, conf->chunk_base[DIM_VLAN], p->vlan[0] & 0x1fff));
	if (ndims > DIM_IVLAN && (flags & GF_USE(DIM_IVLAN)))
		solo_put(&m, a, DIM_IVLAN, value_atom(gen, conf->chunk_base[DIM_IVLAN], p->vlan[1] & 0x1fff));
	if (ndims > DIM_DSCP && p->family && (flags & GF_USE(DIM_DSCP)))
		solo_put(&m, a, DIM_DSCP, value_atom(gen, CHUNK_BASE_DSCP, p->dscp & 63));
	if (ndims > DIM_TTL && p->family && (flags & GF_USE(DIM_TTL)))
		solo_put(&m, a, DIM_TTL, value_atom(gen, CHUNK_BASE_TTL, p->ttl));
	if (ndims > DIM_LEN && (flags & GF_USE(DIM_LEN)))
		solo_put(&m, a, DIM_LEN, value_atom(gen, conf->chunk_base[DIM_LEN], p->len > 65535 ? 65535 : p->len));
	if (ndims > DIM_IFACE && (flags & GF_USE(DIM_IFACE))) {
		struct iface_key k = { .gen = gen, .ifindex = ifindex };
		__u32 *atom = bpf_map_lookup_elem(&iface_atoms, &k);

		if (atom)
			solo_put(&m, a, DIM_IFACE, *atom);
	}
	/* sets holds the set dimensions' keys (source | destination << 8)
	 * and the connection-tracking state (<< 16), found by the caller. */
	if (ndims > DIM_DSET && (flags & GF_USE(DIM_SSET)))
		solo_put(&m, a, DIM_SSET, value_atom(gen, CHUNK_BASE_SSET, sets & (SET_KEYS - 1)));
	if (ndims > DIM_DSET && (flags & GF_USE(DIM_DSET)))
		solo_put(&m, a, DIM_DSET, value_atom(gen, CHUNK_BASE_DSET, (sets >> 8) & (SET_KEYS - 1)));
	return (int)m.best;
}

#define COMMON_DIMS (DIM_CT + 1)

/* What the common path reads of gen_conf is its first cache line. */
_Static_assert(__builtin_offsetof(struct gen_config, vec_base) + 4 * COMMON_DIMS <= 64,
	       "gen_conf's common fields pass its first cache line");
_Static_assert(sizeof(struct gen_config) % 64 == 0, "gen_conf is not whole cache lines");
#define RARE_DIMS (GF_USE(DIM_L4) | GF_USE(DIM_VLAN) | GF_USE(DIM_IVLAN) | \
		   GF_USE(DIM_DSCP) | GF_USE(DIM_TTL) | GF_USE(DIM_LEN) | \
		   GF_USE(DIM_IFACE) | GF_USE(DIM_SSET) | GF_USE(DIM_DSET))

/*
 * Index of the lowest set bit; x must be non-zero. Branch-free (a de
 * Bruijn multiply and a table), so the verifier walks one path through
 * it instead of one per bit position: with six branches per call it
 * explored up to 64 states per word of first_match.
 */
static const __u8 debruijn_bit[64] = {
	0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4,
	62, 55, 59, 36, 53, 51, 43, 22, 45, 39, 33, 30, 24, 18, 12, 5,
	63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11,
	46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6,
};

static __always_inline __u32 lowest_bit(__u64 x)
{
	__u32 b = debruijn_bit[((x & -x) * 0x03f79d71b4cb0a89ULL) >> 58];

	/* clang knows the table holds 0-63 and would drop the mask the
	 * verifier needs to see. */
	asm volatile("" : "+r"(b));
	return b & 63;
}

/*
 * The rank of the highest-priority rule matching every dimension, or -1.
 * cand names every word that can hold a match (the words of rules matched
 * on their primary dimension, and of rules with no condition); the loop
 * ANDs only those, lowest first, and the first non-zero AND holds the
 * answer.
 */
static __always_inline int first_match(const struct bitvec **v, int ndims,
				       __u64 wild)
{
	__u64 cand = wild;

#pragma unroll
	for (int d = 0; d < NUM_DIMS; d++)
		if (d < ndims)
			cand |= v[d]->summary;

	for (int i = 0; i < VEC_WORDS && cand; i++) {
		__u32 w = lowest_bit(cand) & (VEC_WORDS - 1);
		__u64 m = ~0ULL;

		/* No summary names a word past the map's (Go's writes),
		 * and the map value ends there. */
		if (w >= vec_words)
			return -1;
#pragma unroll
		for (int d = 0; d < NUM_DIMS; d++)
			if (d < ndims)
				m &= v[d]->words[w];
		if (m)
			return w * 64 + lowest_bit(m);
		cand &= cand - 1;
	}
	return -1;
}

/*
 * The vectors of the first ndims dimensions' atoms, into v; 0 if one is
 * missing. An unused dimension's atom is 0, which its base in conf makes
 * the all-ones vector: no branch on whether a dimension is used, whose
 * two paths per dimension multiplied over fourteen were most of what the
 * verifier walked (469k instructions on 6.18).
 */
static __always_inline int fetch_vectors(const struct gen_config *conf, const __u16 *a,
					 const struct bitvec **v, int ndims)
{
	__u32 idx;

#pragma unroll
	for (int d = 0; d < NUM_DIMS; d++) {
		if (d < ndims) {
			idx = conf->vec_base[d] + a[d];
			v[d] = bpf_map_lookup_elem(&vectors, &idx);
			if (!v[d])
				return 0;
		}
	}
	return 1;
}

static __always_inline void count(void *map, __u32 key, __u64 bytes)
{
	struct counter *c = bpf_map_lookup_elem(map, &key);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/*
 * Copies the first n bytes of the frame, with what decided it, to ring,
 * at most max_rate records a second (0: no limit). Racy across CPUs by a
 * few records at a second's turn: a bound on the load, not an exact count.
 * A record is size bytes, the ring's own (capture_rec, log_rec): a
 * ring_rec and the frame's bytes after it, as many as the rest holds.
 */
static __always_inline int to_ring(void *ring, struct ring_stats *st,
				   __u32 size, struct xdp_md *ctx, __u32 len,
				   __u32 n, __u32 max_rate, __u32 action,
				   __u32 reason, __u32 rule_id)
{
	struct ring_rec *rec;
	__u64 now = bpf_ktime_get_ns();

	if (max_rate) {
		if (st->second != now / 1000000000) {
			st->second = now / 1000000000;
			st->in_second = 0;
		}
		if (st->in_second >= max_rate) {
			__sync_fetch_and_add(&st->limited, 1);
			return 0;
		}
		__sync_fetch_and_add(&st->in_second, 1);
	}
	rec = bpf_ringbuf_reserve(ring, size, 0);
	if (!rec) {
		__sync_fetch_and_add(&st->lost, 1);
		return 0;
	}
	if (n > len)
		n = len;
	if (n > size - sizeof(*rec))
		n = size - sizeof(*rec);
	if (n < 1)
		n = 1;
	rec->ts = now;
	rec->ifindex = ctx->ingress_ifindex;
	rec->len = len;
	rec->rule_id = rule_id;
	rec->action = action;
	rec->reason = reason;
	if (bpf_xdp_load_bytes(ctx, 0, rec + 1, n) < 0) {
		bpf_ringbuf_discard(rec, 0);
		return 0;
	}
	rec->caplen = n;
	bpf_ringbuf_submit(rec, 0);
	__sync_fetch_and_add(&st->taken, 1);
	return 0;
}

_Static_assert(__builtin_offsetof(struct capture_rec, data) == sizeof(struct ring_rec) &&
	       __builtin_offsetof(struct log_rec, data) == sizeof(struct ring_rec),
	       "to_ring writes a record's bytes right after its head");

/*
 * Copies the frame to capture_ring if the running capture selects it: by
 * verdict, interface and deciding rule. A global function, verified once
 * on its own, and called only while a capture runs.
 */
__noinline int capture(struct xdp_md *ctx, __u32 len, __u32 action,
		       __u32 reason, __u32 rule_id)
{
	struct capture_conf *c;
	struct ring_stats *st;
	void *ring;
	__u32 zero = 0, hit;

	if (!ctx)
		return 0;
	c = bpf_map_lookup_elem(&capture_conf, &zero);
	st = bpf_map_lookup_elem(&capture_stats, &zero);
	if (!c || !st)
		return 0;
	if (!(c->verdicts & (action == XDP_DROP ? CAPTURE_VERDICT_DROP : CAPTURE_VERDICT_PASS)))
		return 0;
	if (c->ifindex && c->ifindex != ctx->ingress_ifindex)
		return 0;
	if (c->nrules) {
		hit = 0;
		for (__u32 i = 0; i < CAPTURE_MAX_RULES; i++)
			if (i < c->nrules && c->rules[i] == rule_id && reason == REASON_RULE)
				hit = 1;
		if (!hit)
			return 0;
	}
	ring = bpf_map_lookup_elem(&capture_ring, &zero);
	if (!ring) {
		/* never by the protocol (the ring goes in before the bit goes
		 * on, out after it goes off); the verifier needs the check */
		__sync_fetch_and_add(&st->lost, 1);
		return 0;
	}
	return to_ring(ring, st, sizeof(struct capture_rec), ctx, len, c->snaplen,
		       c->max_rate, action, reason, rule_id);
}

/* Logs a frame its rule decided (RANK_LOG) to log_ring: a global
 * function, called only for such rules. */
__noinline int log_rule(struct xdp_md *ctx, __u32 len, __u32 action, __u32 rule_id)
{
	struct ring_stats *st;
	__u32 zero = 0;

	if (!ctx)
		return 0;
	st = bpf_map_lookup_elem(&log_stats, &zero);
	if (!st)
		return 0;
	return to_ring(&log_ring, st, sizeof(struct log_rec), ctx, len, LOG_BYTES,
		       LOG_MAX_RATE, action, REASON_RULE, rule_id);
}

/* The first of interface ifindex's NUM_OUTCOMES counters in iface_stats. */
static __always_inline __u32 iface_counters(__u32 ifindex)
{
	return (ifindex & (IFACE_STAT_SLOTS - 1)) * NUM_OUTCOMES;
}

static __always_inline int finish(struct xdp_md *ctx, __u32 act, __u32 action,
				  __u32 reason, __u32 rule_id, __u64 bytes, __u32 ct)
{
	/* One counter per frame: its interface's, for its outcome (the
	 * totals are their sums). */
	__u32 out = (action == XDP_DROP ? OUT_DROP_RULE : OUT_PASS_RULE) +
		    (reason == REASON_RULE ? 0 : reason == REASON_DEFAULT ? 1 : 2);

	if (act & ACTIVE_CAPTURE)
		capture(ctx, bytes, action, reason, rule_id);
	count(&iface_stats, iface_counters(ctx->ingress_ifindex) + out, bytes);

	if (trace_enabled) {
		__u32 zero = 0;
		struct trace *t = bpf_map_lookup_elem(&trace, &zero);

		if (t) {
			t->seq++;
			t->rule_id = rule_id;
			t->action = action;
			t->reason = reason;
			t->ct = ct;
		}
	}
	return action;
}

/* decide_all's atoms, one entry per CPU (see decide_all). */
struct atom_buf {
	__u16 a[NUM_DIMS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct atom_buf);
} atom_scratch SEC(".maps");

/* What decide decided. */
struct decision {
	__u32 action;
	__u32 reason;
	__u32 rule_id;
	__u32 counter;          /* rank_stats index, REASON_RULE only */
	__u32 flags;            /* RANK_*, REASON_RULE only */
};

/*
 * Parsing is a global function: the verifier checks it once, on its own,
 * and classification once after it, instead of checking classification
 * again for every distinct way parsing can end (which multiplies past its
 * limit). p->len must hold the frame length, which the caller knows how
 * to take; for a one-buffer frame it ends at data_end, so the scratch copy
 * for headers past the linear part is never used.
 */
__noinline int parse(struct xdp_md *ctx, struct pkt *p)
{
	struct frame f = { .ctx = ctx, .frags = 1 };

	if (!ctx || !p)
		return PARSE_MALFORMED;
	f.len = p->len;
	return parse_frame(&f, p);
}

/*
 * The frame length, and the frame parsed into p. A program without frags
 * is never handed a multi-buffer frame, so its length is data_end - data
 * and costs no helper call. Untagged IPv4, and untagged IPv6 without
 * extension headers, the common cases, are parsed inline: the call into
 * parse costs several ns, and the verifier accepts these paths inline
 * (all of parsing inline it refuses).
 */
static __always_inline int parse_pkt(struct xdp_md *ctx, struct pkt *p,
				     const int frags)
{
	struct frame f = { .ctx = ctx, .frags = frags };
	__u8 *h;

	if (frags)
		f.len = bpf_xdp_get_buff_len(ctx);
	else
		f.len = ctx->data_end - ctx->data;
	p->len = f.len;
	h = pkt_at(&f, 0, ETH_HLEN);
	if (!h)
		return parse(ctx, p);
	if (h[12] == (ETH_P_IP >> 8) && h[13] == (ETH_P_IP & 0xff)) {
		p->vlan[0] = VLAN_NONE;
		p->vlan[1] = VLAN_NONE;
		return parse_ipv4(&f, ETH_HLEN, p);
	}
	if (h[12] == (ETH_P_IPV6 >> 8) && h[13] == (ETH_P_IPV6 & 0xff) &&
	    (h = pkt_at(&f, ETH_HLEN + 6, 1)) && !is_ext_hdr(h[0])) {
		p->vlan[0] = VLAN_NONE;
		p->vlan[1] = VLAN_NONE;
		return parse_ipv6(&f, ETH_HLEN, p, 1);
	}
	return parse(ctx, p);
}

/*
 * Classify p in generation gen: the rank of the first matching rule into
 * out, or the neighbour / default decision. ndims is COMMON_DIMS when
 * conf->flags uses no other dimension (then the others would only AND
 * all-ones vectors), else NUM_DIMS. a: NUM_DIMS zeroed atoms to fill.
 */
static __always_inline void decide(const struct pkt *p, __u32 ifindex, __u32 act,
				   __u32 sets, const struct gen_config *conf, int ndims,
				   __u16 *a, struct decision *out)
{
	const struct bitvec *v[NUM_DIMS];
	__u32 gen = act & ACTIVE_RULES, idx;
	struct rank_entry *r;
	int rank = -1;

	/* No rules: nothing to look up (the policy decides). */
	if (conf->nrules) {
		const int fold = ndims == COMMON_DIMS;
		int solo = atoms(act, conf, p, ifindex, sets, a, ndims, fold);

		if (conf->flags & GF_SOLO)
			rank = fold ? solo : solo_match(p, a, ndims);
		else if (fetch_vectors(conf, a, v, ndims))
			rank = first_match(v, ndims, conf->wild_summary);
	}
	if (rank >= 0 && (__u32)rank < conf->nrules) {
		idx = gen * MAX_RULES + rank;
		r = bpf_map_lookup_elem(&ranks, &idx);
		if (r) {
			out->action = r->action;
			out->reason = REASON_RULE;
			out->rule_id = r->rule_id;
			out->counter = rank * NUM_GENS + gen;
			out->flags = r->flags;
			return;
		}
	}
	/* ARP and neighbour discovery are never locked out by the policy. */
	if (p->proto_key == PROTO_KEY_ARP || p->proto_key == PROTO_KEY_ND) {
		out->action = XDP_PASS;
		out->reason = REASON_NEIGHBOR;
		return;
	}
	out->action = conf->policy;
	out->reason = REASON_DEFAULT;
}

/*
 * decide over every dimension, as a global function: inline, the
 * fourteen dimensions' paths multiply with the five-dimension path's past
 * the verifier's limit. Only rulesets with the richer matches or sets pay
 * the call. sets: the set dimensions' keys and the ct state (see atoms).
 *
 * The atoms go to per-CPU scratch, not the stack: each of the fourteen
 * dimensions leaves its stack slot in one of several states (unused,
 * found, not found), which 6.1's verifier does not prune, and their
 * combinations multiplied through first_match past its limit. Read back
 * from a map value, every atom is one unknown number.
 */
__noinline int decide_all(const struct pkt *p, __u32 ifindex, __u32 act,
			  __u32 sets, struct decision *out)
{
	const struct gen_config *conf = conf_of(act);
	struct atom_buf *ab;
	__u32 zero = 0;

	if (!p || !out)
		return 0;
	ab = bpf_map_lookup_elem(&atom_scratch, &zero);
	if (!ab)
		return 0;
	__builtin_memset(ab, 0, sizeof(*ab));
	decide(p, ifindex, act, sets, conf, NUM_DIMS, ab->a, out);
	return 0;
}

/* Asks for generation gen's config line; see ask_ahead. */
static __always_inline void ask_conf(__u32 gen)
{
	(void)*(volatile const __u32 *)&conf_of(gen)->flags;
}

/*
 * Asks for both generations' config lines before `active` is read: which
 * one counts is known only once active's line arrives, and asking only
 * then puts two misses in a row. The values read here are thrown away:
 * the config is read again after active, as the generation protocol
 * needs, from a line already here or on its way. (The interface's
 * counters are not asked for: every frame writes them, so they are
 * cached whenever frames come often enough to matter; asking cost warm
 * frames 3% and cold ones nothing measurable.)
 */
static __always_inline void ask_ahead(void)
{
	/* Written out: a loop over the generations, with its volatile
	 * reads, is one clang keeps and the verifier of 6.1 and 6.12
	 * refuses as an infinite loop. */
	_Static_assert(NUM_GENS == 2, "one ask_conf per generation");
	ask_conf(0);
	ask_conf(1);
}

/* The program body, specialised by the constant frags. */
static __always_inline int run(struct xdp_md *ctx, const int frags)
{
	struct pkt p = {};
	struct decision d = { .action = XDP_PASS, .reason = REASON_DEFAULT };
	const struct gen_config *conf;
	__u32 act, gen, flags, ct = CT_NOT_LOOKED;

	/* The one read of the generation: everything below uses it. */
	ask_ahead();
	act = active_word;
	/* The config before the frame: the frame's first read waits for its
	 * cache line, written by another CPU, and the config's miss, issued
	 * first, is paid in the same wait rather than after it. */
	gen = act & ACTIVE_RULES;
	conf = conf_of(gen);
	flags = *(volatile const __u32 *)&conf->flags;
	if (parse_pkt(ctx, &p, frags) != PARSE_OK)
		return finish(ctx, act, XDP_DROP, REASON_MALFORMED, 0, p.len, CT_NOT_LOOKED);

	if (flags & GF_USE(DIM_CT))
		ct = ct_state(ctx, &p);
	if (flags & RARE_DIMS) {
		/* Set lookups run from here, not from decide_all: its stack
		 * and theirs would pass the 512-byte cap together. */
		__u32 sets = 0;

		if (flags & (GF_USE(DIM_SSET) | GF_USE(DIM_DSET)))
			sets = set_keys(&p, act);
		decide_all(&p, ctx->ingress_ifindex, act, sets | (ct & (CT_KEYS - 1)) << 16, &d);
	} else {
		__u16 a[NUM_DIMS] = {};

		decide(&p, ctx->ingress_ifindex, gen, (ct & (CT_KEYS - 1)) << 16, conf, COMMON_DIMS, a, &d);
	}
	/* A DHCP reply to this host's own request passes like ARP and ND:
	 * a drop policy must not cost it its lease. */
	if (d.reason == REASON_DEFAULT && d.action == XDP_DROP && dhcp_reply(&p)) {
		if (ct == CT_NOT_LOOKED)
			ct = ct_state(ctx, &p);
		if (ct == CT_ESTABLISHED) {
			d.action = XDP_PASS;
			d.reason = REASON_NEIGHBOR;
		}
	}
	if (d.reason == REASON_RULE) {
		count(&rank_stats, d.counter, p.len);
		if (d.flags & RANK_LOG)
			log_rule(ctx, p.len, d.action, d.rule_id);
	}
	return finish(ctx, act, d.action, d.reason, d.rule_id, p.len, ct);
}

/* Frames in one buffer: every interface whose MTU fits a page. */
SEC("xdp")
int xdpfw(struct xdp_md *ctx)
{
	return run(ctx, 0);
}

/* Multi-buffer (jumbo) frames too: interfaces with a larger MTU. */
SEC("xdp.frags")
int xdpfw_frags(struct xdp_md *ctx)
{
	return run(ctx, 1);
}

/* Never attached: Go runs it on the keys of flows it found timed out
 * (ctsweep.h). */
SEC("xdp")
int xdpfw_ct_sweep(struct xdp_md *ctx)
{
	return ct_sweep(ctx);
}

/*
 * Egress, for connection tracking: learns the flows of the packets this
 * host sends or forwards out of an interface XDP filters. It never
 * decides: -1 (TC_ACT_UNSPEC, TCX_NEXT) hands the packet on.
 */
SEC("tc")
int xdpfw_egress(struct __sk_buff *skb)
{
	struct pkt p = {};

	ct_learn(skb, &p);
	return -1;
}
