/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cheap in-kernel protocol inference: a look at the first bytes of a
 * message decides whether a connection is worth sending to userspace.
 * A protocol plugs in here with one check function and one line in
 * infer_protocol(). False positives cost bandwidth (userspace parsers
 * reject garbage); false negatives lose a connection, so checks accept
 * every valid first message of their protocol.
 */
#ifndef REDEYE_PROTOCOL_INFERENCE_H
#define REDEYE_PROTOCOL_INFERENCE_H

#include "redeye/abi.h"

static __always_inline int starts_with4(const char *d, __u32 len, const char *p)
{
	return len >= 4 && d[0] == p[0] && d[1] == p[1] && d[2] == p[2] && d[3] == p[3];
}

/* 1 for an HTTP/1.x request line, 2 for a status line, 0 otherwise. */
static __always_inline int http1_kind(const char *d, __u32 len)
{
	if (len < 8)
		return 0;
	if (starts_with4(d, len, "GET ") || starts_with4(d, len, "POST") ||
	    starts_with4(d, len, "PUT ") || starts_with4(d, len, "HEAD") ||
	    starts_with4(d, len, "DELE") || starts_with4(d, len, "PATC") ||
	    starts_with4(d, len, "OPTI") || starts_with4(d, len, "CONN") ||
	    starts_with4(d, len, "TRAC"))
		return 1;
	if (starts_with4(d, len, "HTTP") && d[4] == '/' && d[5] == '1' && d[6] == '.')
		return 2;
	return 0;
}

static __always_inline __u32 be32(const char *d)
{
	return ((__u32)(__u8)d[0] << 24) | ((__u32)(__u8)d[1] << 16) | ((__u32)(__u8)d[2] << 8) |
	       (__u32)(__u8)d[3];
}

/*
 * PostgreSQL: 1 for a frontend (client) message, 2 for a backend one, 0
 * otherwise. The startup phase is unambiguous (length + protocol or SSL
 * code); for sessions older than the agent, a simple or extended query
 * whose length field matches the message.
 */
static __always_inline int postgres_kind(const char *d, __u32 len, __u32 size)
{
	__u32 n, code;

	if (len < 8)
		return 0;
	n = be32(d);
	code = be32(d + 4);
	if (n == size && n >= 8 && n < 10000 &&
	    (code == 196608 /* protocol 3.0 */ || code == 80877103 /* SSLRequest */ ||
	     code == 80877104 /* GSSENCRequest */ || code == 80877102 /* CancelRequest */))
		return 1;
	n = be32(d + 1);
	if ((d[0] == 'Q' || d[0] == 'P') && n >= 5 && n + 1 <= size && n < (1U << 30))
		return 1;
	return 0;
}

/*
 * MySQL: the server speaks first (handshake v10: sequence 0, protocol 10,
 * a version string); for sessions older than the agent, COM_QUERY with a
 * length that matches the message. 1 client message, 2 server, 0 neither.
 */
static __always_inline int mysql_kind(const char *d, __u32 len, __u32 size)
{
	__u32 n;

	if (len < 6)
		return 0;
	n = (__u32)(__u8)d[0] | ((__u32)(__u8)d[1] << 8) | ((__u32)(__u8)d[2] << 16);
	if (n + 4 != size || d[3] != 0)
		return 0;
	if (d[4] == 10 && d[5] >= '1' && d[5] <= '9')
		return 2;
	if ((d[4] == 0x03 || d[4] == 0x16) && n > 1)
		return 1; /* COM_QUERY, COM_STMT_PREPARE */
	return 0;
}

/*
 * AMQP 0-9-1: the client opens with the protocol header "AMQP\0\0\x09\x01".
 * For connections older than the agent, a frame: type 1/2/3/8, a payload
 * size that fits the message and, when captured, the frame-end octet 0xCE
 * after it. A method frame must name a known class; the few methods only
 * one end sends tell the role. 1 client message, 2 broker message, 3 AMQP
 * from either end, 0 not AMQP.
 */
static __always_inline int amqp_kind(const char *d, __u32 len, __u32 size)
{
	__u32 n, cls, method;
	__u8 type;

	if (len < 8)
		return 0;
	if (starts_with4(d, len, "AMQP") && d[4] == 0 && d[5] == 0 && d[6] == 9 && d[7] == 1)
		return 1;
	type = (__u8)d[0];
	if (type != 1 && type != 2 && type != 3 && type != 8)
		return 0;
	n = be32(d + 3);
	if (n >= (1U << 28) || n + 8 > size)
		return 0;
	if (type == 8)
		return n == 0 && d[1] == 0 && d[2] == 0 && (__u8)d[7] == 0xCE ? 3 : 0;
	/* the mask keeps the verifier's bound; n + 8 <= len < 4096 already does */
	if (n + 8 <= len && (__u8)d[(n + 7) & (REDEYE_CAPTURE_MAX - 1)] != 0xCE)
		return 0;
	if (type != 1)
		return n + 8 == size ? 3 : 0;
	if (len < 11 || n < 4)
		return 0;
	cls = ((__u32)(__u8)d[7] << 8) | (__u8)d[8];
	method = ((__u32)(__u8)d[9] << 8) | (__u8)d[10];
	if (cls == 60) {
		if (method == 40 || method == 20 || method == 70 || method == 10 || method == 90)
			return 1; /* publish, consume, get, qos, reject */
		if (method == 60 || method == 71 || method == 72 || method == 21 || method == 50)
			return 2; /* deliver, get-ok, get-empty, consume-ok, return */
		return 3;
	}
	if (cls == 10 || cls == 20 || cls == 40 || cls == 50 || cls == 85 || cls == 90)
		return 3;
	return 0;
}

/*
 * The protocol of a message, and the role it implies when the role is
 * still unknown: a request sent means a client, a request received a
 * server (and the other way round for responses).
 */
static __always_inline void infer_role(int client_message, __u32 dir, __u8 *role)
{
	if (*role == REDEYE_ROLE_UNKNOWN)
		*role = client_message == (dir == REDEYE_SEND) ? REDEYE_ROLE_CLIENT : REDEYE_ROLE_SERVER;
}

/* size: the whole message, of which len bytes were captured at d. */
static __always_inline __u32 infer_protocol(const char *d, __u32 len, __u32 size, __u32 dir, __u8 *role)
{
	int kind = http1_kind(d, len);

	if (kind) {
		infer_role(kind == 1, dir, role);
		return REDEYE_PROTO_HTTP1;
	}
	kind = postgres_kind(d, len, size);
	if (kind) {
		infer_role(kind == 1, dir, role);
		return REDEYE_PROTO_POSTGRES;
	}
	kind = mysql_kind(d, len, size);
	if (kind) {
		infer_role(kind == 1, dir, role);
		return REDEYE_PROTO_MYSQL;
	}
	kind = amqp_kind(d, len, size);
	if (kind) {
		if (kind != 3)
			infer_role(kind == 1, dir, role);
		return REDEYE_PROTO_AMQP;
	}
	return REDEYE_PROTO_UNKNOWN;
}

#endif /* REDEYE_PROTOCOL_INFERENCE_H */
