/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by every redeye BPF program. Kernel side only. */
#ifndef REDEYE_BPF_COMMON_H
#define REDEYE_BPF_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "redeye/abi.h"

/* Per-CPU drop counters, one slot per enum redeye_lost_reason. Every object
 * has its own so userspace can tell which concern lost events. */
#define REDEYE_DEFINE_LOST_MAP()                                         \
	struct {                                                         \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                 \
		__uint(max_entries, REDEYE_LOST_MAX);                    \
		__type(key, __u32);                                      \
		__type(value, __u64);                                    \
	} lost SEC(".maps");                                             \
	static __always_inline void count_lost(__u32 reason)             \
	{                                                                \
		__u64 *v = bpf_map_lookup_elem(&lost, &reason);          \
		if (v)                                                   \
			*v += 1;                                         \
	}

/* Branch-free floor(log2(v)) for v > 0 (the libbpf-tools formulation). */
static __always_inline __u32 log2_u32(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 hi = v >> 32;

	if (hi)
		return log2_u32(hi) + 32;
	return log2_u32((__u32)v);
}

/* Slot of a log2 histogram: 0 for v == 0, floor(log2(v)) + 1 otherwise,
 * capped at max_slot. */
static __always_inline __u32 log2_slot(__u64 v, __u32 max_slot)
{
	__u32 slot = v ? log2_u64(v) + 1 : 0;

	return slot > max_slot ? max_slot : slot;
}

/*
 * Prometheus buckets are "less or equal": a value exactly on a bound belongs
 * to that bound's bucket. Slot k holds unit*2^(k-1) < v <= unit*2^k, which
 * is log2_slot of (v - 1) / unit.
 */
static __always_inline __u32 le_slot(__u64 v, __u64 unit, __u32 max_slot)
{
	return v ? log2_slot((v - 1) / unit, max_slot) : 0;
}

/* Latency slot as documented in abi.h: powers of two microseconds up to
 * 2^23 us, then 10 s, then +Inf. */
static __always_inline __u32 latency_slot(__u64 ns)
{
	if (ns > REDEYE_LAT_CAP_NS)
		return REDEYE_LAT_SLOTS - 1;
	return le_slot(ns, 1000, REDEYE_LAT_SLOTS - 2);
}

static __always_inline void hist_add_latency(struct redeye_hist *h, __u64 ns)
{
	__u32 slot = latency_slot(ns);

	if (slot < REDEYE_LAT_SLOTS)
		__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->sum_ns, ns);
}

static __always_inline void hist_add_duration(struct redeye_hist *h, __u64 ns)
{
	__u32 slot = le_slot(ns, 1000000, REDEYE_DUR_SLOTS - 1);

	if (slot < REDEYE_DUR_SLOTS)
		__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->sum_ns, ns);
}

/* Look a key up, inserting a zeroed value first if it is missing.
 * Returns NULL (and counts a map_full loss) when the map has no room. */
#define LOOKUP_OR_INIT(map, key, zero, lost_fn)                               \
	({                                                                    \
		void *__v = bpf_map_lookup_elem(map, key);                    \
		if (!__v) {                                                   \
			long __err = bpf_map_update_elem(map, key, zero,      \
							 BPF_NOEXIST);        \
			if (__err && __err != -17 /* EEXIST: lost a race */)  \
				lost_fn(REDEYE_LOST_MAP_FULL);                \
			__v = bpf_map_lookup_elem(map, key);                  \
		}                                                             \
		__v;                                                          \
	})

/*
 * One handler built twice: tp_btf (typed arguments, the cheapest) and raw_tp
 * for kernels whose BTF lacks the tracepoint; bpf/loaded_object.cpp loads
 * one of them. Both detach without the RCU-tasks wait of a perf-event
 * tracepoint, which is what keeps SIGTERM fast. The handler reads argument i
 * as ctx[i] and dereferences it only with BPF_CORE_READ, valid for both.
 */
#define REDEYE_TP_TWINS(tp, handler)                                          \
	SEC("tp_btf/" #tp)                                                    \
	int handler##_btf(unsigned long long *ctx) { return handler(ctx); }   \
	SEC("raw_tp/" #tp)                                                    \
	int handler##_raw(unsigned long long *ctx) { return handler(ctx); }

static __always_inline __u32 current_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

#endif /* REDEYE_BPF_COMMON_H */
