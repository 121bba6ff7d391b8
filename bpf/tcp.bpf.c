// SPDX-License-Identifier: GPL-2.0
/*
 * TCP: connections established and failed, their duration, retransmits,
 * resets and kernel drops.
 *
 * Many of these events fire in softirq context, where "current" is whatever
 * task the interrupt landed on. Every socket is therefore given an owner
 * while we are still in its process's context (connect() puts it in
 * SYN_SENT, listen() in LISTEN), and softirq events are attributed through
 * sk_owner (redeye/tcp_owner.h). Accepted sockets get their owner from the
 * first process that does I/O on them (the sockets object) or closes them
 * (here): no syscall tracepoint is needed.
 */
#include "redeye/bpf_common.h"
#include "redeye/fd_socket.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ECONNREFUSED 111
#define ETIMEDOUT 110
#define EHOSTUNREACH 113
#define ENETUNREACH 101
#define EHOSTDOWN 112
#define ENETDOWN 100

REDEYE_DEFINE_LOST_MAP()

#include "redeye/tcp_owner.h"

/* enum skb_drop_reason -> packets. The enum has ~130 values today. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u64);
} tcp_drops SEC(".maps");

/* Failure events for `redeye trace tcp`. Written only while a trace
 * session asked for them (tcp_events_on), so the cost when nobody traces is
 * one array lookup per failure; a full ring counts as lost. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} tcp_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tcp_events_on SEC(".maps");

static const __u64 zero_u64;


static __always_inline __u32 connect_fail_reason(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return REDEYE_CONNFAIL_REFUSED;
	case ETIMEDOUT:
		return REDEYE_CONNFAIL_TIMEOUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
		return REDEYE_CONNFAIL_UNREACHABLE;
	default: /* includes an application closing a pending connect */
		return REDEYE_CONNFAIL_OTHER;
	}
}

