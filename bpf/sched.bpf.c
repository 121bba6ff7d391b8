// SPDX-License-Identifier: GPL-2.0
/*
 * CPU saturation: run-queue latency per process, the time a runnable task
 * waits before it gets a CPU. A task becomes runnable on wakeup
 * (sched_wakeup, sched_wakeup_new) or when it is preempted while still
 * runnable (sched_switch with prev in TASK_RUNNING); it stops waiting at
 * the sched_switch that puts it on a CPU.
 *
 * tp_btf handlers are preferred (typed arguments, cheaper); the raw_tp
 * twins are loaded instead when the kernel refuses tp_btf. Both call the
 * same static functions.
 */
#include "redeye/bpf_common.h"

char LICENSE[] SEC("license") = "GPL";

REDEYE_DEFINE_LOST_MAP()

/* pid (thread id) -> time it became runnable */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} runnable_since SEC(".maps");

/* tgid -> histogram: the key is the label schema (service_name is derived
 * from the tgid in userspace). Sized for every process of a large node. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct redeye_hist);
} runq_hist SEC(".maps");

static const struct redeye_hist zero_hist;

static __always_inline void mark_runnable(__u32 pid)
{
	__u64 ts;

	if (!pid) /* the idle task never waits */
		return;
	ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&runnable_since, &pid, &ts, BPF_ANY))
		count_lost(REDEYE_LOST_MAP_FULL);
}

/*
 * A task's field. tp_btf arguments are trusted pointers, read with plain
 * loads; raw_tp ones are not, and need a probe-read helper per field. The
 * scheduler programs run on every context switch and wake-up of the node:
 * `btf` is a constant, so each handler keeps only its own reads.
 */
#define TASK_READ(btf, t, field) ((btf) ? (t)->field : BPF_CORE_READ(t, field))

static __always_inline void on_wakeup(struct task_struct *p, const bool btf)
{
	mark_runnable(TASK_READ(btf, p, pid));
}

/* task_struct::state was renamed __state in 5.14. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t, const bool btf)
{
	if (bpf_core_field_exists(t->__state))
		return TASK_READ(btf, t, __state);
	return TASK_READ(btf, (struct task_struct___pre514 *)t, state);
}

static __always_inline void on_switch(struct task_struct *prev, struct task_struct *next, const bool btf)
{
	__u32 pid, tgid;
	__u64 *since, delta;
	struct redeye_hist *h;

	/* prev was preempted and stays on the run queue: its wait starts now. */
	if (task_state(prev, btf) == 0 /* TASK_RUNNING */)
		mark_runnable(TASK_READ(btf, prev, pid));

	pid = TASK_READ(btf, next, pid);
	since = bpf_map_lookup_elem(&runnable_since, &pid);
	if (!since)
		return;
	delta = bpf_ktime_get_ns() - *since;
	bpf_map_delete_elem(&runnable_since, &pid);

	tgid = TASK_READ(btf, next, tgid);
	h = LOOKUP_OR_INIT(&runq_hist, &tgid, &zero_hist, count_lost);
	if (h)
		hist_add_latency(h, delta);
}

static __always_inline void on_exit(struct task_struct *p, const bool btf)
{
	__u32 pid = TASK_READ(btf, p, pid);

	bpf_map_delete_elem(&runnable_since, &pid);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup_btf, struct task_struct *p)
{
	on_wakeup(p, true);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_btf, struct task_struct *p)
{
	on_wakeup(p, true);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	on_switch(prev, next, true);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit_btf, struct task_struct *p)
{
	on_exit(p, true);
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(sched_wakeup_raw, struct task_struct *p)
{
	on_wakeup(p, false);
	return 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_raw, struct task_struct *p)
{
	on_wakeup(p, false);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	on_switch(prev, next, false);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(sched_exit_raw, struct task_struct *p)
{
	on_exit(p, false);
	return 0;
}
