// SPDX-License-Identifier: GPL-2.0
/*
 * Socket data capture from the raw syscall tracepoints: the fallback for
 * kernels without sock:sock_send_length / sock_recv_length (before 6.3),
 * chosen by userspace when sockets.bpf.c cannot load. Every syscall of the
 * node runs these programs; prefer sockets.bpf.c wherever it loads.
 * Per connection (tgid, fd) the kernel keeps a small state; data
 * syscalls on fds that are not TCP sockets cost one hash lookup and a short
 * walk from the fd to its inode. A connection whose first messages look
 * like no known protocol is marked ignored and costs one lookup from then
 * on. Traced connections send, per syscall, a header (positions, sizes,
 * times) and a bounded prefix of the bytes: headers, not bodies.
 */
#include "redeye/bpf_common.h"
#include "redeye/fd_socket.h"
#include "redeye/syscalls.h"
#include "redeye/protocol_inference.h"

char LICENSE[] SEC("license") = "GPL";

#define EINPROGRESS 115

REDEYE_DEFINE_LOST_MAP()

#include "redeye/capture.h"
#include "redeye/tcp_owner.h"

/*
 * (tgid << 32 | fd) of fds found not to be TCP sockets (files, pipes, UDP,
 * unix sockets): their reads and writes skip the walk from the fd table to
 * the socket. Cleared when the fd is closed, dup'ed over, connected or
 * accepted; LRU, so a process that never closes cannot fill it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} not_tcp SEC(".maps");

enum io_kind {
	IO_READ, IO_WRITE, IO_READV, IO_WRITEV, IO_RECVMSG, IO_SENDMSG,
	IO_RECVMMSG, IO_SENDMMSG, IO_SENDFILE, IO_CONNECT,
};

/* A syscall in flight: its arguments, from entry to exit. */
struct io_args {
	__u64 buf; /* buffer, iovec array, msghdr or mmsghdr array */
	__u64 enter_ns;
	__s32 fd;
	__u32 kind;
	__u32 count; /* iovcnt / vlen */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct io_args);
} in_flight SEC(".maps");

#define MAX_MMSGS 4


static __always_inline __u64 conn_key(__u32 tgid, int fd)
{
	return ((__u64)tgid << 32) | (__u32)fd;
}

/* New state for a TCP socket fd; NULL when the fd is no TCP socket. */
static __always_inline struct conn *open_conn(__u64 key, int fd, __u8 role)
{
	struct sock *sk = tcp_sock_of_fd(fd);
	struct conn c = {};

	if (!sk)
		return NULL;
	if (role != REDEYE_ROLE_UNKNOWN)
		bpf_map_delete_elem(&not_tcp, &key); /* the fd number was reused without close() */
	c.id.sock = key;
	c.id.generation = bpf_ktime_get_ns();
	c.role = role;
	c.fresh = role != REDEYE_ROLE_UNKNOWN;
	fill_peer(&c, sk);
	if (bpf_map_update_elem(&conns, &key, &c, BPF_ANY)) {
		count_lost(REDEYE_LOST_MAP_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&conns, &key);
}

static __always_inline void enter_io(int fd, const void *buf, __u32 kind, __u32 count)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 key = conn_key(id >> 32, fd);
	struct conn *c;
	struct io_args a = {};

	if ((__u32)(id >> 32) == self_tgid)
		return;
	/* Files and pipes first: their calls should cost one lookup. */
	if (bpf_map_lookup_elem(&not_tcp, &key))
		return;
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c) {
		static const __u8 one = 1;

		/* sockets opened before the agent started are found here */
		c = open_conn(key, fd, REDEYE_ROLE_UNKNOWN);
		if (!c) {
			bpf_map_update_elem(&not_tcp, &key, &one, BPF_ANY);
			return;
		}
	}
	if (in_ssl_call(id, key, c) || c->tls || c->state == CONN_IGNORED)
		return;
	a.buf = (__u64)buf;
	a.enter_ns = bpf_ktime_get_ns();
	a.fd = fd;
	a.kind = kind;
	a.count = count;
	if (bpf_map_update_elem(&in_flight, &id, &a, BPF_ANY))
		count_lost(REDEYE_LOST_MAP_FULL);
}