static __always_inline void emit_tcp_event(const void *skp, __u32 tgid, __u8 kind, __u8 reason)
{
	struct sock *sk = (struct sock *)skp;
	struct redeye_tcp_event *e;
	__u32 zero = 0, *on = bpf_map_lookup_elem(&tcp_events_on, &zero);

	if (!on || !*on)
		return;
	e = bpf_ringbuf_reserve(&tcp_events, sizeof(*e), 0);
	if (!e) {
		count_lost(REDEYE_LOST_RINGBUF_FULL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->timestamp_ns = bpf_ktime_get_ns();
	e->tgid = tgid;
	e->kind = kind;
	e->reason = reason;
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->peer_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (e->family == AF_INET)
		bpf_core_read(e->peer_addr, 4, &sk->__sk_common.skc_daddr);
	else
		bpf_core_read(e->peer_addr, 16, &sk->__sk_common.skc_v6_daddr);
	bpf_ringbuf_submit(e, 0);
}

/* inet_sock_set_state(const struct sock *sk, int oldstate, int newstate) */
static __always_inline int on_set_state(unsigned long long *ctx)
{
	const void *sk = (const void *)ctx[0];
	int old = (int)ctx[1], new = (int)ctx[2];
	struct sk_info *info, fresh = {};
	struct redeye_tcp_stats *s;
	__u64 now;

	if (BPF_CORE_READ((struct sock *)sk, sk_protocol) != IPPROTO_TCP)
		return 0;

	if (new == TCP_SYN_SENT || new == TCP_LISTEN) {
		/* connect() and listen() run in the owner's context */
		fresh.tgid = current_tgid();
		fresh.direction = new == TCP_SYN_SENT ? REDEYE_DIR_OUTBOUND
						      : REDEYE_DIR_INBOUND;
		set_owner(sk, &fresh);
		return 0;
	}

	now = bpf_ktime_get_ns();
	if (new == TCP_ESTABLISHED) {
		if (old == TCP_SYN_SENT) {
			info = owner_of(sk);
			if (!info)
				return 0;
			info->start_ns = now;
			info->counted = 1;
			s = stats_for(info->tgid);
			if (s)
				__sync_fetch_and_add(&s->opened[REDEYE_DIR_OUTBOUND], 1);
		} else {
			/* passive open, in softirq: the owner is learnt from the
			 * process that uses or holds it (tcp_owner.h) */
			fresh.direction = REDEYE_DIR_INBOUND;
			fresh.start_ns = now;
			set_owner(sk, &fresh);
			count_unowned(1);
		}
		return 0;
	}

	if (old == TCP_ESTABLISHED || old == TCP_CLOSE_WAIT) {
		info = owner_of(sk);
		if (!info)
			return 0;
		/* close() and shutdown() run in the owner's context: they move a
		 * socket to FIN_WAIT1 or LAST_ACK, or abort it to CLOSE with no
		 * error (a reset or timeout in softirq sets sk_err first) */
		if (!info->tgid && (new == TCP_FIN_WAIT1 || new == TCP_LAST_ACK ||
				    (new == TCP_CLOSE && !BPF_CORE_READ((struct sock *)sk, sk_err))))
			tcp_owner_adopt(info);
		if (old == TCP_CLOSE_WAIT)
			return 0;
		if (info->counted) {
			count_close(info, now);
			info->counted = 0; /* count the close once */
			info->ended = 2;   /* 2: already accounted */
		} else if (!info->ended) {
			info->ended = 1;
			info->end_ns = now;
		}
		return 0;
	}

	if (old == TCP_SYN_SENT && new == TCP_CLOSE) {
		info = owner_of(sk);
		if (!info)
			return 0;
		s = stats_for(info->tgid);
		if (s) {
			int err = BPF_CORE_READ((struct sock *)sk, sk_err);
			__u32 r = connect_fail_reason(err);

			if (r < REDEYE_CONNFAIL_MAX)
				__sync_fetch_and_add(&s->connect_failures[r], 1);
			emit_tcp_event(sk, info->tgid, REDEYE_TCP_CONNECT_FAILED, r);
		}
	}
	return 0;
}

static __always_inline __u32 owner_tgid(const void *sk)
{
	struct sk_info *info = owner_of(sk);

	return info ? info->tgid : 0;
}

/* tcp_retransmit_skb(const struct sock *sk, const struct sk_buff *skb[, int err]) */
static __always_inline int on_retransmit(unsigned long long *ctx)
{
	struct redeye_tcp_stats *s;
	struct sk_buff *skb = (struct sk_buff *)ctx[1];
	struct tcp_skb_cb *cb;
	struct sk_info *info;
	__u16 segs;

	/* Not sent: the kernel does not count it either. err is a 6.x addition;
	 * the check is resolved at load, so older kernels never read ctx[2]. */
	if (bpf_core_field_exists(struct trace_event_raw_tcp_retransmit_skb, err) && (int)ctx[2])
		return 0;
	/* TcpRetransSegs counts GSO segments, not skbs */
	cb = (struct tcp_skb_cb *)&skb->cb[0];
	segs = BPF_CORE_READ(cb, tcp_gso_segs);
	if (!segs)
		segs = 1;
	info = owner_of((const void *)ctx[0]);
	if (info && awaits_owner(info)) {
		/* accepted, not owned yet: counted for its owner when it has one */
		__sync_fetch_and_add(&info->retrans_unowned, segs);
		return 0;
	}
	s = stats_for(info ? info->tgid : 0);
	if (s)
		__sync_fetch_and_add(&s->retransmits, segs);
	emit_tcp_event((const void *)ctx[0], info ? info->tgid : 0, REDEYE_TCP_RETRANSMIT, 0);
	return 0;
}

/* tcp_retransmit_synack(const struct sock *sk, const struct request_sock *req) */
static __always_inline int on_retransmit_synack(unsigned long long *ctx)
{
	struct redeye_tcp_stats *s = stats_for(owner_tgid((const void *)ctx[0]));

	if (s)
		__sync_fetch_and_add(&s->retransmits, 1);
	return 0;
}

/* tcp_send_reset(const struct sock *sk, const struct sk_buff *skb, ...) */
static __always_inline int on_send_reset(unsigned long long *ctx)
{
	const void *sk = (const void *)ctx[0];
	struct redeye_tcp_stats *s;
	struct sk_info *info;
	__u8 state;

	/* No socket: the kernel answering a segment nobody listens for. A
	 * time-wait or request mini socket is no socket of sk_owner either: its
	 * address may be one a freed full socket had. */
	if (!sk)
		return 0;
	state = BPF_CORE_READ((struct sock *)sk, __sk_common.skc_state);
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return 0;
	info = owner_of(sk);
	if (!info)
		return 0;
	if (awaits_owner(info)) {
		__sync_fetch_and_add(&info->resets_sent_unowned, 1);
		return 0;
	}
	s = stats_for(info->tgid);
	if (s)
		__sync_fetch_and_add(&s->resets_sent, 1);
	emit_tcp_event(sk, info->tgid, REDEYE_TCP_RESET_SENT, 0);
	return 0;
}

/* tcp_receive_reset(struct sock *sk) */
static __always_inline int on_receive_reset(unsigned long long *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	struct redeye_tcp_stats *s;
	struct sk_info *info;

	/* A reset answering our SYN is a refused connect, counted there. */
	if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_SYN_SENT)
		return 0;
	info = owner_of(sk);
	if (!info)
		return 0;
	if (awaits_owner(info) && !info->ended) {
		/* no owner yet: count it for whoever takes the socket */
		info->reset_unowned = 1;
		return 0;
	}
	s = stats_for(info->tgid);
	if (s)
		__sync_fetch_and_add(&s->resets_received, 1);
	emit_tcp_event(sk, info->tgid, REDEYE_TCP_RESET_RECEIVED, 0);
	return 0;
}

/* tcp_destroy_sock(struct sock *sk) */
static __always_inline int on_destroy_sock(unsigned long long *ctx)
{
	__u64 key = ctx[0];
	struct sk_info *info = owner_of((const void *)ctx[0]);

	if (info && !info->tgid && info->direction == REDEYE_DIR_INBOUND) {
		/* never taken by a process: what waited for an owner is nobody's */
		struct redeye_tcp_stats *s = stats_for(0);

		count_unowned(-1);
		if (s && info->retrans_unowned)
			__sync_fetch_and_add(&s->retransmits, info->retrans_unowned);
		if (s && info->resets_sent_unowned)
			__sync_fetch_and_add(&s->resets_sent, info->resets_sent_unowned);
		if (s && info->reset_unowned)
			__sync_fetch_and_add(&s->resets_received, 1);
	}

	bpf_map_delete_elem(&sk_owner, &key);
	return 0;
}

static __always_inline bool skb_is_tcp(struct sk_buff *skb, __u16 protocol,
				       const void *rx_sk)
{
	struct sock *sk = (struct sock *)rx_sk;
	unsigned char *head;
	__u16 nh;
	__u8 l4 = 0;

	if (!sk)
		sk = BPF_CORE_READ(skb, sk);
	if (sk)
		return BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;

	head = BPF_CORE_READ(skb, head);
	nh = BPF_CORE_READ(skb, network_header);
	if (protocol == ETH_P_IP)
		bpf_probe_read_kernel(&l4, 1, head + nh + 9);  /* iphdr.protocol */
	else if (protocol == ETH_P_IPV6)
		bpf_probe_read_kernel(&l4, 1, head + nh + 6);  /* ipv6hdr.nexthdr */
	return l4 == IPPROTO_TCP;
}

/* kfree_skb(struct sk_buff *skb, void *location, enum skb_drop_reason reason[, struct sock *rx_sk]) */
static __always_inline int on_kfree_skb(unsigned long long *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	__u32 reason = (__u32)ctx[2];
	const void *rx_sk = NULL;
	__u64 *n;

	if (reason == bpf_core_enum_value(enum skb_drop_reason, SKB_NOT_DROPPED_YET) ||
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED))
		return 0;
	/* rx_sk is a 6.12 addition; resolved at load like err above */
	if (bpf_core_field_exists(struct trace_event_raw_kfree_skb, rx_sk))
		rx_sk = (const void *)ctx[3];
	if (!skb_is_tcp(skb, bpf_ntohs(BPF_CORE_READ(skb, protocol)), rx_sk))
		return 0;
	n = LOOKUP_OR_INIT(&tcp_drops, &reason, &zero_u64, count_lost);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

REDEYE_TP_TWINS(inet_sock_set_state, on_set_state)
REDEYE_TP_TWINS(tcp_retransmit_skb, on_retransmit)
REDEYE_TP_TWINS(tcp_retransmit_synack, on_retransmit_synack)
REDEYE_TP_TWINS(tcp_send_reset, on_send_reset)
REDEYE_TP_TWINS(tcp_receive_reset, on_receive_reset)
REDEYE_TP_TWINS(tcp_destroy_sock, on_destroy_sock)
REDEYE_TP_TWINS(kfree_skb, on_kfree_skb)

/*
 * Run by userspace (bpf_iter) after passive opens: every fd of every
 * process; an accepted socket that has no owner yet gets the process that
 * holds it. A server blocked in its first read() does no I/O the socket
 * tracepoints see until data arrives, yet its connection is open now.
 */
SEC("iter/task_file")
int find_owners(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct socket *sock;
	struct sk_info *info;
	struct sock *sk;

	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	info = owner_of(sk);
	if (info && !info->tgid)
		tcp_owner_adopt_by(info, BPF_CORE_READ(task, tgid));
	return 0;
}
