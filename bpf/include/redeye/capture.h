/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What both data-capture objects share: the per-connection state, the
 * event under construction, plain prefix capture (a buffer, an iovec array
 * or a msghdr), protocol inference on the first messages, and the OpenSSL
 * uprobes. sockets.bpf.c feeds it from the socket tracepoints (one state per
 * socket); sockets_syscalls.bpf.c from the raw syscall tracepoints on
 * kernels without them (one state per (tgid, fd)).
 *
 * Include after REDEYE_DEFINE_LOST_MAP() (count_lost).
 */
#ifndef REDEYE_CAPTURE_H
#define REDEYE_CAPTURE_H

#include "redeye/bpf_common.h"
#include "redeye/fd_socket.h"
#include "redeye/protocol_inference.h"

#ifndef AF_UNIX
#define AF_UNIX 1
#endif

/* Set from userspace before load. */
const volatile __u32 capture_bytes = 2048; /* <= REDEYE_CAPTURE_MAX - 1 */
const volatile __u32 infer_attempts = 4;   /* messages looked at before ignoring */
const volatile __u32 self_tgid = 0;        /* the agent: its own scrapes are not traced */
/* Last bytes of a PostgreSQL message longer than the prefix, sent beside
 * the prefix: a large result set ends with CommandComplete and
 * ReadyForQuery, which close the request. 0 turns it off. Only where
 * frames are not walked in the kernel (syscall capture). */
const volatile __u32 tail_bytes = 256;     /* <= REDEYE_TAIL_MAX */

/* [0] set by userspace once some OpenSSL uprobe is attached: until then a
 * traced call does not look for an SSL call in flight (an array lookup is
 * inlined by the verifier: a load, not a helper call). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ssl_switch SEC(".maps");

enum conn_state {
	CONN_INFERRING = 0,
	CONN_TRACED = 1,
	CONN_IGNORED = 2,
};

/* In-kernel walk of one direction's frames (sockets.bpf.c). */
struct walk_dir {
	__u64 hdr_start;  /* stream position of the current frame's header */
	__u64 frame_end;  /* end of the current frame, when decoded */
	__u64 capture_to; /* bytes of the current frame before this are copied */
	__u8 synced;      /* hdr_start is known to be a frame boundary */
	__u8 decoded;     /* the header at hdr_start is decoded: in its payload */
	__u8 carry_len;   /* header bytes already seen (cut by the end of a chunk) */
	__u8 pad;
	__u8 carry[8];
};

struct conn {
	struct redeye_conn_id id; /* as userspace knows the connection */
	__u64 position[2];        /* per enum redeye_data_direction */
	struct walk_dir walk[2];
	__u32 protocol;
	__u8 role;
	__u8 state;
	__u8 attempts;
	__u8 tls; /* bytes move through SSL_read/SSL_write: plaintext comes from the uprobes */
	__u16 family;
	__u16 peer_port;
	__u16 local_port;
	__u8 fresh;  /* seen from its start (role known from connect/accept) */
	__u8 unix_path_sent;
	__u8 peer_addr[16];
};

/* Connection state; the key is the socket cookie (socket capture) or
 * tgid << 32 | fd (syscall capture). LRU: connections whose end went by
 * unseen are evicted instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

/* Walked events keep their segment table apart until they are sent. */
#define WALK_ROOM 3072 /* bytes + table of one walked event */

#define MAX_IOVECS 16 /* writev of chunked bodies: header, size, data, CRLF per chunk */

/* Event under construction; the spare half lets the verifier accept
 * copies at a variable offset. */
struct scratch {
	struct redeye_data_event ev;
	char spare[REDEYE_CAPTURE_MAX];
	struct redeye_segment seg[REDEYE_MAX_SEGMENTS];
	__u32 nbytes; /* walked event: captured bytes in ev.data */
	__u32 nseg;
	/* bytes this CPU sent to the ring since it last asked how full it is */
	__u32 unqueried;
	__u32 pad;
	/* the iovec array of the current call, read from the process in one
	 * copy: every copy from user memory pays the kernel's usercopy checks */
	struct iovec iov[MAX_IOVECS];
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

/* The query reads the consumer's position, a cache line the reader writes:
 * a data event asks only once its CPU has sent QUERY_BYTES since the last
 * time, so the reader is woken at most that much per CPU later. */
#define QUERY_BYTES (64 * 1024)

static __always_inline __u64 data_wakeup_flags(struct scratch *s, __u32 bytes)
{
	s->unqueried += bytes;
	if (s->unqueried < QUERY_BYTES)
		return BPF_RB_NO_WAKEUP;
	s->unqueried = 0;
	return wakeup_flags();
}

static __always_inline struct scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_buf, &zero);
}

