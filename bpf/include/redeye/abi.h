/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every struct and enum that crosses the kernel/user boundary.
 *
 * Plain C with fixed-width types so that the BPF programs (compiled with
 * clang -target bpf against vmlinux.h) and the C++ daemon (compiled with the
 * host compiler against <linux/types.h>) see the same layout.
 * userspace/bpf/abi_check.cpp static_asserts the sizes of these structs.
 *
 * Enums have explicit values and are append-only: a value, once shipped,
 * never changes meaning, so that dashboards built on them stay valid.
 */
#ifndef REDEYE_ABI_H
#define REDEYE_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define REDEYE_COMM_LEN 16

/* ---- histograms -------------------------------------------------------- */

/*
 * Latency histograms, with Prometheus "le" semantics: slot 0 holds values
 * up to 1 us, slot k (1..23) values above 2^(k-1) us up to 2^k us, slot 24
 * values above 2^23 us up to 10 s, slot 25 everything above (+Inf).
 * The kernel fills them with a branch-free log2; userspace turns them into
 * cumulative Prometheus buckets with bounds in seconds.
 */
#define REDEYE_LAT_SLOTS 26
#define REDEYE_LAT_LOG2_SLOTS 24 /* slots 0..23 are powers of two */
#define REDEYE_LAT_CAP_NS 10000000000ULL

/*
 * Connection-duration histograms use the same log2 scheme in milliseconds:
 * slot 0 up to 1 ms, slot k up to 2^k ms (k = 1..24, ~4.7 h), slot 25
 * everything longer.
 */
#define REDEYE_DUR_SLOTS 26

struct redeye_hist {
	__u64 slots[REDEYE_LAT_SLOTS];
	__u64 sum_ns; /* sum of observed values, for the _sum series */
};

/* ---- events lost ------------------------------------------------------- */

/* Index into each program's `lost` per-CPU array. Append-only. */
enum redeye_lost_reason {
	REDEYE_LOST_RINGBUF_FULL = 0, /* bpf_ringbuf_reserve failed */
	REDEYE_LOST_MAP_FULL = 1,     /* a map update failed for lack of room */
	REDEYE_LOST_FRAME_LIMIT = 2,  /* frames the in-kernel walk could not follow (loop bound): sent as a hole */
	REDEYE_LOST_MAX = 3,
};

/* ---- sched.bpf.c: run-queue latency ------------------------------------ */

/* runq_hist: key tgid (__u32) -> struct redeye_hist */

/* ---- block.bpf.c: disk I/O --------------------------------------------- */

enum redeye_disk_op {
	REDEYE_DISK_READ = 0,
	REDEYE_DISK_WRITE = 1,
	REDEYE_DISK_FLUSH = 2,
	REDEYE_DISK_DISCARD = 3,
	REDEYE_DISK_OTHER = 4,
	REDEYE_DISK_OP_MAX = 5,
};

/* disk_lat key: the label schema of redeye_disk_io_duration_seconds */
struct redeye_disk_key {
	__u32 dev; /* major << 20 | minor, the kernel's internal dev_t */
	__u32 op;  /* enum redeye_disk_op */
};

/* proc_io: key tgid -> struct redeye_proc_io */
struct redeye_proc_io {
	__u64 bytes[2]; /* [0] read, [1] write: bios submitted by the process */
};

/* ---- tcp.bpf.c: connections -------------------------------------------- */

enum redeye_tcp_direction {
	REDEYE_DIR_INBOUND = 0,
	REDEYE_DIR_OUTBOUND = 1,
	REDEYE_DIR_MAX = 2,
};

enum redeye_connect_fail {
	REDEYE_CONNFAIL_REFUSED = 0,
	REDEYE_CONNFAIL_TIMEOUT = 1,
	REDEYE_CONNFAIL_UNREACHABLE = 2,
	REDEYE_CONNFAIL_OTHER = 3,
	REDEYE_CONNFAIL_MAX = 4,
};

