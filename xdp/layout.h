/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map layout shared by the datapath (xdpfw.c) and the control plane.
 * Go reads it from here: pkg/layout is generated from the BTF of the
 * enums and structs layout.c names (see docs/design.md, "One source of
 * truth"), so every constant Go needs is an enumerator, not a #define.
 *
 * Every classifier table is generation-tagged: the control plane fills the
 * inactive generation completely, then flips `active` with one word write.
 * A packet reads `active` once and touches only entries of that generation,
 * so it sees the old or the new ruleset, never a mix.
 */
#ifndef XDPFW_LAYOUT_H
#define XDPFW_LAYOUT_H

#include <linux/types.h>

enum limits {
	MAX_RULES       = 4096,             /* bits in a rule vector */
	VEC_WORDS       = MAX_RULES / 64,
	NUM_GENS        = 2,
	/* Per-interface verdict counters: slot ifindex % IFACE_STAT_SLOTS,
	 * NUM_OUTCOMES counters each (iface_stats). */
	IFACE_STAT_SLOTS = 256,
};

/*
 * Classifier dimensions, in the order their vectors are laid out. Each
 * dimension maps one packet property to an atom, and each atom to the
 * vector of rules that accept it; a rule matches when it is in all of them.
 */
enum dim {
	DIM_SRC = 0,
	DIM_DST,
	DIM_PROTO,      /* family, fragment class and L4 protocol together */
	DIM_SPORT,
	DIM_DPORT,
	/* Connection-tracking state (enum ct_state): with the five above, the
	 * dimensions a host firewall's rulesets use, which the datapath
	 * classifies inline (COMMON_DIMS). */
	DIM_CT,
	DIM_L4,         /* TCP flags, or ICMP/ICMPv6 type << 8 | code */
	DIM_VLAN,       /* outer VLAN id, VLAN_NONE when untagged */
	DIM_IVLAN,      /* inner VLAN id, VLAN_NONE without a second tag */
	DIM_DSCP,
	DIM_TTL,        /* TTL or hop limit */
	DIM_LEN,        /* frame length in bytes */
	DIM_IFACE,      /* input interface */
	DIM_SSET,       /* membership of the source in the referenced sets */
	DIM_DSET,       /* the same for the destination */
	NUM_DIMS,
};

/*
 * The protocol dimension's key: for IP frames
 *   (frag * 2 + is_ipv6) * PROTO_SPAN + protocol
 * where protocol 256 stands for neighbour discovery (ICMPv6 133-137), and
 * two keys after those for non-IP frames and ARP. Folding family and
 * fragment class in here costs no lookup of their own.
 */
enum proto_keys {
	FRAG_NONE       = 0,
	FRAG_FIRST      = 1,
	FRAG_LATER      = 2,
	PROTO_SPAN      = 257,
	PROTO_ND        = 256,
	PKEY_NONIP      = 6 * PROTO_SPAN,
	PKEY_ARP        = PKEY_NONIP + 1,
	PROTO_KEYS      = PKEY_ARP + 1,

	/* parse.h's proto_key for frames that are not plain IP protocols. */
	PROTO_KEY_NONIP = 256,              /* not IPv4/IPv6, not ARP */
	PROTO_KEY_ND    = 257,              /* ICMPv6 neighbour discovery */
	PROTO_KEY_ARP   = 258,
};

/* The key counts of the other value dimensions. */
enum value_keys {
	VLAN_NONE       = 4096,
	VLAN_KEYS       = 4097,             /* ids 0-4095 and VLAN_NONE */
	U16_KEYS        = 65536,            /* ports, TCP flags/ICMP, length */
	DSCP_KEYS       = 64,
	TTL_KEYS        = 256,
	CT_KEYS         = 16,               /* enum ct_state values */
};

/*
 * Atom capacities per dimension and generation. An atom is an equivalence
 * class of values that match exactly the same rules. Each rule adds at
 * most one prefix per address field (<= MAX_RULES+1 classes with the
 * "no match" class) and one range per range field (<= 2*MAX_RULES+1
 * elementary intervals). Small domains are bounded by their key count.
 * TCP flag and ICMP code sets are not ranges, so L4 gets more room, and
 * Compile refuses a ruleset that needs more classes than a dimension has.
 */
enum atoms {
	ADDR_ATOMS      = MAX_RULES + 1,
	RANGE_ATOMS     = 2 * MAX_RULES + 1,
	L4_ATOMS        = 4 * MAX_RULES + 1,
	DSCP_ATOMS      = DSCP_KEYS + 1,
	TTL_ATOMS       = TTL_KEYS + 1,
	IFACE_ATOMS     = 1025,
	/* A set dimension's key has bit j set when the address is in the j-th
	 * set the ruleset references in that direction. */
	MAX_SET_REFS    = 8,
	SET_KEYS        = 1 << MAX_SET_REFS,
	CT_ATOMS        = CT_KEYS + 1,
};

/* Each dimension's atom capacity, cumulated in dimension order: the
 * classifier refuses a ruleset that needs more atoms than a dimension's
 * room (the next one's base minus its own). */
enum atom_base {
	ATOM_BASE_SRC   = 0,
	ATOM_BASE_DST   = ATOM_BASE_SRC + ADDR_ATOMS,
	ATOM_BASE_PROTO = ATOM_BASE_DST + ADDR_ATOMS,
	ATOM_BASE_SPORT = ATOM_BASE_PROTO + PROTO_KEYS,
	ATOM_BASE_DPORT = ATOM_BASE_SPORT + RANGE_ATOMS,
	ATOM_BASE_CT    = ATOM_BASE_DPORT + RANGE_ATOMS,
	ATOM_BASE_L4    = ATOM_BASE_CT + CT_ATOMS,
	ATOM_BASE_VLAN  = ATOM_BASE_L4 + L4_ATOMS,
	ATOM_BASE_IVLAN = ATOM_BASE_VLAN + VLAN_KEYS,
	ATOM_BASE_DSCP  = ATOM_BASE_IVLAN + VLAN_KEYS,
	ATOM_BASE_TTL   = ATOM_BASE_DSCP + DSCP_ATOMS,
	ATOM_BASE_LEN   = ATOM_BASE_TTL + TTL_ATOMS,
	ATOM_BASE_IFACE = ATOM_BASE_LEN + RANGE_ATOMS,
	ATOM_BASE_SSET  = ATOM_BASE_IFACE + IFACE_ATOMS,
	ATOM_BASE_DSET  = ATOM_BASE_SSET + SET_KEYS,
	ATOMS_PER_GEN   = ATOM_BASE_DSET + SET_KEYS,
};

/*
 * The rule vectors (map `vectors`), sized to the ruleset. A vector is a
 * summary word, then a bit per rule (struct bitvec): bit r of the words is
 * set iff the rule ranked r accepts the atom. The map's values hold the
 * first vec_words words of it, so a 576-rule ruleset's vector is 16 words
 * and a 4096-rule one's 65; vec_words (the program's read-only variable)
 * is set from the map when the program is loaded.
 *
 * Go packs a generation's vectors, dimension after dimension of those in
 * use (gen_conf.vec_base[d]: the entry of dimension d's atom 0), then an
 * all-ones vector with a zero summary, at which the unused dimensions'
 * bases point: their atoms stay 0, so they cost an entry that is always
 * cached and change no AND. The map grows with the ruleset: more entries,
 * or more words, mean a new map and the programs loaded again on it
 * (pkg/loader/grow.go).
 */
enum vec_sizes {
	VEC_ENTRIES_MIN = 1024,             /* a new state's map */
	/* Words a vector holds: 7 (a 64-byte value) up to 448 rules, then
	 * whole lines more, and VEC_WORDS from 4032 rules on. */
	VEC_WORDS_MIN   = 7,
};

/*
 * Value dimensions keep their atoms in chunks of 256 u16s, so a commit
 * writes a map value per 256 keys instead of one per key (batch updates
 * cost per entry). Every capacity above fits a u16.
 *
 * value_atoms is sized to the ruleset: generation gen's chunks are the
 * chunks_per_gen entries from gen * chunks_per_gen (the program's
 * read-only variable, set from the map's size when it is loaded). The
 * chunks of the common dimensions, and of the rare ones that take a
 * chunk or two, are at their CHUNK_BASE, always (the common path reads
 * nothing to find them); those of the large rare ones in use (L4, the
 * VLANs, length) follow, packed in dimension order, at
 * gen_conf.chunk_base[d]. The map grows (pkg/loader/grow.go) when a
 * generation's need more room.
 */
#define CHUNKS(keys)    (((keys) + CHUNK - 1) / CHUNK)
enum chunk_base {
	CHUNK            = 256,
	/* The common dimensions, and the rare ones of a chunk or two, in
	 * every generation's part: */
	CHUNK_BASE_PROTO = 0,
	CHUNK_BASE_SPORT = CHUNK_BASE_PROTO + CHUNKS(PROTO_KEYS),
	CHUNK_BASE_DPORT = CHUNK_BASE_SPORT + CHUNKS(U16_KEYS),
	CHUNK_BASE_CT    = CHUNK_BASE_DPORT + CHUNKS(U16_KEYS),
	CHUNK_BASE_DSCP  = CHUNK_BASE_CT + CHUNKS(CT_KEYS),
	CHUNK_BASE_TTL   = CHUNK_BASE_DSCP + CHUNKS(DSCP_KEYS),
	CHUNK_BASE_SSET  = CHUNK_BASE_TTL + CHUNKS(TTL_KEYS),
	CHUNK_BASE_DSET  = CHUNK_BASE_SSET + CHUNKS(SET_KEYS),
	CHUNKS_COMMON    = CHUNK_BASE_DSET + CHUNKS(SET_KEYS),
	/* the large rare ones, where they are when all are in use: */
	CHUNK_BASE_L4    = CHUNKS_COMMON,
	CHUNK_BASE_VLAN  = CHUNK_BASE_L4 + CHUNKS(U16_KEYS),
	CHUNK_BASE_IVLAN = CHUNK_BASE_VLAN + CHUNKS(VLAN_KEYS),
	CHUNK_BASE_LEN   = CHUNK_BASE_IVLAN + CHUNKS(VLAN_KEYS),
	CHUNKS_PER_GEN   = CHUNK_BASE_LEN + CHUNKS(U16_KEYS),
};
struct atom_chunk {
	__u16 atom[CHUNK];
};

/* Address table keys carry a tag byte: generation | direction << 1. */
#define ADDR_TAG(gen, dir) ((gen) | ((dir) << 1))
enum addr_limits {
	ADDR_ENTRIES    = NUM_GENS * 2 * MAX_RULES,
	/*
	 * The prefixes of the longest ADDR_HASH_LENS lengths a direction's
	 * rules name in a family go to that family's buckets (below), and
	 * are probed longest first; only the shorter ones go to the LPM
	 * trie. A probe is one cache line, where a trie walk is a cache miss
	 * per level (about 12 for 4096 prefixes), and rulesets name few
	 * lengths.
	 */
	ADDR_HASH_LENS  = 4,
};

/*
 * The address buckets (maps addr4_host, addr6_host): per generation and
 * family, buckets of one cache line, which the program probes inline (no
 * helper call, no jhash). Go builds a generation's buckets whole at each
 * commit, placing every key in one of its two buckets (cuckoo hashing:
 * ADDR_HASH1 or ADDR_HASH2 of the key word, its top bits the bucket);
 * ADDR_B_OVERFLOW on a bucket says some key whose first bucket it is
 * sits in its second, so a miss reads one bucket unless so flagged.
 *
 * Each family's map is sized to the ruleset (layout 16): generation
 * gen's buckets are the 1 << bits from gen << bits, where bits
 * (addr4_bits, addr6_bits: read-only variables of the program, set from
 * the maps' sizes when it is loaded) keeps a generation's keys at most
 * half the slots, from ADDR_BUCKET_BITS_MIN (a new state's) to
 * ADDR_BUCKET_BITS, where 2 * MAX_RULES keys fill at most 29% of the
 * IPv4 slots and 67% of the IPv6 ones. A commit whose keys need more
 * grows the map (pkg/loader/grow.go).
 */
enum addr_buckets {
	ADDR_BUCKET_BITS_MIN = 6,
	ADDR_BUCKET_BITS = 12,
	ADDR_BUCKETS     = 1 << ADDR_BUCKET_BITS,
	ADDR4_SLOTS      = 7,
	ADDR6_SLOTS      = 3,
	ADDR_B_OVERFLOW  = 1,
	ADDR_SLOT_USED   = 0x80,            /* in a slot's tag byte */
};
/* The multipliers of the buckets' hashes (64-bit enumerators, so Go
 * reads them from BTF too).
 *
 * The hashes are seeded by the generation's gen_config.addr_seed, s,
 * taken as the word S = s | s << 32. Hashed by public constants alone,
 * addresses can be picked whose keys share both buckets at every map
 * size: an IPv6 key folds its 128 bits to one word (the first half times
 * ADDR_HASH6, XOR the second half and the head), so whoever holds a /48
 * can pick a /128 in each of its /64s whose second half cancels the
 * first's product, all folding to one word, and no commit could place a
 * rule for each of a few of them. An IPv4 key's word is XORed with S
 * before its two hashes; an IPv6 key's first half is multiplied by
 * ADDR_HASH6 ^ S << 1 (odd, as ADDR_HASH6 is), which the sender cannot
 * know, so it cannot cancel the product. Keys of one /64 differ by their
 * second halves, but their heads too (direction and length): seeded, the
 * head is XORed into the first half before the multiply, or a second half
 * could cancel the heads' difference, and eight rules of one /64 (four
 * lengths, both directions) folded to one word at every seed. A commit
 * that cannot place its keys draws another seed, up to eight: a list made
 * to crowd one seed's buckets does not crowd the next. The multiplier and
 * the head's mask (keep: whether there is a seed) are made once per
 * address looked up, not in each probe (docs/design.md has what the
 * alternatives cost). Seed 0 adds nothing: the hash of the generations of
 * layout 18. */
enum addr_hash {
	ADDR_HASH1 = 0x9E3779B97F4A7C15ULL,
	ADDR_HASH2 = 0xC2B2AE3D27D4EB4FULL,
	ADDR_HASH6 = 0x165667B19E3779F9ULL,
};

/* A slot: the key (tag | ADDR_SLOT_USED, length, address masked to it)
 * and its atom. */
struct addr4_slot {
	__u8 tag;
	__u8 len;
	__u16 atom;
	__u8 addr[4];
};

struct addr4_bucket {
	__u32 flags;                        /* ADDR_B_* */
	__u32 pad;
	struct addr4_slot slot[ADDR4_SLOTS];
};

struct addr6_slot {
	__u8 tag;
	__u8 len;
	__u16 atom;
	__u8 addr[16];
};

struct addr6_bucket {
	__u32 flags;
	struct addr6_slot slot[ADDR6_SLOTS];
};

/* gen_conf.flags: which address tables hold entries (skip empty lookups),
 * and which dimensions some rule uses (the others use the all-ones vector). A HOST
 * flag: the family's buckets hold prefixes (of gen_conf.hash_lens). */
enum gen_flags {
	GF_SRC4_HOST    = 1 << 0,
	GF_SRC4_LPM     = 1 << 1,
	GF_SRC6_HOST    = 1 << 2,
	GF_SRC6_LPM     = 1 << 3,
	GF_DST4_HOST    = 1 << 4,
	GF_DST4_LPM     = 1 << 5,
	GF_DST6_HOST    = 1 << 6,
	GF_DST6_LPM     = 1 << 7,
	GF_USE_SHIFT    = 8,                /* GF_USE(dim): dim used */
	/* Every rule sets conditions on one dimension only: each stored
	 * atom is instead the rank + 1 of the first rule on its dimension
	 * accepting the value (0: none), and no vector is read. */
	GF_SOLO         = 1 << 30,
};
#define GF_USE(dim)  (1u << (GF_USE_SHIFT + (dim)))

/* iface_atoms key: an input interface in one generation. */
struct iface_key {
	__u32 gen;
	__u32 ifindex;
};

/* Per-verdict counters (verdict_stats: the counts of layouts before 8,
 * and of interface slots reused since). */
enum stat {
	STAT_PASS = 0,      /* every passed frame */
	STAT_DROP,          /* every dropped frame */
	STAT_DEFAULT,       /* decided by the default policy */
	STAT_MALFORMED,     /* failed header validation (dropped) */
	STAT_NEIGHBOR,      /* ARP / IPv6 ND passed because no rule named it */
	NUM_STATS,
};

/* What a frame counts in, per interface slot (iface_stats index
 * slot * NUM_OUTCOMES + outcome): its verdict and why, one entry per
 * frame; the stats above are sums of them. Each verdict's three are
 * rule, default, then neighbor (pass) or malformed (drop). */
enum outcome {
	OUT_PASS_RULE = 0,
	OUT_PASS_DEFAULT,
	OUT_PASS_NEIGHBOR,
	OUT_DROP_RULE,
	OUT_DROP_DEFAULT,
	OUT_DROP_MALFORMED,
	NUM_OUTCOMES,
};

/* Why a frame got its verdict (trace output for replay). */
enum reason {
	REASON_RULE = 1,
	REASON_DEFAULT,
	REASON_MALFORMED,
	REASON_NEIGHBOR,
};

/*
 * words: bit r set iff the rule ranked r accepts this field value (the
 * map holds the first vec_words of them).
 * summary: bit w set iff words[w] holds a rule whose *primary* field this
 * is (see docs/design.md): every matching rule is found in the summary of
 * its primary field, so OR-ing the summaries names every word that can
 * hold a match, and usually very few.
 */
struct bitvec {
	__u64 summary;
	__u64 words[VEC_WORDS];
};

/* ct_conf.timeout[] (and gen_config.ct_timeout[]) indexes, and their
 * defaults in seconds (nftables'), used while an entry is 0. */
enum ct_timeout {
	CT_TO_SYN_SENT = 0,
	CT_TO_ESTABLISHED,
	CT_TO_CLOSING,
	CT_TO_CLOSE,
	CT_TO_UDP,                          /* sent, never answered */
	CT_TO_UDP_REPLIED,
	CT_TO_ICMP,
	CT_TO_GENERIC,
	CT_TO_FRAGMENT,                     /* a datagram's first fragment to its last */
	CT_TO_SYN_RECV,
	NUM_CT_TIMEOUTS,

	CT_DEF_SYN_SENT    = 120,
	CT_DEF_ESTABLISHED = 432000,        /* five days */
	CT_DEF_CLOSING     = 120,
	CT_DEF_CLOSE       = 10,
	CT_DEF_UDP         = 30,
	CT_DEF_UDP_REPLIED = 120,
	CT_DEF_ICMP        = 30,
	CT_DEF_GENERIC     = 600,
	CT_DEF_FRAGMENT    = 30,
	CT_DEF_SYN_RECV    = 60,
};

/*
 * A generation's config. Every packet reads it, so what the common path
 * needs (up to the fifth common dimension's vec_base) is its first 64
 * bytes, one cache line: the map is BPF_F_MMAPABLE, which starts its
 * values on a page (a plain array's start 56 bytes into a line on 6.18),
 * and the size is whole lines. The sets' slots, the rare dimensions'
 * bases and vec_end come after.
 */
struct gen_config {
	__u16 policy;               /* XDP_PASS or XDP_DROP */
	__u16 nrules;               /* <= MAX_RULES */
	__u32 flags;                /* GF_* */
	/* The prefix lengths in the address buckets, longest first, per
	 * table: index dir * 2 + (family == 6); hash_nlens[t] of them. */
	__u8 hash_nlens[4];
	/* The seed of the generation's address buckets (enum addr_hash),
	 * drawn at random by Go at each commit; 0: unseeded. */
	__u32 addr_seed;
	__u64 wild_summary;         /* words holding rules with no condition */
	__u8 hash_lens[4][ADDR_HASH_LENS];
	/* The vectors (enum vec_sizes): the entry of each dimension's atom
	 * 0, and (Go's alone) the first entry past them. */
	__u32 vec_base[NUM_DIMS];
	__u32 vec_end;
	/* the set slots the rules reference, per direction (src, dst): bit j
	 * of a set dimension's key is membership in set_slot[dir][j] */
	__u32 nsets[2];
	__u32 set_slot[2][MAX_SET_REFS];
	/* Where each value dimension's chunks start in the generation's part
	 * of value_atoms (enum chunk_base): read for the rare ones only. */
	__u32 chunk_base[NUM_DIMS];
	/* Go's: 1 + the ruleset's conntrack max-flows as its file said it
	 * (1: none), switched with the rules, so the live ruleset reads back
	 * what was applied whatever size a resize cut short left the table;
	 * 0 in a config of layout 18, whose table's size says it. */
	__u32 ct_max_flows;
	/* Go's: the ruleset's conntrack timeouts (0: the default), switched
	 * with the rules, which ct_conf, the datapath's copy, follows: Go
	 * writes it after the switch, and the next change writes it again
	 * when a death between left it behind. None in a config of layout
	 * 18 (ct_max_flows 0), whose ct_conf says them. */
	__u32 ct_timeout[NUM_CT_TIMEOUTS];
	__u32 pad[10];              /* to whole cache lines */
};

/* gen_conf's one value: both generations' configs, which a packet reads
 * by address (no lookup), indexing by its generation. */
struct gen_configs {
	struct gen_config gen[NUM_GENS];
};


/*
 * `active`: bit 0 is the rules' generation, bit 1 the sets'. Set contents
 * change in place (a million prefixes cannot be copied per change), so
 * every set element carries its answer for both set generations: a
 * change writes the inactive generation's bits, flips bit 1, waits for
 * packets in flight, and copies the bits across. A packet reads `active`
 * once, so it sees every set as it was before the change or after it.
 */
enum active_bits {
	ACTIVE_RULES    = 1,
	ACTIVE_SETS     = 2,
	/* A capture runs: finish copies the frames capture_conf selects
	 * into capture_ring. Flipped on its own, never with the others. */
	ACTIVE_CAPTURE  = 1 << 16,
};

/*
 * `xdpfw capture`: what the datapath copies, and how it went. Read only
 * while `active` has ACTIVE_CAPTURE, so no capture costs nothing but the
 * bit test on the word every packet reads anyway.
 */
enum capture_limits {
	CAPTURE_MAX_BYTES    = 2048,        /* the most of a frame a record holds */
	CAPTURE_MAX_RULES    = 16,          /* rule ids one capture can name */
	CAPTURE_RING_BYTES   = 1 << 20,     /* ~500 records: the reader drains it as it fills */
	CAPTURE_VERDICT_PASS = 1,
	CAPTURE_VERDICT_DROP = 2,
};

struct capture_conf {
	__u32 verdicts;             /* CAPTURE_VERDICT_* bits */
	__u32 ifindex;              /* 0: every interface */
	__u32 snaplen;              /* 1..CAPTURE_MAX_BYTES */
	__u32 max_rate;             /* records per second; 0: no limit */
	__u32 owner;                /* pid of the capturing process */
	__u32 nrules;               /* 0: every frame the verdicts select */
	__u32 rules[CAPTURE_MAX_RULES];  /* else only frames these rules decide */
};

/* A ring's counters (capture_stats, log_stats), written by the datapath
 * with atomic adds; a capture's are zeroed when it starts. */
struct ring_stats {
	__u64 second;               /* the second in_second counts */
	__u64 in_second;            /* records taken in that second */
	__u64 taken;
	__u64 lost;                 /* the ring was full */
	__u64 limited;              /* over max_rate */
};

/* What a ring's record says of its frame: the head of capture_rec and
 * log_rec, each sized for its ring, the frame's bytes right after it. */
struct ring_rec {
	__u64 ts;                   /* bpf_ktime_get_ns() */
	__u32 ifindex;
	__u32 len;                  /* the frame's length */
	__u32 caplen;               /* bytes of it in data */
	__u32 rule_id;              /* 0 unless reason is REASON_RULE */
	__u32 action;               /* XDP_PASS or XDP_DROP */
	__u32 reason;               /* REASON_* */
};

struct capture_rec {
	struct ring_rec head;
	__u8 data[CAPTURE_MAX_BYTES];
};

/* Named sets: slot -> inner maps (per family, hosts in a hash, shorter
 * prefixes in an LPM trie), all of element -> SET_* flags. MEMBER(g): an
 * address whose longest match is this entry is in the set in set
 * generation g (the entry or a shorter one covering it is an element).
 * ELEM(g): the entry itself is an element in generation g. */
enum set_limits {
	MAX_SETS        = 256,
	SET_HOST_ENTRIES = 1024,            /* the host hashes' template size */
	SET_LPM_ENTRIES = 1 << 24,
	SET_MEMBER_SHIFT = 0,
	SET_ELEM_SHIFT  = 2,
};
#define SET_MEMBER(g)   (1u << (SET_MEMBER_SHIFT + (g)))
#define SET_ELEM(g)     (1u << (SET_ELEM_SHIFT + (g)))

/* An element's value: its flags, and its prefix length, so the control
 * plane can tell which entry a longest-prefix lookup found. */
struct set_val {
	__u8 flags;
	__u8 len;
};

struct set4_key {
	__u8 addr[4];
};

struct set6_key {
	__u8 addr[16];
};

/*
 * A set's IPv4 entries of up to SET_BKT_LENS lengths (most often hosts
 * and /24s, what threat feeds list) sit in an array of 64-byte buckets,
 * the inner map of set4_bkt in the set's slot: a probe is one cache
 * line where the trie walks a node per bit of the match (20 misses a
 * packet in a 1M-entry set), and an entry costs 8 bytes of a slot where
 * a hash element costs 72. Element 0 is the head (struct set_bkt_head),
 * buckets 1..nbuckets follow. Go places every key in one of its two
 * buckets (SET_BKT_HASH1/2 of its slot word, reduced to nbuckets), and
 * writes slots through a shared mapping with one 8-byte store each, so a
 * packet sees a slot whole, before or after. A key sits in its second
 * bucket only when its first was full, and Go flags that first bucket
 * (SET_BKT_OVERFLOW) before it writes the key: a miss reads one line
 * unless so flagged. Entries never move within an array: a key that
 * finds both buckets full makes Go build the set a new array with all
 * its keys (cuckoo placement) and swap it into the slot, as it does to
 * grow. The other lengths go to the set's trie, which a packet walks
 * only when the head says it may hold a longer match than the buckets
 * gave. A set of an earlier layout has no arrays (its slots are empty)
 * and keeps its hosts in set4_host and set6_host, all else in the tries.
 */
enum set_bkt_consts {
	SET_BKT_LENS     = 4,
	SET_BKT_SLOTS    = 7,
	SET6_BKT_SLOTS   = 2,
	SET_BKT_USED     = 0x80,            /* in an IPv4 slot's len byte */
	SET6_SLOT_USED   = 1,               /* an IPv6 slot's state */
	SET6_SLOT_TOMB   = 2,               /* deleted: not a key, not free */
	SET_BKT_OVERFLOW = 1,               /* in a bucket's flags */
	SET_BKT_MIN      = 16,              /* the fewest buckets an array has */
	SET_BKT_MAX      = 1 << 24,         /* the most (1 GiB) */
};
enum set_bkt_hash {
	SET_BKT_HASH1 = 0x9E3779B97F4A7C15ULL,
	SET_BKT_HASH2 = 0xC2B2AE3D27D4EB4FULL,
	SET_BKT_HASH6 = 0x165667B19E3779F9ULL,
	/* the multipliers of the seeded mix of an IPv6 key's first half
	 * (MurmurHash3's 64-bit finalizer) */
	SET_BKT_MIX1  = 0xFF51AFD7ED558CCDULL,
	SET_BKT_MIX2  = 0xC4CEB9FE1A85EC53ULL,
};

/* A slot, one little-endian word: the address masked to len, len |
 * SET_BKT_USED, the entry's SET_* flags. An empty slot is zero. */
struct set4_slot {
	__u8 addr[4];
	__u8 len;
	__u8 flags;
	__u8 pad[2];
};

struct set4_bucket {
	__u64 flags;                        /* SET_BKT_OVERFLOW */
	struct set4_slot slot[SET_BKT_SLOTS];
};

/*
 * The IPv6 entries of up to SET_BKT_LENS lengths go to a bucket array of
 * their own (set6_bkt), two 3-word slots a bucket: a word with the
 * length, the flags and the slot's state, then the masked address. A
 * slot spans words, so Go writes the address before the first word and
 * never reuses a slot while the array lives: a deleted slot's state
 * becomes SET6_SLOT_TOMB (no longer a key), and only a new array drops it,
 * but for the key whose address it holds, which takes it back.
 * A packet reads the first word, then the address: a key it sees marked
 * used has its address written.
 */
struct set6_slot {
	__u8 len;
	__u8 flags;
	__u8 state;                         /* SET6_SLOT_*; 0: free */
	__u8 pad[5];
	__u8 addr[16];
};

struct set6_bucket {
	__u64 flags;                        /* SET_BKT_OVERFLOW */
	struct set6_slot slot[SET6_BKT_SLOTS];
	__u64 pad;
};

/* Element 0 of a bucket array. lens and trie_max only grow while the
 * array lives (each one byte, written before the entries it admits).
 *
 * seed: chosen at random by Go when it makes the array and fixed for its
 * life, so which keys share buckets is unknowable to whoever writes a
 * list. An IPv4 key's slot word is XORed with it before its two hashes.
 * An IPv6 key is folded from 128 bits to the word its buckets come from;
 * folded by public constants alone, a list can be made of keys folding
 * to one word, which share their buckets at every array size, so a feed
 * of a few such addresses could never be loaded: the seeded mix of the
 * address's first half is XORed into the fold. Zero (the arrays of
 * layout 18, kept across a migration) adds nothing: the hashes those
 * were placed by. */
struct set_bkt_head {
	__u32 nbuckets;                     /* buckets after the head */
	__u8 lens[SET_BKT_LENS];            /* lengths in the buckets, 0 ends */
	__u8 trie_max;                      /* 1 + the longest length the trie may hold; 0: empty */
	__u8 pad[3];
	__u32 count;                        /* Go's: keys in the buckets */
	__u32 tombs;                        /* Go's: deleted IPv6 slots */
	__u32 pad2;
	__u64 seed;                         /* the hashes' seed; 0: none */
	__u8 rest[32];
};

struct set4_lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct set6_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct rank_entry {
	__u32 rule_id;
	__u32 slot;                 /* the rule's counters in rule_stats (Go's) */
	__u32 action;               /* XDP_PASS or XDP_DROP */
	__u32 flags;                /* RANK_* */
};

enum rank_flags {
	/* The rule logs: each frame it decides goes to log_ring (its first
	 * LOG_BYTES bytes, at most LOG_MAX_RATE a second), for serve. */
	RANK_LOG = 1,
};

enum log_limits {
	LOG_BYTES      = 128,
	LOG_MAX_RATE   = 1000,
	/* 1560 log_recs (160 bytes and the ring's 8 of header each): more
	 * than a second at LOG_MAX_RATE (whose seconds are the clock's, so
	 * two of them can give up to twice that in one second of a reader's
	 * stall). */
	LOG_RING_BYTES = 256 << 10,
};

/* A record of log_ring: the frame's first LOG_BYTES bytes at most. A
 * capture_rec (2 KiB of frame) would fit only 125 in the ring. */
struct log_rec {
	struct ring_rec head;
	__u8 data[LOG_BYTES];
};

struct counter {
	__u64 packets;
	__u64 bytes;
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

/* Live ruleset storage: one entry per rule and content, in the binary
 * form of encodeRule (pkg/loader/ruledef.go). A definition both
 * generations hold, as most do (a change rewrites few rules), is one
 * entry whose gens has both bits; a rule whose definition differs
 * between them (a new comment keeps the id) has two, in key slots 0 and
 * 1. A change writes an entry in place (one element replaced, so a
 * reader sees it whole, old or new): it takes the inactive generation's
 * bit from the entries that leave it before it adds the bit to, or
 * writes, the ones it gets (pkg/loader/ruledefstore.go).
 *
 * A definition of at most RULE_DEF_SHORT_BYTES (most: a rule's
 * conditions take tens of bytes, an IPv6 host with a protocol and a
 * port 80) is kept in rule_defs, a longer one (up to RULE_DEF_BYTES, a
 * long comment) in rule_defs_long. Both maps allocate an entry when it is
 * written (BPF_F_NO_PREALLOC), so they take memory for the rules there
 * are: a short entry is one 152-byte kernel allocation. */
enum rule_def_size { RULE_DEF_BYTES = 500, RULE_DEF_SHORT_BYTES = 84 };
struct rule_def_key {
	__u32 id;
	__u32 slot;                 /* 0 or 1 */
};

struct rule_def {
	__u16 len;
	__u16 gens;                 /* bit g: generation g holds it */
	__u8 data[RULE_DEF_BYTES];
};

struct rule_def_short {
	__u16 len;
	__u16 gens;
	__u8 data[RULE_DEF_SHORT_BYTES];
};

enum meta_ids {
	META_MAGIC      = 0x78647066,       /* "xdpf" */
	META_VERSION    = 19, /* 4: two programs; 5: binary rule definitions; 6: sets; 7: atom_scratch; 8: capture; 9: conntrack; 10: address buckets; 11: vectors sized to the ruleset; 12: values on cache lines; 13: IPv4 set buckets; 14: one-dimension rulesets without vectors (GF_SOLO); 15: rule definitions allocated per entry, in rule_defs and rule_defs_long; 16: definitions shared by the generations, capture ring made by the capture, iface_atoms allocated per entry, value_atoms and the address buckets sized to the ruleset; 17: gen_conf one value of both generations, read by address; 18: rule counters by rank (rank_stats), rule_stats Go's; 19: set buckets hashed with a seed of their array's, each generation's config records the conntrack max-flows and timeouts and its address buckets' seed */
};
struct meta {
	__u32 magic;
	__u32 version;
	__u32 next_id;
	__u32 sets_dirty;           /* a set change was cut short: repair first */
};

/* Set definitions (control plane only): name -> slot and counts. */
enum set_name_size { SET_NAME_BYTES = 32 };
struct set_name {
	char name[SET_NAME_BYTES];
};

enum set_def_flags {
	/* Created by an apply that may not have switched: the set is real
	 * once `active` holds the value in bits 8-15 (the apply's switch
	 * happened), else it is removed. */
	SET_DEF_PENDING = 1,
	/* Being written directly while empty and unused (set load): until
	 * the flag is cleared the set is empty, and a repair empties it. */
	SET_DEF_LOADING = 2,
	/* Dropped by an apply that may not have switched: the set is gone
	 * once `active` holds the value in bits 8-15, else it stays. */
	SET_DEF_DROPPED = 4,
};
struct set_def {
	__u32 slot;                 /* index into the set4_* / set6_* maps */
	__u32 family;               /* 0 (IPv4 and IPv6), 4 or 6 */
	__u32 flags;                /* SET_DEF_* */
	__u32 host_cap[2];          /* max_entries of the IPv4, IPv6 host hash */
	__u32 hosts[2];             /* entries in the IPv4, IPv6 host hash */
	__u32 count[2];             /* elements in set generation g */
};

/* Where an interface's egress learner (xdpfw_egress) is hooked: a tcx
 * link pinned in the state's directory (Linux 6.6 and later), or a
 * direct-action filter on the clsact qdisc's egress (before). */
enum iface_egress {
	EGRESS_NONE     = 0,                /* none: a state of layout 8, until migrated */
	EGRESS_TCX      = 1,
	EGRESS_CLSACT   = 2,
};

struct iface {
	__u32 mode;                 /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	__u32 egress;               /* enum iface_egress */
	char name[16];
};

/*
 * Connection tracking (conntrack.h; pkg/model/conntrack.go is the
 * specification). Flows are learned only from packets going out, by the
 * TC egress program; XDP places a packet coming in against them, and
 * only when a rule of the live generation has a ct-state condition. The
 * table is not generation-switched: rules switch around it.
 *
 * A packet's state, as the ct-state condition names it: one bit each, so
 * the state is also the key of the DIM_CT dimension.
 */
enum ct_state {
	CT_UNTRACKED    = 0,                /* not IP, or neighbour discovery */
	CT_NEW          = 1,
	CT_ESTABLISHED  = 2,
	CT_RELATED      = 4,
	CT_INVALID      = 8,
	CT_NOT_LOOKED   = 0xff,             /* trace: no rule asked, nothing looked up */
};

/* How a flow is kept and timed. */
enum ct_kind {
	CT_KIND_GENERIC = 0,                /* other protocols: addresses only */
	CT_KIND_TCP,
	CT_KIND_UDP,
	CT_KIND_ECHO,                       /* ICMP/ICMPv6 echo, by identifier */
};

/* As much TCP state as the timeouts need. */
enum ct_tcp {
	CT_TCP_SYN_SENT = 0,
	/* Learned from this host's SYN-ACK: an answer to someone's SYN, which
	 * anyone can send from any address, so it lives briefly until the
	 * other side acknowledges it. */
	CT_TCP_SYN_RECV,
	CT_TCP_ESTABLISHED,
	CT_TCP_CLOSING,                     /* a FIN seen either way */
	CT_TCP_CLOSE,                       /* a RST seen either way */
};

/* What ct_val.ack holds: what a RST coming in on the flow is checked
 * against. 0 and 1 are what records before CT_ACK_SYN held (has_ack). */
enum ct_ack {
	CT_ACK_NONE     = 0,                /* nothing: any RST closes the flow */
	/* The highest acknowledgement number (in sequence space) of the
	 * segments this host sent since its last SYN or SYN-ACK: a RST's
	 * sequence number must lie from it to CT_RST_WINDOW past it. */
	CT_ACK_SENT     = 1,
	/* This host's last SYN out (without ACK) had sequence number ack - 1:
	 * a RST is taken only with ACK set and acknowledging exactly ack, as
	 * Linux in SYN-SENT (tcp_rcv_synsent_state_process) takes it. */
	CT_ACK_SYN      = 2,
};

/* The TCP flag combinations a stack sends, as Linux's conntrack takes
 * them (tcp_valid_flags): bit n set when FIN|SYN|RST|ACK|URG of a segment
 * (its flags & CT_TCP_FLAGS) is n. Any other (none, FIN without ACK, SYN
 * with FIN or RST: scans and evasions) is invalid on any flow and moves
 * nothing, and going out it is not learned. A 64-bit enumerator, so Go
 * reads it from BTF too. */
enum ct_tcp_valid {
	CT_TCP_FLAGS    = 0x37,
	/* SYN, SYN|URG, SYN|ACK, RST, RST|ACK, FIN|ACK, FIN|ACK|URG, ACK,
	 * ACK|URG */
	CT_TCP_VALID    = 1ULL << 0x02 | 1ULL << 0x22 | 1ULL << 0x12 | 1ULL << 0x04 |
			  1ULL << 0x14 | 1ULL << 0x11 | 1ULL << 0x31 | 1ULL << 0x10 |
			  1ULL << 0x30,
};

enum ct_limits {
	CT_ENTRIES      = 262144,           /* flows: a busy server's */
	/* The table of a ruleset that reads no connection state (no ct-state
	 * rule, policy pass) and sets no max-flows: the egress learner keeps
	 * the most recent flows for when one starts reading it, and the
	 * memory of a quarter of a million goes unspent until then. Below
	 * rules.MinCTFlows, so no max-flows can mean this size. */
	CT_IDLE_ENTRIES = 1000,
	/* Fragmented datagrams coming in: a record for every CT_FLOWS_PER_FRAG
	 * flows of the table, at least CT_FRAG_MIN (rules.CTFragsFor), so a
	 * small table's ruleset gets a small one too. */
	CT_FLOWS_PER_FRAG = 32,
	CT_FRAG_MIN     = 1024,
	CT_FRAG_ENTRIES = CT_ENTRIES / CT_FLOWS_PER_FRAG,
	/* DHCP: a request broadcast from an address the host may not have
	 * yet is answered by whichever server takes it, so its flow is keyed
	 * by the ports alone (and zero addresses). */
	/* A RST coming in closes its flow only when its sequence number is
	 * at most this far past what this host acknowledged (CT_ACK_SENT); one
	 * outside is invalid and leaves the flow as it was, so a blind
	 * spoofer must guess the number within a 4096th of its space.
	 * Every RST a peer sends in answer to a segment of this host carries
	 * exactly that acknowledgement (RFC 9293 3.10.7.1), so one dropped
	 * here (an abort with more than this in flight) is followed by a
	 * good one at the host's next segment. */
	CT_RST_WINDOW   = 1 << 20,
	DHCP4_CLIENT    = 68,
	DHCP4_SERVER    = 67,
	DHCP6_CLIENT    = 546,
	DHCP6_SERVER    = 547,
};

/* A flow, from this host's side: local then remote. Ports are TCP/UDP
 * ports (host order); an echo flow keeps its identifier in lport. */
struct ct_key {
	__u8 family;                        /* 4 or 6 */
	__u8 proto;
	__u16 pad;
	__u16 lport;
	__u16 rport;
	/* IPv4 uses the first 4 bytes. Words too, so the datapath copies
	 * and compares them a word at a time (Go sees the bytes). */
	union {
		__u8 local[16];
		__u32 local32[4];
	};
	union {
		__u8 remote[16];
		__u32 remote32[4];
	};
};

struct ct_val {
	__u64 last_seen;                    /* ct clock, ns: either direction */
	__u8 kind;                          /* CT_KIND_* */
	__u8 tcp;                           /* CT_TCP_*, TCP only */
	__u8 replied;                       /* a packet came back */
	__u8 ack_kind;                      /* CT_ACK_*: what ack is; TCP only */
	/* Host order: the highest acknowledgement number this host sent
	 * (where the other side's sequence stands), or what the answer to
	 * its SYN must acknowledge; a RST coming in is checked against it. */
	__u32 ack;
};

/* A fragmented datagram coming in, as its later fragments name it. */
struct ct_frag_key {
	__u8 family;
	__u8 proto;                         /* IPv4's; 0 in IPv6 (ct_frag_proto) */
	__u16 pad;
	__u32 id;                           /* IPv4 identification, or IPv6 fragment id */
	__u8 src[16];
	__u8 dst[16];
};

/* The live ruleset's conntrack timeouts, as its generation's config
 * records them (gen_config.ct_timeout): Go writes them after the switch. */
struct ct_conf {
	__u32 timeout[NUM_CT_TIMEOUTS];     /* seconds; 0: the default */
	/* Flows Go put into the table (a seed's, a resize's copies) less
	 * those it took out other than by flush (the table a resize
	 * replaced), and flows `xdpfw ct flush` removed: counted by Go (the
	 * datapath never reads them), so evictions are inserts + placed -
	 * expired - flushed - entries. placed was a u32 pad and the
	 * alignment's hole after it, both 0 in a table of layout 18. */
	__s64 placed;
	__u64 flushed;
};

/* ct_stats (per CPU): packets placed in each state, and the table's
 * changes. Evictions are what the table lost beyond them: inserts +
 * placed - expired - flushed (ct_conf) - entries. */
enum ct_stat {
	CTS_UNTRACKED = 0,
	CTS_NEW,
	CTS_ESTABLISHED,
	CTS_RELATED,
	CTS_INVALID,
	CTS_INSERTS,                        /* flows learned */
	CTS_EXPIRED,                        /* removed timed out: found so, or swept */
	CTS_EGRESS,                         /* packets the egress program saw */
	NUM_CT_STATS,
};

struct ct_stats {
	__u64 n[NUM_CT_STATS];
};

/*
 * The sweep's frame (xdp/ctsweep.h): Go runs xdpfw_ct_sweep on it with
 * BPF_PROG_TEST_RUN, the keys of flows it found timed out after the
 * header; the program writes into removed how many it took out.
 */
enum ct_sweep_limits {
	CT_SWEEP_KEYS = 64,                 /* keys a run: 2.6 KB, one buffer */
};

struct ct_sweep_hdr {
	__u32 removed;                      /* written by the program */
	__u32 nkeys;                        /* keys after the header */
};

struct trace {
	__u32 seq;                  /* incremented per frame: proves the run wrote it */
	__u32 rule_id;
	__u32 action;
	__u32 reason;
	__u32 ct;                   /* enum ct_state, or CT_NOT_LOOKED */
};

#endif
