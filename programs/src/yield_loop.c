/* yield_loop: sched_yield n times (n from stdin, default 60), touching no FPU: the neighbour that lazy
 * FPU switching is for (see lguest-bench's fpu figures). */
#include "runtime.h"

int main(void)
{
    u32 n = read_u32(60);
    for (u32 i = 0; i < n; i++)
        syscall3(SYS_sched_yield, 0, 0, 0);
    put_str("yield_loop: done\n");
    return 0;
}