/* tcp_stats: key tgid -> struct redeye_tcp_stats. Every field is a
 * monotonic counter; userspace derives the active-connection gauge as
 * opened - closed so that no decrement can be lost. */
struct redeye_tcp_stats {
	__u64 opened[REDEYE_DIR_MAX];
	__u64 closed[REDEYE_DIR_MAX];
	__u64 connect_failures[REDEYE_CONNFAIL_MAX];
	__u64 retransmits; /* segments, as the kernel's TcpRetransSegs counts */
	__u64 resets_sent;
	__u64 resets_received;
	struct redeye_hist duration[REDEYE_DIR_MAX]; /* ms slots, see above */
};

/* tcp_drops: key drop reason (enum skb_drop_reason) -> packets */

/* ---- proc.bpf.c: process lifecycle and OOM ------------------------------ */

enum redeye_proc_event_kind {
	REDEYE_PROC_EXEC = 1,
	REDEYE_PROC_EXIT = 2,
	REDEYE_PROC_OOM_KILL = 3,
	REDEYE_PROC_FORK = 4, /* a new process (not a thread): tgid is the child */
};

#define REDEYE_ARGS_LEN 256

struct redeye_proc_event {
	__u32 kind; /* enum redeye_proc_event_kind */
	__u32 tgid;
	__u64 timestamp_ns;
	char comm[REDEYE_COMM_LEN];
	/* exec only: the first bytes of argv, NUL-separated, so that a process
	 * that exits before userspace reads /proc can still be named by its
	 * command line. */
	__u32 args_len;
	__u32 parent_tgid; /* fork only: the process that forked */
	char args[REDEYE_ARGS_LEN];
};

/* ---- tcp.bpf.c: failure events for `redeye trace tcp` ------------------- */

/* tcp_events ring: one record per failure, written only while
 * tcp_events_on[0] is non-zero (a trace session wants TCP events). */
enum redeye_tcp_event_kind {
	REDEYE_TCP_CONNECT_FAILED = 1, /* reason: enum redeye_connfail_reason */
	REDEYE_TCP_RESET_SENT = 2,
	REDEYE_TCP_RESET_RECEIVED = 3,
	REDEYE_TCP_RETRANSMIT = 4,
};

struct redeye_tcp_event {
	__u64 timestamp_ns; /* CLOCK_MONOTONIC */
	__u32 tgid;         /* the socket's owner, 0 when unknown */
	__u8 kind;          /* enum redeye_tcp_event_kind */
	__u8 reason;
	__u16 family;       /* AF_INET / AF_INET6 */
	__u16 local_port;
	__u16 peer_port;
	__u32 pad;
	__u8 peer_addr[16]; /* IPv4 in the first 4 bytes */
};

/* ---- sockets.bpf.c: socket data capture -------------------------------- */

/* Protocols known to the capture pipeline. Append-only. */
enum redeye_protocol {
	REDEYE_PROTO_UNKNOWN = 0,
	REDEYE_PROTO_HTTP1 = 1,
	REDEYE_PROTO_POSTGRES = 2,
	REDEYE_PROTO_MYSQL = 3,
	REDEYE_PROTO_AMQP = 4,
};

enum redeye_data_event_kind {
	REDEYE_DATA = 1,  /* bytes moved on a traced connection */
	REDEYE_CLOSE = 2, /* the connection ended (socket closed, or end of stream read) */
	REDEYE_UNIX_PATH = 3, /* data[0, captured): the server's socket path ("@name" abstract) */
};

enum redeye_data_direction {
	REDEYE_SEND = 0,
	REDEYE_RECV = 1,
};

enum redeye_conn_role {
	REDEYE_ROLE_UNKNOWN = 0, /* opened before the agent started */
	REDEYE_ROLE_CLIENT = 1,  /* the process connected */
	REDEYE_ROLE_SERVER = 2,  /* the process accepted */
};

