// SPDX-License-Identifier: GPL-2.0
/*
 * Process lifecycle: fork, exec and exit keep userspace's process table (and so
 * the service_name of every tgid) fresh without rescanning /proc; OOM kills
 * are rare enough to travel as events.
 */
#include "redeye/bpf_common.h"

char LICENSE[] SEC("license") = "GPL";

REDEYE_DEFINE_LOST_MAP()

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} proc_events SEC(".maps");

static __always_inline struct redeye_proc_event *reserve(__u32 kind, __u32 tgid)
{
	struct redeye_proc_event *e;

	e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e) {
		count_lost(REDEYE_LOST_RINGBUF_FULL);
		return NULL;
	}
	e->kind = kind;
	e->tgid = tgid;
	e->timestamp_ns = bpf_ktime_get_ns();
	e->args_len = 0;
	e->parent_tgid = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

/* sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
static __always_inline int on_exec(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct redeye_proc_event *e = reserve(REDEYE_PROC_EXEC, current_tgid());
	unsigned long start, end;
	__u32 len;

	if (!e)
		return 0;
	/* the new image's argv is in place when this tracepoint fires */
	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	len = end > start ? end - start : 0;
	if (len > REDEYE_ARGS_LEN - 1)
		len = REDEYE_ARGS_LEN - 1;
	/* the mask is what lets the verifier see the bound */
	len &= REDEYE_ARGS_LEN - 1;
	if (bpf_probe_read_user(e->args, len, (void *)start) == 0)
		e->args_len = len;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * sched_process_fork(struct task_struct *parent, struct task_struct *child):
 * runs in the parent before the child is first woken, so this event is in
 * the ring before anything the child does. A forked child runs its parent's
 * program until it execs: it inherits the parent's service, even when it
 * serves one connection and exits before /proc can be read (a database
 * backend, a pre-fork or forking server).
 */
static __always_inline int on_fork(unsigned long long *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx[1];
	__u32 tgid = BPF_CORE_READ(child, tgid);
	struct redeye_proc_event *e;

	/* a new thread joins its parent's process: nothing to name */
	if (tgid != (__u32)BPF_CORE_READ(child, pid))
		return 0;
	e = reserve(REDEYE_PROC_FORK, tgid);
	if (!e)
		return 0;
	e->parent_tgid = current_tgid();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* sched_process_exit(struct task_struct *p, ...): runs in the exiting task */
static __always_inline int on_exit(unsigned long long *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	/* only the thread group leader's exit ends the process */
	if ((__u32)id != (__u32)(id >> 32))
		return 0;
	struct redeye_proc_event *e = reserve(REDEYE_PROC_EXIT, id >> 32);

	if (e)
		bpf_ringbuf_submit(e, 0);
	return 0;
}

/* mark_victim(struct task_struct *task, uid_t uid) */
static __always_inline int on_oom_victim(unsigned long long *ctx)
{
	/* the victim, not current (the allocating task that hit the limit) */
	__u32 victim = BPF_CORE_READ((struct task_struct *)ctx[0], pid);
	struct redeye_proc_event *e = reserve(REDEYE_PROC_OOM_KILL, victim);

	if (!e)
		return 0;
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

REDEYE_TP_TWINS(sched_process_fork, on_fork)
REDEYE_TP_TWINS(sched_process_exec, on_exec)
REDEYE_TP_TWINS(sched_process_exit, on_exit)
REDEYE_TP_TWINS(mark_victim, on_oom_victim)
