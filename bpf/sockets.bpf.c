// SPDX-License-Identifier: GPL-2.0
/*
 * Socket data capture for the protocol parsers, from syscall tracepoints
 * only. Per connection (tgid, fd) the kernel keeps a small state; data
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

/* Set from userspace before load. */
const volatile __u32 capture_bytes = 2048; /* <= REDEYE_CAPTURE_MAX - 1 */
const volatile __u32 infer_attempts = 4;   /* messages looked at before ignoring */
const volatile __u32 self_tgid = 0;        /* the agent: its own scrapes are not traced */
/* Last bytes of a PostgreSQL message longer than the prefix, sent beside
 * the prefix: a large result set ends with CommandComplete and
 * ReadyForQuery, which close the request. 0 turns it off. */
const volatile __u32 tail_bytes = 256;     /* <= REDEYE_TAIL_MAX */

REDEYE_DEFINE_LOST_MAP()

#include "redeye/tcp_owner.h"

enum conn_state {
	CONN_INFERRING = 0,
	CONN_TRACED = 1,
	CONN_IGNORED = 2,
};

struct conn {
	__u64 generation;
	__u64 position[2]; /* per enum redeye_data_direction */
	__u32 protocol;
	__u8 role;
	__u8 state;
	__u8 attempts;
	__u8 tls; /* bytes move through SSL_read/SSL_write: plaintext comes from the uprobes */
	__u16 family;
	__u16 peer_port;
	__u16 local_port;
	__u16 pad2;
	__u8 peer_addr[16];
};

/* (tgid << 32 | fd) -> conn. LRU: connections of processes that died
 * without closing are evicted instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

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

/* Event under construction; the spare half lets the verifier accept
 * copies at a variable offset. */
struct scratch {
	struct redeye_data_event ev;
	char spare[REDEYE_CAPTURE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} data_events SEC(".maps");

#define CAPTURE_MASK (REDEYE_CAPTURE_MAX - 1)
#define REDEYE_TAIL_MAX 512

/* Waking the reader for every event costs a context switch per syscall
 * traced; the reader polls on its own every few tens of milliseconds and
 * is only woken when the buffer fills up. */
#define WAKEUP_BYTES (1024 * 1024)

static __always_inline __u64 wakeup_flags(void)
{
	return bpf_ringbuf_query(&data_events, BPF_RB_AVAIL_DATA) > WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP
										  : BPF_RB_NO_WAKEUP;
}
#define MAX_IOVECS 16 /* writev of chunked bodies: header, size, data, CRLF per chunk */
#define MAX_MMSGS 4


static __always_inline __u64 conn_key(__u32 tgid, int fd)
{
	return ((__u64)tgid << 32) | (__u32)fd;
}

static __always_inline void fill_peer(struct conn *c, struct sock *sk)
{
	c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	c->peer_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	c->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (c->family == AF_INET)
		BPF_CORE_READ_INTO(&c->peer_addr, sk, __sk_common.skc_daddr);
	else
		BPF_CORE_READ_INTO(&c->peer_addr, sk, __sk_common.skc_v6_daddr);
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
	c.generation = bpf_ktime_get_ns();
	c.role = role;
	fill_peer(&c, sk);
	if (bpf_map_update_elem(&conns, &key, &c, BPF_ANY)) {
		count_lost(REDEYE_LOST_MAP_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&conns, &key);
}

/* ---- TLS: plaintext from OpenSSL's SSL_read / SSL_write ------------------
 *
 * The uprobes stash the call per thread; the read/write syscall the library
 * makes inside the call names the socket (ssl -> fd), and the return probe
 * sends the plaintext as if the process had written it to the socket. */

#define SSL_HANDSHAKE 2 /* ssl_call.dir of a handshake: names the socket, moves no data */

struct ssl_call {
	__u64 ssl;
	__u64 buf;
	__u64 size_out; /* SSL_*_ex: where the byte count is written */
	__u64 enter_ns;
	__u32 dir;
	__u32 ex;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct ssl_call);
} ssl_calls SEC(".maps");

/* SSL * -> conn key; LRU: SSL objects freed without notice age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} ssl_conn SEC(".maps");

/* Inside an SSL call: learn which socket the SSL object uses, and turn the
 * connection into a TLS one (its ciphertext is never parsed). */
static __always_inline int in_ssl_call(__u64 id, __u64 key, struct conn *c)
{
	struct ssl_call *call = bpf_map_lookup_elem(&ssl_calls, &id);

	if (!call)
		return 0;
	bpf_map_update_elem(&ssl_conn, &call->ssl, &key, BPF_ANY);
	if (!c->tls) {
		/* the handshake went by as unknown bytes: start over on plaintext */
		c->tls = 1;
		c->state = CONN_INFERRING;
		c->attempts = 0;
		c->position[0] = c->position[1] = 0;
	}
	return 1;
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

static __always_inline struct scratch *start_event(struct conn *c, const struct io_args *a,
						   __u32 dir, __u64 size)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_buf, &zero);

