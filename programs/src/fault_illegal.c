/*
 * fault_illegal: executes ud2, the instruction Intel reserves to be
 * undefined. The CPU raises an invalid-opcode exception (#UD, vector 6) and
 * Linux kills the program with SIGILL (signal 4).
 */
#include "runtime.h"

int main(void)
{
    put_str("about to execute ud2\n");
    __asm__ volatile("ud2");
    put_str("still alive?\n");
    return 0;
}
