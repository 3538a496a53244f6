/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The conntrack sweep: removes flows that have timed out.
 *
 * A packet removes a timed-out flow it looks up (ct_lookup); nothing else
 * did. The flow table is an LRU map, which when full forgets the flow
 * seen least recently, whatever its timeout, so a busy table stayed full
 * of flows long timed out, and an established connection idle for longer
 * than the table took to fill (its capacity over the new flows a second)
 * was forgotten: its next packet in was judged new or invalid. Swept, the
 * table holds the flows still live, and an idle connection lasts its
 * timeout, as in Linux's conntrack.
 *
 * Go finds the candidates: it reads the table in batches, outside the
 * datapath (pkg/loader/ctsweep.go), and runs this program on their keys,
 * CT_SWEEP_KEYS a run. Each flow is looked up again and removed only if
 * it has timed out by the datapath's own test (ct_expired) at this
 * instant: one a packet refreshed since Go read it stays. The removals
 * count as expired, as a packet's do. One race is left, the one two
 * packets of a flow already have with each other: if another CPU's packet
 * removes the timed-out flow and learns it anew between this lookup and
 * this delete, the new flow goes (learnt again from its next packet out). A walk of the whole table in BPF
 * (bpf_for_each_map_elem, from a timer) would run in one stretch with
 * bottom halves off, milliseconds for a full table, holding up every
 * packet of that CPU; Go's walk is preemptible and these runs are short.
 */
#ifndef XDPFW_CTSWEEP_H
#define XDPFW_CTSWEEP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "layout.h"
#include "conntrack.h"

/* What a sweep's keys share: the frame, the clock, the count. */
struct ct_sweep_walk {
	struct xdp_md *ctx;
	__u64 now;
	__u32 removed;
};

/* Key i of the frame: removed if it has timed out. A bpf_loop callback,
 * so the verifier checks it once, not once a key. */
static long ct_sweep_key(__u32 i, struct ct_sweep_walk *w)
{
	void *data = (void *)(long)w->ctx->data;
	void *end = (void *)(long)w->ctx->data_end;
	struct ct_key *k = data + sizeof(struct ct_sweep_hdr) +
			   (i & (CT_SWEEP_KEYS - 1)) * sizeof(struct ct_key);
	struct ct_key key;
	struct ct_val *v;

	if ((void *)(k + 1) > end)
		return 1;
	__builtin_memcpy(&key, k, sizeof(key));
	v = bpf_map_lookup_elem(&ct, &key);
	if (v && ct_expired(v, w->now) && !bpf_map_delete_elem(&ct, &key))
		w->removed++;
	return 0;
}

static __always_inline int ct_sweep(struct xdp_md *ctx)
{
	struct ct_sweep_hdr *h = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ct_sweep_walk w = { .ctx = ctx, .now = ct_now() };
	__u32 zero = 0, n;
	struct ct_stats *s;

	if ((void *)(h + 1) > end)
		return XDP_ABORTED;
	n = h->nkeys;
	if (n > CT_SWEEP_KEYS)
		n = CT_SWEEP_KEYS;
	bpf_loop(n, ct_sweep_key, &w, 0);
	/* Reread: the loop's helper calls left the verifier no bound on it. */
	h = (void *)(long)ctx->data;
	if ((void *)(h + 1) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	h->removed = w.removed;
	s = bpf_map_lookup_elem(&ct_stats, &zero);
	/* Added even when 0: a branch on the count made the verifier track
	 * it exactly, and walk the callback once per value it could reach
	 * (64,000 instructions processed on 6.18 where 1,600 do). Added in
	 * one instruction: a test run keeps softirqs on (6.1), so a frame on
	 * this CPU may count into the same per-CPU line between a load and
	 * a store, and one of the two counts would be lost. */
	if (s)
		__sync_fetch_and_add(&s->n[CTS_EXPIRED], w.removed);
	return XDP_PASS;
}

#endif