/* Which kernel hooks feed the data events (redeye_probe_up, redeye check). */
enum redeye_capture_mode {
	REDEYE_CAPTURE_SOCKET_TRACEPOINTS = 1, /* sock:sock_send_length / sock_recv_length (6.3+) */
	REDEYE_CAPTURE_SYSCALLS = 2,           /* raw sys_enter / sys_exit (older kernels) */
};

/* Largest prefix of one message copied to userspace; the capture_bytes
 * setting picks a smaller one. Headers, not bodies: the full size travels
 * in msg_size so userspace can skip what it did not see. */
#define REDEYE_CAPTURE_MAX 4096

/*
 * A connection's identity in userspace. Socket capture: the socket cookie
 * (never reused while the kernel runs): every fd and process sharing the
 * socket is one connection. Syscall capture: tgid << 32 | fd. The
 * generation is the time the kernel state was made, so that a reused fd,
 * or a state evicted and made again, is a new connection.
 */
struct redeye_conn_id {
	__u64 sock;
	__u64 generation;
};

/*
 * Frame-walked events (AMQP, PostgreSQL, MySQL): the kernel follows frame
 * headers through every byte a syscall moved and copies each frame's head
 * only, so one event stands for many frames. Then `segments` > 0: data[]
 * holds the captured bytes of each segment in order, then the table of
 * that many segments (its last segments * 12 of the `captured` bytes). Segment i covers stream bytes [position + offset,
 * position + offset + length) of which the first `captured` are in data[];
 * its uncaptured rest is the end of one frame (a body the parser skips).
 * Segments follow one another without holes and together cover msg_size.
 */
struct redeye_segment {
	__u32 offset;
	__u32 length;
	__u16 captured;
	__u16 flags; /* REDEYE_SEGMENT_* */
};
/* The uncaptured rest is not the end of one frame but bytes the walk could
 * not follow (loop bound, unreadable memory, unknown buffer): a gap. */
#define REDEYE_SEGMENT_LOST 1
#define REDEYE_MAX_SEGMENTS 128

/* The fixed part of redeye_data_event (events without data, the path
 * event); the full struct adds data[]. */
#define REDEYE_DATA_EVENT_FIELDS                                                                 \
	__u32 kind;     /* enum redeye_data_event_kind */                                        \
	__u16 protocol; /* enum redeye_protocol */                                               \
	__u16 tail;     /* data[captured, captured + tail) are the message's last bytes */       \
	struct redeye_conn_id conn;                                                              \
	__u64 enter_ns; /* syscall entry, CLOCK_MONOTONIC (socket capture: the socket call's return) */ \
	__u64 exit_ns;  /* syscall exit (socket capture: the socket call's return) */            \
	__u64 position; /* stream offset of the first byte, per direction */                     \
	__u32 msg_size; /* bytes the syscall moved (segments: that this event covers) */          \
	__u32 captured; /* bytes used in data[] (segments: theirs and the table) */              \
	__u8 direction; /* enum redeye_data_direction */                                         \
	__u8 role;      /* enum redeye_conn_role */                                              \
	__u16 family;   /* AF_INET / AF_INET6 of the peer, AF_UNIX */                            \
	__u16 peer_port;                                                                         \
	__u16 local_port;                                                                        \
	__u32 tgid;     /* the process that moved the bytes */                                   \
	__u32 tid;      /* its thread */                                                         \
	__u16 segments; /* 0: data[] is one prefix of the message; else see redeye_segment */    \
	__u16 pad[3];                                                                            \
	__u8 peer_addr[16]; /* IPv4 in the first 4 bytes */

struct redeye_data_event_header {
	REDEYE_DATA_EVENT_FIELDS
};

struct redeye_data_event {
	REDEYE_DATA_EVENT_FIELDS
	char data[REDEYE_CAPTURE_MAX];
};

#endif /* REDEYE_ABI_H */
