// SPDX-License-Identifier: GPL-2.0
/*
 * Socket data capture from the socket tracepoints sock:sock_send_length and
 * sock:sock_recv_length (Linux 6.3+). They fire only inside the socket
 * send/receive paths, in the calling process, with the struct sock: a
 * process that does no socket I/O runs none of these programs, and no
 * syscall tracepoint is attached. The syscall and its buffer, iovec array
 * or msghdr come from the task's saved user registers.
 *
 * State is per socket (its cookie): every fd and process sharing a socket
 * (dup, fork, SCM_RIGHTS) is one connection, and a reused fd number cannot
 * be taken for an old connection. Sockets opened before the agent started
 * are found at their first I/O. TCP sockets end at tcp_destroy_sock (closed
 * by every process that had them); Unix stream sockets when one end reads
 * the end of the stream.
 *
 * Framed protocols (AMQP, PostgreSQL, MySQL) are walked in the kernel: a
 * bounded loop follows the frame headers through every byte a call moved
 * and copies only each frame's head, so a burst of many frames in one read
 * reaches the parsers whole (see struct redeye_segment in abi.h).
 */
#include "redeye/bpf_common.h"
#include "redeye/syscalls.h"

char LICENSE[] SEC("license") = "GPL";

#define SOCK_STREAM 1
#define MSG_PEEK 2

REDEYE_DEFINE_LOST_MAP()

#include "redeye/capture.h"
#include "redeye/tcp_owner.h"
#include "redeye/frame_walk.h"

/* Frames followed per chunk of user memory before the walk gives up on the
 * rest of it (counted as REDEYE_LOST_FRAME_LIMIT): a 1 MiB read of
 * 64-byte frames. */
const volatile __u32 walk_steps = 16384;
/* 0 turns the in-kernel frame walk off (every message a prefix, as the
 * syscall capture sends it). */
const volatile __u32 walk_frames = 1;

/* recvmmsg/sendmmsg run the tracepoint once per message: which message of
 * the vector this thread is at. */
struct mmsg_cursor {
	__u64 vec;
	__u32 next;
	__u32 vlen;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct mmsg_cursor);
} mmsg_cursors SEC(".maps");

/* ---- connection state ------------------------------------------------- */

/* The socket's cookie: a plain load once the kernel (or an earlier call
 * here) has given it one, the helper only the first time. */
static __always_inline __u64 cookie_of(struct sock *sk)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;

	return cookie ? cookie : bpf_get_socket_cookie(sk);
}

/* Which end of a Unix stream connection a socket is: the accepted one
 * carries the listener's address and no path of its own (bind sets the
 * path). REDEYE_ROLE_UNKNOWN when both ends look alike (a client bound to
 * an abstract name): inference decides then. */
static __always_inline __u8 unix_role(struct sock *sk)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct unix_sock *peer = (struct unix_sock *)BPF_CORE_READ(u, peer);
	int self_server = BPF_CORE_READ(u, addr) && !BPF_CORE_READ(u, path.dentry);
	int peer_server = peer && BPF_CORE_READ(peer, addr) && !BPF_CORE_READ(peer, path.dentry);

	if (self_server == peer_server)
		return REDEYE_ROLE_UNKNOWN;
	return self_server ? REDEYE_ROLE_SERVER : REDEYE_ROLE_CLIENT;
}

/*
 * Sockets redeye has decided to leave alone (not TCP nor a Unix stream, or
 * no known protocol in their first messages), marked in the socket itself:
 * their every later call costs one socket-local storage lookup and no hash
 * lookup, and they take no room in `conns`. The mark goes with the socket.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u8);
} ignored_socks SEC(".maps");

/* Marks the socket ignored and drops its state; keeps the state (IGNORED)
 * when the mark cannot be made, so the socket is still left alone. */
static __always_inline void ignore_sock(struct sock *sk, __u64 cookie)
{
	if (bpf_sk_storage_get(&ignored_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE))
		bpf_map_delete_elem(&conns, &cookie);
}

/* First I/O on a socket: its state, INFERRING for TCP and Unix stream
 * sockets; anything else is marked ignored (NULL). */