	if (!s)
		return NULL;
	s->ev.kind = REDEYE_DATA;
	s->ev.protocol = c->protocol;
	s->ev.conn.tgid = current_tgid();
	s->ev.conn.fd = a->fd;
	s->ev.conn.generation = c->generation;
	s->ev.enter_ns = a->enter_ns;
	s->ev.exit_ns = bpf_ktime_get_ns();
	s->ev.position = c->position[dir & 1];
	s->ev.msg_size = size;
	s->ev.captured = 0;
	s->ev.tail = 0;
	s->ev.direction = dir;
	s->ev.role = c->role;
	s->ev.family = c->family;
	s->ev.peer_port = c->peer_port;
	s->ev.local_port = c->local_port;
	__builtin_memcpy(s->ev.peer_addr, c->peer_addr, sizeof(c->peer_addr));
	return s;
}

/* Appends up to `len` user bytes at `src` to the event's data. */
static __always_inline void append_bytes(struct scratch *s, const void *src, __u64 len)
{
	__u32 off = s->ev.captured;
	__u32 room;

	if (off >= capture_bytes)
		return;
	room = capture_bytes - off;
	if (len > room)
		len = room;
	off &= CAPTURE_MASK;
	len &= CAPTURE_MASK;
	if (bpf_probe_read_user(&s->ev.data[off], len, src) == 0)
		s->ev.captured = off + len;
}

/*
 * Adds the last tail_bytes of a long PostgreSQL message after the prefix.
 * Only plain buffers: a result set is written with send()/write() and read
 * into one buffer. Head and tail never overlap, and both fit data[].
 */
static __always_inline void append_tail(struct conn *c, struct scratch *s, const void *buf,
					__u64 size)
{
	__u32 off = s->ev.captured, len = tail_bytes;

	if (c->protocol != REDEYE_PROTO_POSTGRES || !len || len > REDEYE_TAIL_MAX)
		return;
	if (size <= (__u64)off + len || off + len >= REDEYE_CAPTURE_MAX)
		return;
	off &= CAPTURE_MASK;
	len &= REDEYE_TAIL_MAX * 2 - 1;
	if (bpf_probe_read_user(&s->ev.data[off], len, (const char *)buf + size - len) == 0)
		s->ev.tail = len;
}

/* Decides the protocol on the first messages, then sends or drops. */
static __always_inline void finish_event(struct conn *c, struct scratch *s, __u32 dir, __u64 size)
{
	if (c->state == CONN_INFERRING) {
		__u8 role = c->role;
		__u32 proto = infer_protocol(s->ev.data, s->ev.captured, size, dir, &role);

		if (proto == REDEYE_PROTO_UNKNOWN) {
			if (++c->attempts >= infer_attempts)
				c->state = CONN_IGNORED;
			c->position[dir & 1] += size;
			return;
		}
		c->protocol = proto;
		c->role = role;
		c->state = CONN_TRACED;
		s->ev.protocol = proto;
		s->ev.role = role;
	}
	if (bpf_ringbuf_output(&data_events, &s->ev,
			       offsetof(struct redeye_data_event, data) +
				       ((s->ev.captured + s->ev.tail) & CAPTURE_MASK),
			       wakeup_flags()))
		count_lost(REDEYE_LOST_RINGBUF_FULL);
	c->position[dir & 1] += size;
}

static __always_inline void emit_buffer(struct conn *c, const struct io_args *a, __u32 dir,
					const void *buf, __u64 size)
{
	struct scratch *s = start_event(c, a, dir, size);

	if (!s)
		return;
	append_bytes(s, buf, size);
	append_tail(c, s, buf, size);
	finish_event(c, s, dir, size);
}

static __always_inline void emit_iovec(struct conn *c, const struct io_args *a, __u32 dir,
				       const struct iovec *iov, __u32 iovcnt, __u64 size)
{
	struct scratch *s = start_event(c, a, dir, size);
	__u64 left = size;

	if (!s)
		return;
	for (int i = 0; i < MAX_IOVECS; i++) {
		struct iovec v;

		if (i >= iovcnt || !left)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]))
			break;
		if (v.iov_len > left)
			v.iov_len = left;
		append_bytes(s, v.iov_base, v.iov_len);
		left -= v.iov_len;
	}
	finish_event(c, s, dir, size);
}

static __always_inline void emit_msghdr(struct conn *c, const struct io_args *a, __u32 dir,
					const struct user_msghdr *m, __u64 size)
{
	struct user_msghdr h;

	if (bpf_probe_read_user(&h, sizeof(h), m))
		return;
	emit_iovec(c, a, dir, h.msg_iov, h.msg_iovlen, size);
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
		emit_buffer(c, &a, REDEYE_RECV, (void *)a.buf, ret);
		break;
	case IO_WRITE:
		emit_buffer(c, &a, REDEYE_SEND, (void *)a.buf, ret);
		break;
	case IO_READV:
		emit_iovec(c, &a, REDEYE_RECV, (struct iovec *)a.buf, a.count, ret);
		break;
	case IO_WRITEV:
		emit_iovec(c, &a, REDEYE_SEND, (struct iovec *)a.buf, a.count, ret);
		break;
	case IO_RECVMSG:
		emit_msghdr(c, &a, REDEYE_RECV, (struct user_msghdr *)a.buf, ret);
		break;
	case IO_SENDMSG:
		emit_msghdr(c, &a, REDEYE_SEND, (struct user_msghdr *)a.buf, ret);
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
			emit_msghdr(c, &a, dir, (struct user_msghdr *)&v[i].msg_hdr, len);
		}
		break;
	}
	case IO_SENDFILE: {
		/* bodies from files: the size moves the stream, no bytes */
		struct scratch *s = start_event(c, &a, REDEYE_SEND, ret);

		if (s)
			finish_event(c, s, REDEYE_SEND, ret);
		break;
	}
	}
}

