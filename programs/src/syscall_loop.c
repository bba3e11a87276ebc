/*
 * syscall_loop: a loop of system calls and nothing else. It calls getpid a
 * number of times read from stdin (default 100) and counts the answers that
 * agree with the first, so the benchmark can time one round trip into the
 * kernel and back (int $0x80, the gate, the kernel's work, iret) with as
 * little else around it as possible. getpid is the cheapest call there is:
 * the kernel only reads a number.
 */
#include "runtime.h"

int main(void)
{
    u32 calls = read_u32(100);
    s32 pid = syscall3(SYS_getpid, 0, 0, 0);
    u32 same = 0;
    for (u32 i = 0; i < calls; i++)
        same += syscall3(SYS_getpid, 0, 0, 0) == pid;
    put_str("getpid gave the same answer ");
    put_u32(same);
    put_str(" times of ");
    put_u32(calls);
    put_str("\n");
    return same != calls;
}
