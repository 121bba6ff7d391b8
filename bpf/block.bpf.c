// SPDX-License-Identifier: GPL-2.0
/*
 * Disk I/O: device latency (request issued to the driver -> completed) per
 * device and operation, and bytes per process and operation counted when
 * the process submits its bios. Buffered writes are submitted later by the
 * kernel's writeback threads and are counted for those, as biotop does;
 * direct I/O is counted for the process that did it.
 */
#include "redeye/bpf_common.h"

char LICENSE[] SEC("license") = "GPL";

REDEYE_DEFINE_LOST_MAP()

/* struct request * -> issue time. Bounded by the number of requests in
 * flight on the node: queue depth x devices. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u64);
} rq_issued SEC(".maps");

/* {dev, op} -> latency histogram. devices x REDEYE_DISK_OP_MAX. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256 * REDEYE_DISK_OP_MAX);
	__type(key, struct redeye_disk_key);
	__type(value, struct redeye_hist);
} disk_lat SEC(".maps");

/* tgid -> bytes read / written */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct redeye_proc_io);
} proc_io SEC(".maps");

static const struct redeye_hist zero_hist;
static const struct redeye_proc_io zero_io;

#define REQ_OP_MASK_ ((1U << 8) - 1) /* REQ_OP_BITS is 8 since 4.10 */

static __always_inline __u32 disk_op(__u32 opf)
{
	switch (opf & REQ_OP_MASK_) {
	case 0: /* REQ_OP_READ */
		return REDEYE_DISK_READ;
	case 1: /* REQ_OP_WRITE */
		return REDEYE_DISK_WRITE;
	case 2: /* REQ_OP_FLUSH */
		return REDEYE_DISK_FLUSH;
	case 3: /* REQ_OP_DISCARD */
		return REDEYE_DISK_DISCARD;
	default:
		return REDEYE_DISK_OTHER;
	}
}

static __always_inline void on_issue(struct request *rq)
{
	__u64 key = (__u64)rq, ts = bpf_ktime_get_ns();

	if (bpf_map_update_elem(&rq_issued, &key, &ts, BPF_ANY))
		count_lost(REDEYE_LOST_MAP_FULL);
}

static __always_inline void on_complete(struct request *rq)
{
	__u64 key = (__u64)rq, *ts, delta;
	struct redeye_disk_key dk = {};
	struct gendisk *disk;
	struct redeye_hist *h;

	ts = bpf_map_lookup_elem(&rq_issued, &key);
	if (!ts) /* issued before we attached, or a partial completion */
		return;
	delta = bpf_ktime_get_ns() - *ts;
	bpf_map_delete_elem(&rq_issued, &key);

	disk = BPF_CORE_READ(rq, q, disk);
	if (disk) {
		__u32 major = BPF_CORE_READ(disk, major);
		__u32 minor = BPF_CORE_READ(disk, first_minor);

		dk.dev = (major << 20) | minor;
	}
	dk.op = disk_op(BPF_CORE_READ(rq, cmd_flags));
	h = LOOKUP_OR_INIT(&disk_lat, &dk, &zero_hist, count_lost);
	if (h)
		hist_add_latency(h, delta);
}

static __always_inline void on_bio_queue(struct bio *bio)
{
	__u32 op = BPF_CORE_READ(bio, bi_opf) & REQ_OP_MASK_;
	__u32 tgid = current_tgid();
	struct redeye_proc_io *io;
	__u32 size;

	if (op > 1 || !tgid) /* only reads and writes carry bytes */
		return;
	size = BPF_CORE_READ(bio, bi_iter.bi_size);
	io = LOOKUP_OR_INIT(&proc_io, &tgid, &zero_io, count_lost);
	if (io)
		__sync_fetch_and_add(&io->bytes[op], size);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_rq_issue_btf, struct request *rq)
{
	on_issue(rq);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete_btf, struct request *rq)
{
	on_complete(rq);
	return 0;
}

SEC("tp_btf/block_bio_queue")
int BPF_PROG(block_bio_queue_btf, struct bio *bio)
{
	on_bio_queue(bio);
	return 0;
}

SEC("raw_tp/block_rq_issue")
int BPF_PROG(block_rq_issue_raw, struct request *rq)
{
	on_issue(rq);
	return 0;
}

SEC("raw_tp/block_rq_complete")
int BPF_PROG(block_rq_complete_raw, struct request *rq)
{
	on_complete(rq);
	return 0;
}

SEC("raw_tp/block_bio_queue")
int BPF_PROG(block_bio_queue_raw, struct bio *bio)
{
	on_bio_queue(bio);
	return 0;
}