static __always_inline struct conn *open_sock(struct sock *sk, __u64 cookie)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	struct conn c = {};

	c.id.sock = cookie;
	/* a state the LRU pushed out and made again is a new connection to
	 * userspace: its stream positions start over */
	c.id.generation = bpf_ktime_get_ns();
	c.state = CONN_IGNORED;
	if ((family == AF_INET || family == AF_INET6) && BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP) {
		struct sk_info *info = owner_of(sk);

		c.state = CONN_INFERRING;
		if (info) {
			c.role = info->direction == REDEYE_DIR_OUTBOUND ? REDEYE_ROLE_CLIENT : REDEYE_ROLE_SERVER;
			c.fresh = 1;
			/* the process that does I/O on an accepted socket owns it */
			if (!info->tgid)
				tcp_owner_adopt(info);
		}
	} else if (family == AF_UNIX && BPF_CORE_READ(sk, sk_type) == SOCK_STREAM) {
		c.state = CONN_INFERRING;
		c.role = unix_role(sk);
		c.fresh = c.role != REDEYE_ROLE_UNKNOWN;
	}
	if (c.state == CONN_IGNORED && bpf_sk_storage_get(&ignored_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE))
		return NULL;
	fill_peer(&c, sk);
	if (bpf_map_update_elem(&conns, &cookie, &c, BPF_ANY)) {
		count_lost(REDEYE_LOST_MAP_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&conns, &cookie);
}

/* The server's socket path of a Unix connection, once, before its first
 * data event: sun_path, "@name" for an abstract address. Reserved in the
 * ring rather than built in the scratch, which holds that data event. */
#define UNIX_PATH_MAX 108
struct unix_path_event {
	struct redeye_data_event_header h;
	char path[128];
};

static __always_inline void send_unix_path(struct conn *c, struct sock *sk)
{
	struct unix_sock *u = (struct unix_sock *)sk;
	struct unix_address *addr;
	struct unix_path_event *e;
	__u32 plen;
	int len;

	if (c->family != AF_UNIX || c->unix_path_sent)
		return;
	c->unix_path_sent = 1;
	if (c->role == REDEYE_ROLE_CLIENT)
		u = (struct unix_sock *)BPF_CORE_READ(u, peer);
	if (!u)
		return;
	addr = BPF_CORE_READ(u, addr);
	if (!addr)
		return;
	len = BPF_CORE_READ(addr, len) - (int)sizeof(__u16); /* sun_family */
	if (len <= 0)
		return;
	if (len > UNIX_PATH_MAX)
		len = UNIX_PATH_MAX;
	plen = len;
	barrier_var(plen);
	plen &= 127;
	e = bpf_ringbuf_reserve(&data_events, sizeof(*e), 0);
	if (!e) {
		count_lost(REDEYE_LOST_RINGBUF_FULL);
		return;
	}
	__builtin_memset(&e->h, 0, sizeof(e->h));
	e->h.kind = REDEYE_UNIX_PATH;
	e->h.protocol = c->protocol;
	e->h.conn = c->id;
	e->h.role = c->role;
	e->h.family = AF_UNIX;
	e->h.tgid = current_tgid();
	e->h.enter_ns = e->h.exit_ns = bpf_ktime_get_ns();
	if (bpf_probe_read_kernel(e->path, plen, &addr->name[0].sun_path) != 0) {
		bpf_ringbuf_discard(e, 0);
		return;
	}
	if (e->path[0] == 0)
		e->path[0] = '@';
	/* a path is NUL-terminated within len, an abstract name is not */
	e->h.captured = plen;
	bpf_ringbuf_submit(e, 0);
}

/* The connection ended: userspace closes it, the state goes. */
static __always_inline void end_conn(__u64 cookie)
{
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);

	if (!c)
		return;
	emit_close(c);
	bpf_map_delete_elem(&conns, &cookie);
}

/* ---- frame walk ------------------------------------------------------- */

struct walk_ctx {
	struct conn *c;
	struct scratch *s;
	const char *ptr; /* the chunk, in user memory */
	__u32 len;
	__u32 off;       /* bytes of the chunk accounted for */
	__u32 dir;
	__u32 done;
};

/* Sends the walked event under construction; the next starts at the
 * current position. */
