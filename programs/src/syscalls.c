/*
 * syscalls: every system call the guest kernel offers, including the
 * errors a careful kernel must return. It prints facts that are the same
 * on every run ("getpid ok"), never the values that differ (the pid, the
 * break address), and ends with exit status 7 so that a runner which
 * ignores the status is caught.
 */
#include "runtime.h"

struct timespec32 {
    s32 tv_sec;
    s32 tv_nsec;
};

static void report(const char *what, s32 got, s32 want)
{
    put_str(what);
    if (got == want) {
        put_str(" ok\n");
    } else {
        put_str(" FAILED: got ");
        put_s32(got);
        put_str(", wanted ");
        put_s32(want);
        put_str("\n");
    }
}

int main(void)
{
    /* write: a plain write returns its length; the others are errors. */
    report("write", sys_write(1, "write: hello\n", 13), 13);
    report("write of nothing", sys_write(1, "", 0), 0);
    report("write to a bad fd", sys_write(99, "x", 1), -EBADF);
    report("write from a bad pointer", sys_write(1, (const void *)16, 4), -EFAULT);

    /* read: echo what stdin holds (the test feeds a line). */
    char line[64];
    s32 n = sys_read(0, line, sizeof line);
    put_str("read returned ");
    put_s32(n);
    put_str(": ");
    if (n > 0)
        sys_write(1, line, (u32)n);
    put_str("\n");
    report("read at end of input", sys_read(0, line, sizeof line), 0);
    report("read from a bad fd", sys_read(99, line, 1), -EBADF);

    /* getpid: positive and stable; the value itself differs between hosts. */
    s32 pid = syscall3(SYS_getpid, 0, 0, 0);
    report("getpid", pid > 0 && syscall3(SYS_getpid, 0, 0, 0) == pid, 1);

    /* brk: query, grow by two pages, use them, shrink back. */
    u32 start = sys_brk(0);
    report("brk grow", sys_brk(start + 8192) == start + 8192, 1);
    volatile u8 *heap = (volatile u8 *)start;
    heap[0] = 1;
    heap[8191] = 2;
    report("brk memory", heap[0] + heap[8191], 3);
    report("brk shrink", sys_brk(start) == start, 1);

    report("sched_yield", syscall3(SYS_sched_yield, 0, 0, 0), 0);

    struct timespec32 nap = { 0, 1000000 };
    report("nanosleep", syscall3(SYS_nanosleep, (u32)&nap, 0, 0), 0);
    struct timespec32 bad = { 0, 1000000000 };
    report("nanosleep with bad nanoseconds", syscall3(SYS_nanosleep, (u32)&bad, 0, 0), -EINVAL);
    report("nanosleep from a bad pointer", syscall3(SYS_nanosleep, 16, 0, 0), -EFAULT);

    report("unknown system call", syscall3(9999, 0, 0, 0), -ENOSYS);
    put_str("exiting with status 7\n");
    return 7;
}
