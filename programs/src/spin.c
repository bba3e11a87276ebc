/*
 * spin: a program that never ends. It says so once and then counts for
 * ever, never making another system call, so only the timer can take the
 * processor away from it. The Launcher's --time-limit and Ctrl-C (L:045)
 * are how a person gets their terminal back.
 */
#include "runtime.h"

int main(void)
{
    volatile u32 rounds = 0;
    put_str("spin: round and round, for ever\n");
    for (;;)
        rounds++;
}