static __always_inline void flush_walk(struct walk_ctx *w)
{
	struct scratch *s = w->s;
	__u32 nb = s->nbytes, ns = s->nseg, table;

	if (ns) {
		if (ns > REDEYE_MAX_SEGMENTS || nb > WALK_ROOM)
			return;
		table = ns * sizeof(struct redeye_segment);
		if (bpf_probe_read_kernel(&s->ev.data[nb & CAPTURE_MASK], table & (REDEYE_CAPTURE_MAX / 2 - 1),
					  s->seg) == 0) {
			s->ev.segments = ns;
			s->ev.captured = nb + table;
			output_event(s, nb + table);
		}
	}
	s->ev.position = w->c->position[w->dir & 1];
	s->ev.msg_size = 0;
	s->nbytes = 0;
	s->nseg = 0;
}

/* A new segment at the current position; flushes first when the event has
 * no room for its entry and `need` more bytes. */
static __always_inline struct redeye_segment *new_segment(struct walk_ctx *w, __u32 need)
{
	struct scratch *s = w->s;
	struct redeye_segment *seg;

	if (s->nseg >= REDEYE_MAX_SEGMENTS ||
	    s->nbytes + need + (s->nseg + 1) * sizeof(struct redeye_segment) > WALK_ROOM)
		flush_walk(w);
	seg = &s->seg[s->nseg & (REDEYE_MAX_SEGMENTS - 1)];
	seg->offset = w->c->position[w->dir & 1] - s->ev.position;
	seg->length = 0;
	seg->captured = 0;
	seg->flags = 0;
	s->nseg++;
	return seg;
}

/*
 * Accounts the next `n` bytes of the chunk, copying the first `cap` of
 * them. Copied bytes extend the last segment while it has no uncaptured
 * rest; uncaptured ones always extend it (`flags` says what they are).
 */
static __always_inline void add_range(struct walk_ctx *w, __u32 n, __u32 cap, __u16 flags)
{
	struct scratch *s = w->s;
	struct conn *c = w->c;
	struct redeye_segment *seg = NULL;
	__u32 dir = w->dir & 1;

	if (cap > n)
		cap = n;
	if (s->nseg)
		seg = &s->seg[(s->nseg - 1) & (REDEYE_MAX_SEGMENTS - 1)];
	if (cap) {
		__u32 at;

		if (!seg || seg->length != seg->captured || s->nbytes + cap > WALK_ROOM - sizeof(*seg))
			seg = new_segment(w, cap);
		at = s->nbytes;
		if (at > WALK_ROOM || cap > WALK_ROOM)
			return;
		/* keep the masks: the verifier needs them on the registers it copies with */
		barrier_var(at);
		barrier_var(cap);
		at &= CAPTURE_MASK;
		cap &= CAPTURE_MASK;
		if (bpf_probe_read_user(&s->ev.data[at], cap, w->ptr + w->off) != 0) {
			/* unreadable: a hole, and the segment ends with it */
			seg->flags |= REDEYE_SEGMENT_LOST;
			c->walk[dir].synced = 0;
		} else {
			s->nbytes = at + cap;
			seg->captured += cap;
		}
		seg->length += cap;
		c->position[dir] += cap;
		s->ev.msg_size += cap;
		w->off += cap;
		n -= cap;
	}
	if (n) {
		if (!seg)
			seg = new_segment(w, 0);
		seg->length += n;
		seg->flags |= flags;
		c->position[dir] += n;
		s->ev.msg_size += n;
		w->off += n;
	}
}

/* One step of the walk: the next frame's header when it is not decoded
 * yet, then its payload up to the end of the chunk or of the frame: one
 * step per frame. */
