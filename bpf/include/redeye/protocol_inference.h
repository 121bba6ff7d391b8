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

/*
 * The protocol of a message, and the role it implies when the role is
 * still unknown: a request sent means a client, a request received a
 * server (and the other way round for responses).
 */
static __always_inline __u32 infer_protocol(const char *d, __u32 len, __u32 dir, __u8 *role)
{
	int kind = http1_kind(d, len);

	if (kind) {
		if (*role == REDEYE_ROLE_UNKNOWN) {
			int request_sent = (kind == 1) == (dir == REDEYE_SEND);

			*role = request_sent ? REDEYE_ROLE_CLIENT : REDEYE_ROLE_SERVER;
		}
		return REDEYE_PROTO_HTTP1;
	}
	return REDEYE_PROTO_UNKNOWN;
}

#endif /* REDEYE_PROTOCOL_INFERENCE_H */