static __always_inline void fill_peer(struct conn *c, struct sock *sk)
{
	c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (c->family == AF_UNIX)
		return;
	c->peer_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	c->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (c->family == AF_INET)
		BPF_CORE_READ_INTO(&c->peer_addr, sk, __sk_common.skc_daddr);
	else
		BPF_CORE_READ_INTO(&c->peer_addr, sk, __sk_common.skc_v6_daddr);
}

/* The event header of the connection, for `size` bytes at the current
 * position of direction `dir`, moved by a call timed [enter_ns, exit_ns];
 * data empty. */
static __always_inline struct scratch *start_event_at(struct conn *c, __u64 enter_ns, __u64 exit_ns, __u32 dir,
						      __u64 size)
{
	struct scratch *s = scratch();
	__u64 id = bpf_get_current_pid_tgid();

	if (!s)
		return NULL;
	s->ev.kind = REDEYE_DATA;
	s->ev.protocol = c->protocol;
	s->ev.conn = c->id;
	s->ev.enter_ns = enter_ns;
	s->ev.exit_ns = exit_ns;
	s->ev.position = c->position[dir & 1];
	s->ev.msg_size = size;
	s->ev.captured = 0;
	s->ev.tail = 0;
	s->ev.segments = 0;
	s->ev.direction = dir;
	s->ev.role = c->role;
	s->ev.family = c->family;
	s->ev.peer_port = c->peer_port;
	s->ev.local_port = c->local_port;
	s->ev.tgid = id >> 32;
	s->ev.tid = (__u32)id;
	__builtin_memcpy(s->ev.peer_addr, c->peer_addr, sizeof(c->peer_addr));
	s->nbytes = 0;
	s->nseg = 0;
	return s;
}

/* The same, for a call that returns now. */
static __always_inline struct scratch *start_event(struct conn *c, __u64 enter_ns, __u32 dir, __u64 size)
{
	return start_event_at(c, enter_ns, bpf_ktime_get_ns(), dir, size);
}