static long walk_step(__u32 i, void *ctx)
{
	struct walk_ctx *w = ctx;
	struct conn *c = w->c;
	struct walk_dir *wd;
	__u32 dir = w->dir & 1, left, n, cap = 0;
	struct frame_head fh;
	__u32 have, take;
	__u64 pos;

	if (!c || !w->s || w->off >= w->len)
		return 1;
	wd = &c->walk[dir];
	left = w->len - w->off;
	if (!wd->synced) {
		/* lost track mid-chunk (bytes that are not the protocol): the
		 * parser gets their head, rejects them and resyncs after the hole */
		add_range(w, left, left > head_cap() ? head_cap() : left, REDEYE_SEGMENT_LOST);
		return 0;
	}
	if (!wd->decoded) {
		/* the header at hdr_start, of which carry_len bytes came earlier:
		 * the rest is read after them, in place */
		have = wd->carry_len;
		if (have >= FRAME_HEADER_MAX)
			have = FRAME_HEADER_MAX - 1;
		take = FRAME_HEADER_MAX - have;
		if (take > left)
			take = left;
		barrier_var(have);
		barrier_var(take);
		have &= FRAME_HEADER_MAX - 1;
		take &= FRAME_HEADER_MAX * 2 - 1;
		if (take && bpf_probe_read_user(&wd->carry[have], take, w->ptr + w->off) != 0) {
			wd->synced = 0;
			return 0;
		}
		switch (decode_frame_head(c, dir, wd->carry, have + take, wd->hdr_start, &fh)) {
		case FRAME_NEEDS_MORE:
			/* cut by the end of the chunk: the rest comes with the next */
			wd->carry_len = have + take;
			add_range(w, left, left, 0);
			return 0;
		case FRAME_INVALID:
			wd->synced = 0;
			return 0;
		}
		wd->decoded = 1;
		wd->frame_end = wd->hdr_start + fh.length;
		wd->capture_to = wd->hdr_start + fh.head;
	}
	pos = c->position[dir];
	n = wd->frame_end - pos > left ? left : wd->frame_end - pos;
	if (wd->capture_to > pos)
		cap = wd->capture_to - pos > n ? n : wd->capture_to - pos;
	add_range(w, n, cap, 0);
	if (c->position[dir] >= wd->frame_end) {
		/* the frame is whole: the next header starts here */
		wd->decoded = 0;
		wd->hdr_start = wd->frame_end;
		wd->carry_len = 0;
		__builtin_memset(wd->carry, 0, sizeof(wd->carry));
	}
	return 0;
}

/* Walks `len` bytes of user memory at `ptr`, the next bytes of direction
 * `dir`, into the event under construction. */
static __always_inline void walk_chunk(struct conn *c, struct scratch *s, __u32 dir, const char *ptr, __u32 len)
{
	struct walk_ctx w = {.c = c, .s = s, .ptr = ptr, .len = len, .dir = dir};

	bpf_loop(walk_steps, walk_step, &w, 0);
	if (w.off < w.len) {
		count_lost(REDEYE_LOST_FRAME_LIMIT);
		c->walk[dir & 1].synced = 0;
		add_range(&w, w.len - w.off, 0, REDEYE_SEGMENT_LOST);
	}
}

/* A message on a walked connection: resynchronises at its start when the
 * walk lost track, then walks each chunk of it. */
static __always_inline void start_walk(struct conn *c, __u32 dir)
{
	struct walk_dir *wd = &c->walk[dir & 1];

	if (wd->synced)
		return;
	/* a message starts at a frame boundary unless frames span messages:
	 * the header decode rejects it otherwise */
	__builtin_memset(wd, 0, sizeof(*wd));
	wd->synced = 1;
	wd->hdr_start = c->position[dir & 1];
}

static __always_inline void finish_walk(struct conn *c, struct scratch *s, __u32 dir)
{
	struct walk_ctx w = {.c = c, .s = s, .dir = dir};

	flush_walk(&w);
}

static __always_inline int walked(const struct conn *c)
{
	return walk_frames && c->state == CONN_TRACED && !c->tls &&
	       (c->protocol == REDEYE_PROTO_AMQP || c->protocol == REDEYE_PROTO_POSTGRES ||
		c->protocol == REDEYE_PROTO_MYSQL);
}

/* ---- the socket tracepoints ------------------------------------------- */

/* Where the bytes of the current socket call are in user memory. */
enum buf_kind { BUF_NONE, BUF_PLAIN, BUF_IOVEC, BUF_MSGHDR };

struct user_buf {
	__u32 kind;
	__u32 count; /* iovcnt */
	const void *ptr;
	__u64 size;  /* bytes the call moved */
	__u64 enter_ns;
	__u32 dir;
	__u32 pad;
	__u64 sk;    /* the socket, as a number: read with CO-RE only */
};

/* `regs` is trusted (bpf_task_pt_regs): its fields are plain loads, where
 * the CORE_SYSCALL readers would call a probe-read helper per argument. */