static __always_inline void exit_io(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct io_args *ap = bpf_map_lookup_elem(&in_flight, &id);
	struct io_args a;
	struct conn *c;
	__u64 key;

	if (!ap)
		return;
	a = *ap;
	bpf_map_delete_elem(&in_flight, &id);
	key = conn_key(id >> 32, a.fd);

	if (a.kind == IO_CONNECT) {
		/* non-blocking connects complete later: the socket is ours now */
		if (ret == 0 || ret == -EINPROGRESS)
			open_conn(key, a.fd, REDEYE_ROLE_CLIENT);
		return;
	}
	if (ret <= 0)
		return;
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c || c->state == CONN_IGNORED)
		return;

	switch (a.kind) {
	case IO_READ:
		emit_buffer(c, a.enter_ns, REDEYE_RECV, (void *)a.buf, ret);
		break;
	case IO_WRITE:
		emit_buffer(c, a.enter_ns, REDEYE_SEND, (void *)a.buf, ret);
		break;
	case IO_READV:
		emit_iovec(c, a.enter_ns, REDEYE_RECV, (struct iovec *)a.buf, a.count, ret);
		break;
	case IO_WRITEV:
		emit_iovec(c, a.enter_ns, REDEYE_SEND, (struct iovec *)a.buf, a.count, ret);
		break;
	case IO_RECVMSG:
		emit_msghdr(c, a.enter_ns, REDEYE_RECV, (struct user_msghdr *)a.buf, ret);
		break;
	case IO_SENDMSG:
		emit_msghdr(c, a.enter_ns, REDEYE_SEND, (struct user_msghdr *)a.buf, ret);
		break;
	case IO_RECVMMSG:
	case IO_SENDMMSG: {
		struct mmsghdr *v = (struct mmsghdr *)a.buf;
		__u32 dir = a.kind == IO_RECVMMSG ? REDEYE_RECV : REDEYE_SEND;

		/* ret is a message count here */
		for (int i = 0; i < MAX_MMSGS; i++) {
			unsigned int len;

			if (i >= ret)
				break;
			if (bpf_probe_read_user(&len, sizeof(len), &v[i].msg_len))
				break;
			c = bpf_map_lookup_elem(&conns, &key);
			if (!c || c->state == CONN_IGNORED || !len)
				break;
			emit_msghdr(c, a.enter_ns, dir, (struct user_msghdr *)&v[i].msg_hdr, len);
		}
		break;
	}
	case IO_SENDFILE: {
		/* bodies from files: the size moves the stream, no bytes */
		emit_size_only(c, a.enter_ns, bpf_ktime_get_ns(), REDEYE_SEND, ret);
		break;
	}
	}
}

/* The fd is gone (close) or now names another file (dup2/dup3 onto it). */
static __always_inline void forget_fd(int fd)
{
	__u64 key = conn_key(current_tgid(), fd);
	struct conn *c = bpf_map_lookup_elem(&conns, &key);

	if (!c) {
		bpf_map_delete_elem(&not_tcp, &key);
		return;
	}
	emit_close(c);
	bpf_map_delete_elem(&conns, &key);
}

static __always_inline void accepted(long fd)
{
	if (fd < 0)
		return;
	open_conn(conn_key(current_tgid(), fd), fd, REDEYE_ROLE_SERVER);
	tcp_owner_accepted(fd); /* for the tcp object's counters */
}

/*
 * One raw tracepoint on sys_enter and one on sys_exit dispatch on the
 * syscall numbers (redeye/syscalls.h): cheaper per traced call than a
 * perf-event tracepoint per syscall, and detaching two programs at shutdown
 * takes milliseconds where three dozen took seconds.
 */

/*
 * A syscall argument. tp_btf programs read the trusted pt_regs directly;
 * raw_tp programs (kernels whose BTF lacks the tracepoint) read it through
 * a probe read, which costs a few tens of nanoseconds on every syscall.
 */
