/*
 * recurse: deep recursion. walk(n) calls itself n deep (default 10000, read
 * from stdin, at most 100000) and folds a value from every frame on the way
 * back, so the compiler can turn neither into a loop; each frame holds a
 * volatile local and a return address, about 32 bytes of stack. Then
 * Ackermann(2, 100) adds a recursion that is both deep and wide.
 */
#include "runtime.h"

static u32 walk(u32 n)
{
    volatile u32 mine = n * 2654435761u;
    if (n == 0)
        return 1;
    u32 below = walk(n - 1);
    return below * 31 + mine;
}

static u32 ackermann(u32 m, u32 n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ackermann(m - 1, 1);
    return ackermann(m - 1, ackermann(m, n - 1));
}

int main(void)
{
    u32 depth = read_u32(10000);
    if (depth > 100000)
        depth = 100000;
    put_str("walk(");
    put_u32(depth);
    put_str(") = ");
    put_hex32(walk(depth));
    put_str("\nackermann(2, 100) = ");
    put_u32(ackermann(2, 100));
    put_str("\n");
    return 0;
}
