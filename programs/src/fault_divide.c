/*
 * fault_divide: divides by zero on purpose. The div instruction raises a
 * divide error (#DE, vector 0) and Linux kills the program with SIGFPE
 * (signal 8). The divisor is volatile so gcc must really divide.
 */
#include "runtime.h"

static volatile u32 zero = 0;

int main(void)
{
    put_str("about to divide by zero\n");
    u32 q = 100u / zero;
    put_u32(q);
    put_str("\nstill alive?\n");
    return 0;
}
