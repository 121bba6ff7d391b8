/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Syscall numbers the raw sys_enter/sys_exit programs dispatch on, and the
 * number of the syscall a sys_exit belongs to. Raw syscall tracepoints see
 * every syscall of the node, so each program tests the number first.
 */
#ifndef REDEYE_SYSCALLS_H
#define REDEYE_SYSCALLS_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

#if defined(__TARGET_ARCH_x86)
enum {
	NR_read = 0, NR_write = 1, NR_close = 3, NR_readv = 19, NR_writev = 20, NR_dup2 = 33,
	NR_sendfile = 40, NR_connect = 42, NR_accept = 43, NR_sendto = 44, NR_recvfrom = 45,
	NR_sendmsg = 46, NR_recvmsg = 47, NR_accept4 = 288, NR_dup3 = 292, NR_recvmmsg = 299,
	NR_sendmmsg = 307,
};
#elif defined(__TARGET_ARCH_arm64)
enum {
	NR_dup3 = 24, NR_close = 57, NR_read = 63, NR_write = 64, NR_readv = 65, NR_writev = 66,
	NR_sendfile = 71, NR_accept = 202, NR_connect = 203, NR_sendto = 206, NR_recvfrom = 207,
	NR_sendmsg = 211, NR_recvmsg = 212, NR_accept4 = 242, NR_recvmmsg = 243, NR_sendmmsg = 269,
	NR_dup2 = -1, /* arm64 has only dup3 */
};
#else
#error "syscall numbers for this architecture are missing"
#endif

struct pt_regs___arm64_nr {
	int syscallno;
} __attribute__((preserve_access_index));

/* The number of the syscall a sys_exit belongs to. */
static __always_inline long bpf_syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#else
	return BPF_CORE_READ((struct pt_regs___arm64_nr *)regs, syscallno);
#endif
}

#endif /* REDEYE_SYSCALLS_H */
