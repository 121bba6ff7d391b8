/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Frame headers of the framed protocols, for the in-kernel walk of
 * sockets.bpf.c: from the first bytes of a frame, its length and how much
 * of its head the parser needs. Only headers: what a frame means is the
 * userspace parser's business (protocols/<name>/), which also validates
 * what this lets through. Needs capture.h (struct conn, settings).
 */
#ifndef REDEYE_FRAME_WALK_H
#define REDEYE_FRAME_WALK_H

#define FRAME_HEADER_MAX 8 /* bytes looked at to decode any header */

enum frame_decode {
	FRAME_OK = 0,
	FRAME_NEEDS_MORE = 1, /* the header is cut by the end of the chunk */
	FRAME_INVALID = 2,    /* not a header of the protocol: the walk lost track */
};

struct frame_head {
	__u64 length; /* the whole frame, header included */
	__u32 head;   /* bytes of it to copy */
};

/* The most a frame head may take, so that one always fits an empty event. */
static __always_inline __u32 head_cap(void)
{
	__u32 cap = capture_bytes;

	return cap > WALK_ROOM - sizeof(struct redeye_segment) ? WALK_ROOM - sizeof(struct redeye_segment) : cap;
}

static __always_inline __u32 min_head(__u64 length, __u32 want)
{
	__u32 cap = head_cap();

	if (want > cap)
		want = cap;
	return length < want ? (__u32)length : want;
}

/* Does direction `dir` carry what the client sends? -1 when the role is unknown. */
static __always_inline int from_client(const struct conn *c, __u32 dir)
{
	if (c->role == REDEYE_ROLE_UNKNOWN)
		return -1;
	return (c->role == REDEYE_ROLE_CLIENT) == (dir == REDEYE_SEND);
}

/*
 * AMQP 0-9-1: type(1) channel(2) size(4) payload end(0xCE); the client's
 * protocol header "AMQP\0\0\x09\x01" first. Body frames only need their
 * header: the parser skips the payload.
 */
static __always_inline int amqp_frame(const __u8 *h, __u32 n, struct frame_head *fh)
{
	__u32 size;

	if (n < 1)
		return FRAME_NEEDS_MORE;
	if (h[0] == 'A') {
		fh->length = 8;
		fh->head = min_head(8, 8);
		return FRAME_OK;
	}
	if (h[0] != 1 && h[0] != 2 && h[0] != 3 && h[0] != 8)
		return FRAME_INVALID;
	if (n < 7)
		return FRAME_NEEDS_MORE;
	size = ((__u32)h[3] << 24) | ((__u32)h[4] << 16) | ((__u32)h[5] << 8) | h[6];
	if (size >= (1U << 28))
		return FRAME_INVALID;
	fh->length = (__u64)size + 8;
	fh->head = min_head(fh->length, h[0] == 3 ? 7 : capture_bytes);
	return FRAME_OK;
}

static __always_inline int pg_type(__u8 t)
{
	return (t >= 'A' && t <= 'Z') || (t >= 'a' && t <= 'z') || (t >= '1' && t <= '3');
}

/*
 * PostgreSQL: type(1) length(4, itself included). The startup, SSL, GSS
 * and cancel requests have no type byte (their length's first byte is 0);
 * the server answers an SSL or GSS request with one byte. DataRows from
 * the server only need their head: the parser counts them and skips.
 */
static __always_inline int pg_frame(const struct conn *c, __u32 dir, const __u8 *h, __u32 n, __u64 at,
				    struct frame_head *fh)
{
	__u32 len;
	int client = from_client(c, dir);

	if (n < 1)
		return FRAME_NEEDS_MORE;
	if (client == 0 && c->fresh && at == 0 && (h[0] == 'N' || h[0] == 'S' || h[0] == 'G')) {
		/* the answer to SSLRequest / GSSENCRequest; 'S'/'G' start encryption */
		fh->length = 1;
		fh->head = 1;
		return FRAME_OK;
	}
	if (h[0] == 0 && client != 0) {
		if (n < 4)
			return FRAME_NEEDS_MORE;
		len = ((__u32)h[0] << 24) | ((__u32)h[1] << 16) | ((__u32)h[2] << 8) | h[3];
		if (len < 8 || len > 10000)
			return FRAME_INVALID;
		fh->length = len;
		fh->head = min_head(len, capture_bytes);
		return FRAME_OK;
	}
	if (!pg_type(h[0]))
		return FRAME_INVALID;
	if (n < 5)
		return FRAME_NEEDS_MORE;
	len = ((__u32)h[1] << 24) | ((__u32)h[2] << 16) | ((__u32)h[3] << 8) | h[4];
	if (len < 4 || len >= (1U << 30))
		return FRAME_INVALID;
	fh->length = (__u64)len + 1;
	fh->head = min_head(fh->length, h[0] == 'D' && client == 0 ? 16 : capture_bytes);
	return FRAME_OK;
}

/* MySQL: length(3, little-endian) sequence(1) payload. */
static __always_inline int mysql_frame(const __u8 *h, __u32 n, struct frame_head *fh)
{
	__u32 len;

	if (n < 4)
		return FRAME_NEEDS_MORE;
	len = (__u32)h[0] | ((__u32)h[1] << 8) | ((__u32)h[2] << 16);
	fh->length = (__u64)len + 4;
	fh->head = min_head(fh->length, capture_bytes);
	return FRAME_OK;
}

/* `n` bytes of the header at stream position `at` are in `h`. */
static __always_inline int decode_frame_head(const struct conn *c, __u32 dir, const __u8 *h, __u32 n, __u64 at,
					     struct frame_head *fh)
{
	switch (c->protocol) {
	case REDEYE_PROTO_AMQP:
		return amqp_frame(h, n, fh);
	case REDEYE_PROTO_POSTGRES:
		return pg_frame(c, dir, h, n, at, fh);
	case REDEYE_PROTO_MYSQL:
		return mysql_frame(h, n, fh);
	default:
		return FRAME_INVALID;
	}
}

#endif /* REDEYE_FRAME_WALK_H */