static __always_inline void user_buf_of(struct pt_regs *regs, long nr, struct user_buf *b)
{
	const void *arg2 = (const void *)PT_REGS_PARM2_SYSCALL(regs);

	b->kind = BUF_NONE;
	b->ptr = arg2;
	switch (nr) {
	case NR_read: case NR_write: case NR_recvfrom: case NR_sendto:
		b->kind = BUF_PLAIN;
		break;
	case NR_readv: case NR_writev:
		b->kind = BUF_IOVEC;
		b->count = (__u32)PT_REGS_PARM3_SYSCALL(regs);
		break;
	case NR_recvmsg: case NR_sendmsg:
		b->kind = BUF_MSGHDR;
		break;
	case NR_recvmmsg: case NR_sendmmsg: {
		/* one call per message: the cursor says which */
		__u64 id = bpf_get_current_pid_tgid();
		__u32 vlen = (__u32)PT_REGS_PARM3_SYSCALL(regs), idx = 0;
		struct mmsg_cursor *cur = bpf_map_lookup_elem(&mmsg_cursors, &id), fresh = {};

		if (cur && cur->vec == (__u64)arg2 && cur->next < vlen)
			idx = cur->next;
		fresh.vec = (__u64)arg2;
		fresh.next = idx + 1;
		fresh.vlen = vlen;
		if (fresh.next < vlen)
			bpf_map_update_elem(&mmsg_cursors, &id, &fresh, BPF_ANY);
		else if (cur)
			bpf_map_delete_elem(&mmsg_cursors, &id);
		b->kind = BUF_MSGHDR;
		b->ptr = (const char *)arg2 + (__u64)(idx & 1023) * sizeof(struct mmsghdr);
		break;
	}
	default:
		/* sendfile, splice, io_uring: the bytes never were in a buffer we know */
		break;
	}
}

static __always_inline void walk_iovec(struct conn *c, struct scratch *s, __u32 dir, const struct iovec *iov,
				       __u32 iovcnt, __u64 size)
{
	__u64 left = size;

#pragma clang loop unroll(disable)
	for (int i = 0; i < MAX_IOVECS; i++) {
		struct iovec v;

		if (i >= iovcnt || !left)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]))
			break;
		if (v.iov_len > left)
			v.iov_len = left;
		walk_chunk(c, s, dir, v.iov_base, v.iov_len);
		left -= v.iov_len;
	}
	if (left) {
		/* more iovecs than followed: a hole, the walk starts over after it */
		struct walk_ctx w = {.c = c, .s = s, .dir = dir, .len = left};

		c->walk[dir & 1].synced = 0;
		add_range(&w, left, 0, REDEYE_SEGMENT_LOST);
	}
}

/* A message of a walked connection. Global, so that the verifier checks it
 * once on its own rather than inside every caller. */
__noinline int walk_message(struct conn *c, const struct user_buf *b)
{
	struct scratch *s;
	struct user_msghdr h;
	__u32 dir;

	if (!c || !b)
		return 0;
	dir = b->dir & 1;
	/* the tracepoint fires at the call's return: one time for both ends */
	s = start_event_at(c, b->enter_ns, b->enter_ns, dir, 0);
	if (!s)
		return 0;
	start_walk(c, dir);
	switch (b->kind) {
	case BUF_PLAIN:
		walk_chunk(c, s, dir, b->ptr, b->size);
		break;
	case BUF_IOVEC:
		walk_iovec(c, s, dir, b->ptr, b->count, b->size);
		break;
	case BUF_MSGHDR:
		if (bpf_probe_read_user(&h, sizeof(h), b->ptr) == 0) {
			walk_iovec(c, s, dir, h.msg_iov, h.msg_iovlen, b->size);
			break;
		}
		/* fall through */
	default: {
		/* bytes we cannot see: they move the stream; frames resync after */
		struct walk_ctx w = {.c = c, .s = s, .dir = dir, .len = b->size};

		c->walk[dir].synced = 0;
		add_range(&w, b->size, 0, REDEYE_SEGMENT_LOST);
	}
	}
	finish_walk(c, s, dir);
	return 0;
}

/* A message of a connection not walked (HTTP, or not known yet): its
 * prefix, the protocol decided on the first messages. Global like
 * walk_message. */
