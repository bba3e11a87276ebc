/*
 * sieve: the sieve of Eratosthenes over the numbers below a limit read from
 * stdin (default 10000, at most 1,000,000), printing how many primes there
 * are and the largest. The flags live in bss, so a large limit also walks
 * many fresh pages.
 */
#include "runtime.h"

#define MAX_LIMIT 1000000

static u8 composite[MAX_LIMIT];

int main(void)
{
    u32 limit = read_u32(10000);
    if (limit > MAX_LIMIT)
        limit = MAX_LIMIT;
    u32 count = 0, largest = 0;
    for (u32 n = 2; n < limit; n++) {
        if (composite[n])
            continue;
        count++;
        largest = n;
        for (u32 m = n + n; m < limit; m += n)
            composite[m] = 1;
    }
    put_str("primes below ");
    put_u32(limit);
    put_str(": ");
    put_u32(count);
    put_str(", largest ");
    put_u32(largest);
    put_str("\n");
    return 0;
}
