// Keeps the two sides of bpf/include/redeye/abi.h in step: the BPF side is
// compiled by clang for -target bpf, this side by the host compiler, and a
// layout difference would silently corrupt every counter.
#include <cstddef>

#include "redeye/abi.h"

static_assert(sizeof(redeye_hist) == (REDEYE_LAT_SLOTS + 1) * 8);
static_assert(REDEYE_DUR_SLOTS == REDEYE_LAT_SLOTS, "one hist struct serves both");
static_assert(sizeof(redeye_disk_key) == 8);
static_assert(sizeof(redeye_proc_io) == 16);
static_assert(offsetof(redeye_tcp_stats, retransmits) == 8 * (2 * REDEYE_DIR_MAX + REDEYE_CONNFAIL_MAX));
static_assert(offsetof(redeye_tcp_stats, duration) == 8 * (2 * REDEYE_DIR_MAX + REDEYE_CONNFAIL_MAX + 3));
static_assert(sizeof(redeye_tcp_stats) == offsetof(redeye_tcp_stats, duration) + 2 * sizeof(redeye_hist));
static_assert(sizeof(redeye_proc_event) == 40 + REDEYE_ARGS_LEN);
static_assert(offsetof(redeye_proc_event, comm) == 16);
static_assert(sizeof(redeye_tcp_event) == 40);
static_assert(offsetof(redeye_tcp_event, peer_addr) == 24);
static_assert(offsetof(redeye_data_event, tail) == 6);
static_assert(offsetof(redeye_data_event, conn) == 8);
static_assert(sizeof(redeye_conn_id) == 16);
static_assert(offsetof(redeye_data_event, enter_ns) == 24);
static_assert(offsetof(redeye_data_event, msg_size) == 48);
static_assert(offsetof(redeye_data_event, direction) == 56);
static_assert(offsetof(redeye_data_event, tgid) == 64);
static_assert(offsetof(redeye_data_event, segments) == 72);
static_assert(offsetof(redeye_data_event, peer_addr) == 80);
static_assert(offsetof(redeye_data_event, data) == 96);
static_assert(sizeof(redeye_data_event) == 96 + REDEYE_CAPTURE_MAX);
static_assert(sizeof(redeye_segment) == 12);
static_assert(REDEYE_MAX_SEGMENTS * sizeof(redeye_segment) < REDEYE_CAPTURE_MAX / 2);