__noinline int plain_message(struct conn *c, const struct user_buf *b)
{
	struct scratch *s;
	struct user_msghdr h;
	int was_inferring;
	__u32 dir;

	if (!c || !b)
		return 0;
	dir = b->dir & 1;
	was_inferring = c->state == CONN_INFERRING;
	s = start_event_at(c, b->enter_ns, b->enter_ns, dir, b->size);
	if (!s)
		return 0;
	switch (b->kind) {
	case BUF_PLAIN:
		append_bytes(s, b->ptr, b->size);
		break;
	case BUF_IOVEC:
		append_iovec(s, b->ptr, b->count, b->size);
		break;
	case BUF_MSGHDR:
		if (bpf_probe_read_user(&h, sizeof(h), b->ptr) == 0)
			append_iovec(s, h.msg_iov, h.msg_iovlen, b->size);
		break;
	}
	if (!infer_on(c, s, dir, b->size))
		return 0;
	if (was_inferring)
		send_unix_path(c, (struct sock *)b->sk);
	if (was_inferring && walked(c)) {
		/* the first message of a framed protocol: walk it like the rest */
		c->walk[0].synced = c->walk[1].synced = 0;
		walk_message(c, b);
		return 0;
	}
	output_event(s, s->ev.captured);
	c->position[dir] += b->size;
	return 0;
}

static __always_inline int on_sock_io(struct sock *sk, int ret, int flags, __u32 dir)
{
	__u64 id = bpf_get_current_pid_tgid(), cookie;
	struct pt_regs *regs;
	struct user_buf b = {};
	struct conn *c;
	long nr;

	if (!sk || (__u32)(id >> 32) == self_tgid)
		return 0;
	/* sockets left alone: the common case, and the cheapest test */
	if (bpf_sk_storage_get(&ignored_socks, sk, 0, 0))
		return 0;
	cookie = cookie_of(sk);
	c = bpf_map_lookup_elem(&conns, &cookie);
	if (!c) {
		/* even a failed call: the first I/O names an accepted socket's owner */
		c = open_sock(sk, cookie);
		if (!c)
			return 0;
	}
	if (c->state == CONN_IGNORED) {
		ignore_sock(sk, cookie);
		return 0;
	}
	if (ret < 0)
		return 0;
	if (dir == REDEYE_RECV && (flags & MSG_PEEK))
		return 0; /* nothing consumed: the same bytes come again */
	if (in_ssl_call(id, cookie, c) || c->tls)
		return 0;
	if (ret == 0) {
		/* end of stream: the other end of a Unix connection closed. (Its
		 * own state goes with the LRU, or userspace's idle expiry: there is
		 * no hook where an AF_UNIX socket is released.) */
		if (dir == REDEYE_RECV && c->family == AF_UNIX)
			end_conn(cookie);
		return 0;
	}
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return 0;
#if defined(__TARGET_ARCH_x86)
	nr = regs->orig_ax;
#else
	nr = bpf_syscall_nr(regs);
#endif
	user_buf_of(regs, nr, &b);
	/* The tracepoint fires when the socket call returns; its start is not
	 * seen, so both times are the return. */
	b.enter_ns = bpf_ktime_get_ns();
	b.size = ret;
	b.dir = dir;
	b.sk = (__u64)sk;
	if (walked(c))
		walk_message(c, &b);
	else if (b.kind == BUF_NONE)
		emit_size_only(c, b.enter_ns, b.enter_ns, dir, ret);
	else
		plain_message(c, &b);
	/* inference gave up on it with this message */
	if (c->state == CONN_IGNORED)
		ignore_sock(sk, cookie);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send, struct sock *sk, int ret, int flags)
{
	return on_sock_io(sk, ret, flags, REDEYE_SEND);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv, struct sock *sk, int ret, int flags)
{
	return on_sock_io(sk, ret, flags, REDEYE_RECV);
}

/*
 * A TCP socket's end: its state goes, userspace closes the connection.
 * tcp_destroy_sock fires once the socket is closed and orphaned, after the
 * last fd to it is gone, so no socket call of any process is still to
 * report bytes of it. TCP_CLOSE itself is too early: a reset from the peer
 * sets it in softirq while the process is still inside a send whose bytes
 * this program sees only at its return, and the close would reach
 * userspace before them (a response lost when the client resets as soon as
 * it has read the head).
 */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(sock_destroy, struct sock *sk)
{
	__u64 cookie;

	if (!sk)
		return 0;
	/* no cookie yet: no I/O was ever seen on it, so it has no state */
	cookie = sk->__sk_common.skc_cookie.counter;
	if (cookie)
		end_conn(cookie);
	return 0;
}