static __always_inline void output_event(struct scratch *s, __u32 data_bytes)
{
	__u32 size = offsetof(struct redeye_data_event, data) + (data_bytes & CAPTURE_MASK);

	if (bpf_ringbuf_output(&data_events, &s->ev, size, data_wakeup_flags(s, size)))
		count_lost(REDEYE_LOST_RINGBUF_FULL);
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

/* On the first messages: decides the protocol from the prefix in `s`.
 * Returns 1 once the connection is traced, 0 while it is not (the
 * message's size has moved the stream then). */
static __always_inline int infer_on(struct conn *c, struct scratch *s, __u32 dir, __u64 size)
{
	__u8 role = c->role;
	__u32 proto;

	if (c->state != CONN_INFERRING)
		return c->state == CONN_TRACED;
	proto = infer_protocol(s->ev.data, s->ev.captured, size, dir, &role);
	if (proto == REDEYE_PROTO_UNKNOWN) {
		if (++c->attempts >= infer_attempts)
			c->state = CONN_IGNORED;
		c->position[dir & 1] += size;
		return 0;
	}
	c->protocol = proto;
	c->role = role;
	c->state = CONN_TRACED;
	s->ev.protocol = proto;
	s->ev.role = role;
	return 1;
}

/* Decides the protocol on the first messages, then sends or drops. */
static __always_inline void finish_event(struct conn *c, struct scratch *s, __u32 dir, __u64 size)
{
	if (!infer_on(c, s, dir, size))
		return;
	output_event(s, s->ev.captured + s->ev.tail);
	c->position[dir & 1] += size;
}

static __always_inline void emit_buffer(struct conn *c, __u64 enter_ns, __u32 dir, const void *buf, __u64 size)
{
	struct scratch *s = start_event(c, enter_ns, dir, size);

	if (!s)
		return;
	append_bytes(s, buf, size);
	append_tail(c, s, buf, size);
	finish_event(c, s, dir, size);
}

/* Reads the first (at most MAX_IOVECS) entries of an iovec array into
 * s->iov; returns how many, 0 when it cannot be read. */
static __always_inline __u32 read_iovecs(struct scratch *s, const struct iovec *iov, __u64 iovcnt)
{
	__u32 n = iovcnt > MAX_IOVECS ? MAX_IOVECS : (__u32)iovcnt;
	__u64 bytes;

	if (n == 0)
		return 0;
	bytes = n * sizeof(struct iovec);
	/* bound the register the copy is given, not a copy of it */
	barrier_var(bytes);
	if (bytes > sizeof(s->iov))
		return 0;
	if (bpf_probe_read_user(s->iov, bytes, iov))
		return 0;
	return n;
}

/* The prefix of `size` bytes spread over an iovec array. */
static __always_inline void append_iovec(struct scratch *s, const struct iovec *iov, __u32 iovcnt, __u64 size)
{
	__u32 n = read_iovecs(s, iov, iovcnt);
	__u64 left = size;

	for (int i = 0; i < MAX_IOVECS; i++) {
		struct iovec v;

		if (i >= n || !left)
			break;
		v = s->iov[i & (MAX_IOVECS - 1)];
		if (v.iov_len > left)
			v.iov_len = left;
		append_bytes(s, v.iov_base, v.iov_len);
		left -= v.iov_len;
	}
}

static __always_inline void emit_iovec(struct conn *c, __u64 enter_ns, __u32 dir, const struct iovec *iov,
				       __u32 iovcnt, __u64 size)
{
	struct scratch *s = start_event(c, enter_ns, dir, size);

	if (!s)
		return;
	append_iovec(s, iov, iovcnt, size);
	finish_event(c, s, dir, size);
}

static __always_inline void emit_msghdr(struct conn *c, __u64 enter_ns, __u32 dir, const struct user_msghdr *m,
					__u64 size)
{
	struct user_msghdr h;

	if (bpf_probe_read_user(&h, sizeof(h), m))
		return;
	emit_iovec(c, enter_ns, dir, h.msg_iov, h.msg_iovlen, size);
}

/* Bytes that moved without passing through a user buffer (sendfile,
 * splice): the size moves the stream, no bytes. */
static __always_inline void emit_size_only(struct conn *c, __u64 enter_ns, __u64 exit_ns, __u32 dir, __u64 size)
{
	struct scratch *s = start_event_at(c, enter_ns, exit_ns, dir, size);

	if (s)
		finish_event(c, s, dir, size);
}

/*
 * A close event is reserved in the ring and written in place, never built
 * in the per-CPU scratch: a TCP socket's end (tcp_destroy_sock) often comes
 * in softirq, which can interrupt a program on this CPU that is halfway
 * through a data event in that scratch.
 */
static __always_inline void emit_close(struct conn *c)
{
	struct redeye_data_event_header *e;
	__u64 id = bpf_get_current_pid_tgid();

	if (c->state != CONN_TRACED)
		return;
	e = bpf_ringbuf_reserve(&data_events, sizeof(*e), 0);
	if (!e) {
		count_lost(REDEYE_LOST_RINGBUF_FULL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = REDEYE_CLOSE;
	e->protocol = c->protocol;
	e->conn = c->id;
	e->role = c->role;
	e->family = c->family;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->enter_ns = e->exit_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, wakeup_flags());
}

/* ---- TLS: plaintext from OpenSSL's SSL_read / SSL_write ------------------
 *
 * The uprobes stash the call per thread; the socket I/O the library does
 * inside the call names the connection (ssl -> conn key), and the return
 * probe sends the plaintext as if the process had written it to the socket. */

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
	struct ssl_call *call;
	__u32 zero = 0, *on = bpf_map_lookup_elem(&ssl_switch, &zero);

	if (!on || !*on)
		return 0;
	call = bpf_map_lookup_elem(&ssl_calls, &id);
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
	emit_buffer(c, call.enter_ns, call.dir, (void *)call.buf, bytes);
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

#endif /* REDEYE_CAPTURE_H */
