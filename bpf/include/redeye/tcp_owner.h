/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Owners of TCP sockets, shared by the tcp object and the capture object
 * (sockets.bpf.c, or sockets_syscalls.bpf.c which learns them at accept()).
 *
 * Softirq events (retransmits, resets, state changes of accepted sockets)
 * are attributed to a process through sk_owner. Outbound and listening
 * sockets get their owner in tcp.bpf.c; an accepted socket gets it at the
 * exit of accept()/accept4(), which the sockets object already handles on
 * its raw sys_exit program. Rather than a second program on every syscall
 * exit of the node, the sockets object updates the tcp object's maps: the
 * loader hands it their fds before load (bpf_map__reuse_fd), see
 * userspace/bpf/probe_set.cpp.
 *
 * Include after REDEYE_DEFINE_LOST_MAP() (count_lost).
 */
#ifndef REDEYE_TCP_OWNER_H
#define REDEYE_TCP_OWNER_H

#include "redeye/bpf_common.h"
#include "redeye/fd_socket.h"

/* Kernel-private socket state; not part of the ABI. */
struct sk_info {
	__u32 tgid;     /* owner; 0 while an accepted child is not yet accepted */
	__u8 direction; /* enum redeye_tcp_direction */
	__u8 counted;   /* opened[] was incremented for the owner */
	__u8 ended;     /* left ESTABLISHED before it had an owner */
	__u8 reset_unowned; /* a reset arrived before the socket had an owner */
	/* what happened before the socket had an owner, counted for it once it
	 * has one: retransmitted segments, resets sent */
	__u32 retrans_unowned;
	__u32 resets_sent_unowned;
	__u64 start_ns; /* entered ESTABLISHED */
	__u64 end_ns;   /* left ESTABLISHED (only while !counted) */
};

/* struct sock * -> owner. LRU so that sockets whose destruction we missed
 * cannot fill it; sized for 64k concurrent sockets on the node. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sk_info);
} sk_owner SEC(".maps");

/* tgid -> counters; tgid 0 collects events on sockets with no known owner
 * (opened before the agent started). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct redeye_tcp_stats);
} tcp_stats SEC(".maps");

static const struct redeye_tcp_stats zero_stats;

/* [0]: accepted sockets without an owner yet (passive opens not adopted
 * nor destroyed). While it is above 0 userspace runs tcp.bpf.c's
 * find_owners: a server blocked in its first read() is seen by no other
 * hook. Signed: sockets older than the agent are adopted without having
 * been counted. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} unowned_inbound SEC(".maps");

static __always_inline void count_unowned(__s64 d)
{
	__u32 zero = 0;
	__s64 *n = bpf_map_lookup_elem(&unowned_inbound, &zero);

	if (n)
		__sync_fetch_and_add(n, d);
}

static __always_inline struct redeye_tcp_stats *stats_for(__u32 tgid)
{
	return LOOKUP_OR_INIT(&tcp_stats, &tgid, &zero_stats, count_lost);
}

/* An accepted socket that has no owner yet, whose events wait for one. */
static __always_inline int awaits_owner(const struct sk_info *info)
{
	return !info->tgid && info->direction == REDEYE_DIR_INBOUND && !info->counted && info->ended != 2;
}

static __always_inline struct sk_info *owner_of(const void *sk)
{
	__u64 key = (__u64)sk;

	return bpf_map_lookup_elem(&sk_owner, &key);
}

static __always_inline void set_owner(const void *sk, struct sk_info *info)
{
	__u64 key = (__u64)sk;

	if (bpf_map_update_elem(&sk_owner, &key, info, BPF_ANY))
		count_lost(REDEYE_LOST_MAP_FULL);
}

static __always_inline void count_close(struct sk_info *info, __u64 end_ns)
{
	struct redeye_tcp_stats *s = stats_for(info->tgid);
	__u32 dir = info->direction & 1;

	if (!s)
		return;
	__sync_fetch_and_add(&s->closed[dir], 1);
	hist_add_duration(&s->duration[dir], end_ns - info->start_ns);
}

/*
 * An accepted socket's owner is the current process: the first to do I/O
 * on it (sockets.bpf.c), to close it (tcp.bpf.c), or accept() itself
 * (syscall capture); or the process holding its fd, found by the
 * find_owners iterator (tcp.bpf.c) for a server blocked in its first read. Counts the inbound connection once, with what
 * happened to it before it had an owner.
 */
static __always_inline void tcp_owner_adopt_by(struct sk_info *info, __u32 tgid)
{
	struct redeye_tcp_stats *s;

	if (info->tgid || !tgid || info->direction != REDEYE_DIR_INBOUND || info->counted || info->ended == 2)
		return;
	info->tgid = tgid;
	count_unowned(-1);
	s = stats_for(info->tgid);
	if (!s)
		return;
	__sync_fetch_and_add(&s->opened[REDEYE_DIR_INBOUND], 1);
	if (info->reset_unowned) {
		__sync_fetch_and_add(&s->resets_received, 1);
		info->reset_unowned = 0;
	}
	if (info->retrans_unowned) {
		__sync_fetch_and_add(&s->retransmits, info->retrans_unowned);
		info->retrans_unowned = 0;
	}
	if (info->resets_sent_unowned) {
		__sync_fetch_and_add(&s->resets_sent, info->resets_sent_unowned);
		info->resets_sent_unowned = 0;
	}
	if (info->ended == 1) {
		/* the peer finished before the server got round to it */
		count_close(info, info->end_ns);
		info->ended = 2;
	} else {
		info->counted = 1;
	}
}

static __always_inline void tcp_owner_adopt(struct sk_info *info)
{
	tcp_owner_adopt_by(info, current_tgid());
}

/* accept() or accept4() returned fd in the current process (syscall
 * capture). */
static __always_inline void tcp_owner_accepted(long fd)
{
	struct sock *sk = tcp_sock_of_fd(fd);
	struct sk_info *info, fresh = {};

	if (!sk)
		return;
	info = owner_of(sk);
	if (!info) {
		/* established before the agent attached */
		fresh.direction = REDEYE_DIR_INBOUND;
		fresh.start_ns = bpf_ktime_get_ns();
		set_owner(sk, &fresh);
		info = owner_of(sk);
		if (!info)
			return;
	}
	tcp_owner_adopt(info);
}

#endif /* REDEYE_TCP_OWNER_H */