/* The fd is gone (close) or now names another file (dup2/dup3 onto it). */
static __always_inline void forget_fd(int fd)
{
	__u64 key = conn_key(current_tgid(), fd);
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	__u32 zero = 0;
	struct scratch *s;

	if (!c) {
		bpf_map_delete_elem(&not_tcp, &key);
		return;
	}
	if (c->state == CONN_TRACED) {
		s = bpf_map_lookup_elem(&scratch_buf, &zero);
		if (s) {
			__builtin_memset(&s->ev, 0, offsetof(struct redeye_data_event, data));
			s->ev.kind = REDEYE_CLOSE;
			s->ev.protocol = c->protocol;
			s->ev.conn.tgid = current_tgid();
			s->ev.conn.fd = fd;
			s->ev.conn.generation = c->generation;
			s->ev.enter_ns = s->ev.exit_ns = bpf_ktime_get_ns();
			s->ev.role = c->role;
			if (bpf_ringbuf_output(&data_events, &s->ev,
					       offsetof(struct redeye_data_event, data), wakeup_flags()))
				count_lost(REDEYE_LOST_RINGBUF_FULL);
		}
	}
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

static __always_inline void ssl_enter(void *ssl, const void *buf, __u32 dir, void *size_out, __u32 ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_call call = {};

	if ((__u32)(id >> 32) == self_tgid)
		return;
	call.ssl = (__u64)ssl;
	call.buf = (__u64)buf;
	call.size_out = (__u64)size_out;
	call.enter_ns = bpf_ktime_get_ns();
	call.dir = dir;
	call.ex = ex;
	if (bpf_map_update_elem(&ssl_calls, &id, &call, BPF_ANY))
		count_lost(REDEYE_LOST_MAP_FULL);
}

static __always_inline void ssl_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_call *callp = bpf_map_lookup_elem(&ssl_calls, &id);
	struct ssl_call call;
	struct io_args a = {};
	struct conn *c;
	__u64 *key, bytes = 0;

	if (!callp)
		return;
	call = *callp;
	bpf_map_delete_elem(&ssl_calls, &id);
	if (call.dir == SSL_HANDSHAKE)
		return;
	if (call.ex) {
		/* SSL_read_ex / SSL_write_ex return 1 and store the count */
		if (ret != 1 || bpf_probe_read_user(&bytes, sizeof(bytes), (void *)call.size_out))
			return;
	} else {
		if (ret <= 0)
			return;
		bytes = ret;
	}
	key = bpf_map_lookup_elem(&ssl_conn, &call.ssl);
	if (!key)
		return;
	c = bpf_map_lookup_elem(&conns, key);
	if (!c || !c->tls || c->state == CONN_IGNORED)
		return;
	a.buf = call.buf;
	a.enter_ns = call.enter_ns;
	a.fd = (__s32)(*key & 0xffffffff);
	emit_buffer(c, &a, call.dir, (void *)call.buf, bytes);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{
	ssl_enter(ssl, buf, REDEYE_SEND, NULL, 0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{
	ssl_enter(ssl, buf, REDEYE_RECV, NULL, 0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, __u64 num, __u64 *written)
{
	ssl_enter(ssl, buf, REDEYE_SEND, written, 1);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, __u64 num, __u64 *readbytes)
{
	ssl_enter(ssl, buf, REDEYE_RECV, readbytes, 1);
	return 0;
}

/*
 * The handshake names the socket before any data moves: with TLS 1.3 the
 * first request often arrives with the handshake and SSL_read then returns
 * it without a syscall, and a reused SSL object would otherwise still point
 * at its previous connection.
 */
SEC("uprobe")
int BPF_KPROBE(ssl_handshake_enter, void *ssl)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_call call = {};

	if ((__u32)(id >> 32) == self_tgid)
		return 0;
	call.ssl = (__u64)ssl;
	call.dir = SSL_HANDSHAKE;
	/* inside SSL_read/SSL_write (renegotiation) the outer call stays */
	bpf_map_update_elem(&ssl_calls, &id, &call, BPF_NOEXIST);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_handshake_exit, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_call *call = bpf_map_lookup_elem(&ssl_calls, &id);

	if (call && call->dir == SSL_HANDSHAKE)
		bpf_map_delete_elem(&ssl_calls, &id);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_exit_ret, long ret)
{
	ssl_exit(ret);
	return 0;
}