#define SYSCALL_ARG(btf, n, regs) \
	((btf) ? PT_REGS_PARM##n##_SYSCALL(regs) : PT_REGS_PARM##n##_CORE_SYSCALL(regs))

static __always_inline long syscall_nr_of(struct pt_regs *regs, const bool btf)
{
#if defined(__TARGET_ARCH_x86)
	if (btf)
		return regs->orig_ax;
#endif
	return bpf_syscall_nr(regs);
}

static __always_inline int handle_sys_enter(struct pt_regs *regs, long nr, const bool btf)
{
	int fd;
	const void *buf;
	__u32 count;

	switch (nr) {
	case NR_read: case NR_write: case NR_readv: case NR_writev: case NR_recvfrom:
	case NR_sendto: case NR_recvmsg: case NR_sendmsg: case NR_recvmmsg: case NR_sendmmsg:
	case NR_sendfile: case NR_connect: case NR_close: case NR_dup2: case NR_dup3:
		break;
	default:
		return 0;
	}
	fd = (int)SYSCALL_ARG(btf, 1, regs);
	if (nr == NR_close) {
		forget_fd(fd);
		return 0;
	}
	if (nr == NR_dup2 || nr == NR_dup3) {
		forget_fd((int)SYSCALL_ARG(btf, 2, regs));
		return 0;
	}
	if (nr == NR_connect) {
		__u64 id = bpf_get_current_pid_tgid();
		struct io_args a = {};

		if ((__u32)(id >> 32) == self_tgid)
			return 0;
		a.fd = fd;
		a.kind = IO_CONNECT;
		a.enter_ns = bpf_ktime_get_ns();
		bpf_map_update_elem(&in_flight, &id, &a, BPF_ANY);
		return 0;
	}
	buf = (const void *)SYSCALL_ARG(btf, 2, regs);
	count = (__u32)SYSCALL_ARG(btf, 3, regs);
	switch (nr) {
	case NR_read: case NR_recvfrom:
		enter_io(fd, buf, IO_READ, 0);
		break;
	case NR_write: case NR_sendto:
		enter_io(fd, buf, IO_WRITE, 0);
		break;
	case NR_readv:
		enter_io(fd, buf, IO_READV, count);
		break;
	case NR_writev:
		enter_io(fd, buf, IO_WRITEV, count);
		break;
	case NR_recvmsg:
		enter_io(fd, buf, IO_RECVMSG, 0);
		break;
	case NR_sendmsg:
		enter_io(fd, buf, IO_SENDMSG, 0);
		break;
	case NR_recvmmsg:
		enter_io(fd, buf, IO_RECVMMSG, count);
		break;
	case NR_sendmmsg:
		enter_io(fd, buf, IO_SENDMMSG, count);
		break;
	case NR_sendfile:
		enter_io(fd, 0, IO_SENDFILE, 0);
		break;
	}
	return 0;
}

static __always_inline int handle_sys_exit(struct pt_regs *regs, long ret, const bool btf)
{
	long nr = syscall_nr_of(regs, btf);

	switch (nr) {
	case NR_accept: case NR_accept4:
		accepted(ret);
		return 0;
	case NR_read: case NR_write: case NR_readv: case NR_writev: case NR_recvfrom:
	case NR_sendto: case NR_recvmsg: case NR_sendmsg: case NR_recvmmsg: case NR_sendmmsg:
	case NR_sendfile: case NR_connect:
		exit_io(ret);
		return 0;
	default:
		return 0;
	}
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_btf, struct pt_regs *regs, long nr)
{
	return handle_sys_enter(regs, nr, true);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter_raw, struct pt_regs *regs, long nr)
{
	return handle_sys_enter(regs, nr, false);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_btf, struct pt_regs *regs, long ret)
{
	return handle_sys_exit(regs, ret, true);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(sys_exit_raw, struct pt_regs *regs, long ret)
{
	return handle_sys_exit(regs, ret, false);
}
