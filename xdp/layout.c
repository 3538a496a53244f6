// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Not part of the datapath: compiled only for its BTF, from which
 * internal/layoutgen writes pkg/layout (`make generate`). Each member of
 * struct go_layout names a type of layout.h that Go uses: an enum becomes
 * Go constants, a struct a Go type. BTF carries only types something uses,
 * hence the variable.
 */
#include "layout.h"

struct go_layout {
	enum limits limits;
	enum addr_limits addr_limits;
	enum addr_buckets addr_buckets;
	enum addr_hash addr_hash;
	enum dim dim;
	enum proto_keys proto_keys;
	enum value_keys value_keys;
	enum atoms atoms;
	enum atom_base atom_base;
	enum vec_sizes vec_sizes;
	enum chunk_base chunk_base;
	enum gen_flags gen_flags;
	enum stat stat;
	enum outcome outcome;
	enum reason reason;
	enum active_bits active_bits;
	enum set_limits set_limits;
	enum set_def_flags set_def_flags;
	enum set_bkt_consts set_bkt_consts;
	enum set_bkt_hash set_bkt_hash;
	enum rule_def_size rule_def_size;
	enum set_name_size set_name_size;
	enum meta_ids meta_ids;
	enum capture_limits capture_limits;
	enum rank_flags rank_flags;
	enum log_limits log_limits;
	enum ct_state ct_state;
	enum ct_kind ct_kind;
	enum ct_tcp ct_tcp;
	enum ct_ack ct_ack;
	enum ct_tcp_valid ct_tcp_valid;
	enum ct_timeout ct_timeout;
	enum ct_limits ct_limits;
	enum ct_stat ct_stat;
	enum iface_egress iface_egress;
	struct set_val set_val;
	struct set4_key set4_key;
	struct set6_key set6_key;
	struct set4_lpm_key set4_lpm_key;
	struct set4_slot set4_slot;
	struct set6_slot set6_slot;
	struct set_bkt_head set_bkt_head;
	struct set6_lpm_key set6_lpm_key;
	struct ring_rec ring_rec;
	struct capture_rec capture_rec;
	struct log_rec log_rec;
	struct ct_key ct_key;
	struct ct_val ct_val;
	struct ct_frag_key ct_frag_key;
	struct ct_conf ct_conf;
	struct ct_stats ct_stats;
	enum ct_sweep_limits ct_sweep_limits;
	struct ct_sweep_hdr ct_sweep_hdr;
} go_layout;
