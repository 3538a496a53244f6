/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map layout shared by the datapath (xdpfw.c) and the control plane
 * (pkg/loader mirrors every constant here; a Go test checks they agree
 * with the compiled object).
 *
 * Every classifier table is generation-tagged: the control plane fills the
 * inactive generation completely, then flips `active` with one word write.
 * A packet reads `active` once and touches only entries of that generation,
 * so it sees the old or the new ruleset, never a mix.
 */
#ifndef XDPFW_LAYOUT_H
#define XDPFW_LAYOUT_H

#include <linux/types.h>

#define MAX_RULES   4096                 /* bits in a rule vector */
#define VEC_WORDS   (MAX_RULES / 64)
#define NUM_GENS    2

/* Classifier fields, in the order their vectors are laid out. */
enum field {
	FIELD_SRC = 0,
	FIELD_DST,
	FIELD_PROTO,
	FIELD_SPORT,
	FIELD_DPORT,
	NUM_FIELDS,
};

/*
 * Atom capacities per field and generation. An atom is an equivalence
 * class of field values that match exactly the same rules. Each rule adds
 * at most one prefix per address field (<= MAX_RULES+1 classes with the
 * "no match" class) and one port range (<= 2*MAX_RULES+1 elementary
 * intervals); protocol keys are a fixed domain.
 */
#define ADDR_ATOMS  (MAX_RULES + 1)
#define PROTO_KEYS  259                  /* 0..255, then the pseudo keys below */
#define PORT_ATOMS  (2 * MAX_RULES + 1)

#define PROTO_KEY_NONIP 256              /* not IPv4/IPv6, not ARP */
#define PROTO_KEY_ND    257              /* ICMPv6 neighbour discovery */
#define PROTO_KEY_ARP   258

#define VEC_BASE_SRC    0
#define VEC_BASE_DST    (VEC_BASE_SRC + ADDR_ATOMS)
#define VEC_BASE_PROTO  (VEC_BASE_DST + ADDR_ATOMS)
#define VEC_BASE_SPORT  (VEC_BASE_PROTO + PROTO_KEYS)
#define VEC_BASE_DPORT  (VEC_BASE_SPORT + PORT_ATOMS)
#define VEC_PER_GEN     (VEC_BASE_DPORT + PORT_ATOMS)

/*
 * Port atoms come in chunks of 256 ports, so a commit writes 256 map
 * values per direction instead of 65536 (batch updates cost per entry).
 * PORT_ATOMS fits a __u16.
 */
#define PORT_CHUNK      256
#define PORT_CHUNKS     (65536 / PORT_CHUNK)
struct port_chunk {
	__u16 atom[PORT_CHUNK];
};

/* Address table keys carry a tag byte: generation | direction << 1. */
#define ADDR_TAG(gen, dir) ((gen) | ((dir) << 1))
#define ADDR_ENTRIES    (NUM_GENS * 2 * MAX_RULES)

/* gen_conf.flags: which address tables hold entries (skip empty lookups). */
#define GF_SRC4_HOST (1u << 0)
#define GF_SRC4_LPM  (1u << 1)
#define GF_SRC6_HOST (1u << 2)
#define GF_SRC6_LPM  (1u << 3)
#define GF_DST4_HOST (1u << 4)
#define GF_DST4_LPM  (1u << 5)
#define GF_DST6_HOST (1u << 6)
#define GF_DST6_LPM  (1u << 7)
#define GF_PORTS     (1u << 8)   /* some rule matches a port */

/* Per-verdict counters (verdict_stats index). */
enum stat {
	STAT_PASS = 0,      /* every passed frame */
	STAT_DROP,          /* every dropped frame */
	STAT_DEFAULT,       /* decided by the default policy */
	STAT_MALFORMED,     /* failed header validation (dropped) */
	STAT_NEIGHBOR,      /* ARP / IPv6 ND passed because no rule named it */
	NUM_STATS,
};

/* Why a frame got its verdict (trace output for replay). */
enum reason {
	REASON_RULE = 1,
	REASON_DEFAULT,
	REASON_MALFORMED,
	REASON_NEIGHBOR,
};

/*
 * words: bit r set iff the rule ranked r accepts this field value.
 * summary: bit w set iff words[w] holds a rule whose *primary* field this
 * is (see docs/design.md): every matching rule is found in the summary of
 * its primary field, so OR-ing the summaries names every word that can
 * hold a match, and usually very few.
 */
struct bitvec {
	__u64 summary;
	__u64 words[VEC_WORDS];
};

struct gen_conf {
	__u32 policy;               /* XDP_PASS or XDP_DROP */
	__u32 nrules;
	__u32 flags;                /* GF_* */
	__u32 pad;
	__u64 wild_summary;         /* words holding rules with no condition */
};

struct rank_entry {
	__u32 rule_id;
	__u32 slot;                 /* index into rule_stats */
	__u32 action;               /* XDP_PASS or XDP_DROP */
	__u32 pad;
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct addr4_host_key {
	__u32 tag;
	__u8 addr[4];
};

struct addr6_host_key {
	__u32 tag;
	__u8 addr[16];
};

/* LPM keys: the tag byte is part of the matched data, so a lookup with
 * prefixlen 8+32 (or 8+128) only finds prefixes of its own tag. */
struct addr4_lpm_key {
	__u32 prefixlen;
	__u8 tag;
	__u8 addr[4];
} __attribute__((packed));

struct addr6_lpm_key {
	__u32 prefixlen;
	__u8 tag;
	__u8 addr[16];
} __attribute__((packed));

/* Live ruleset storage: one JSON document per rule, per generation. */
#define RULE_DEF_BYTES 500
struct rule_def_key {
	__u32 gen;
	__u32 id;
};

struct rule_def {
	__u32 len;
	__u8 data[RULE_DEF_BYTES];
};

#define META_MAGIC   0x78647066u   /* "xdpf" */
#define META_VERSION 2
struct meta {
	__u32 magic;
	__u32 version;
	__u32 next_id;
	__u32 pad;
};

struct iface {
	__u32 mode;                 /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	__u32 pad;
	char name[16];
};

struct trace {
	__u32 seq;                  /* incremented per frame: proves the run wrote it */
	__u32 rule_id;
	__u32 action;
	__u32 reason;
};

#endif
