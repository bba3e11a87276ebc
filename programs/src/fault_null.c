/*
 * fault_null: writes to address 0 on purpose. Page 0 is never mapped, so
 * the store raises a page fault (#PF, vector 14, error code write|user) and
 * Linux kills the program with SIGSEGV (signal 11). The address goes
 * through a volatile so gcc cannot replace the store with a trap of its own.
 */
#include "runtime.h"

static volatile u32 null_address = 0;

int main(void)
{
    put_str("about to write to address 0\n");
    *(volatile u32 *)null_address = 42;
    put_str("still alive?\n");
    return 0;
}
