/*
 * cat: copy standard input to standard output until end of file, then
 * say how much went through. Under the Guest, standard input is the
 * virtio console (or the program's .in file), so every read that finds
 * nothing typed yet blocks until the console's interrupt brings more.
 */
#include "runtime.h"

int main(void)
{
    static char buf[512];
    u32 total = 0;
    for (;;) {
        s32 n = sys_read(0, buf, sizeof buf);
        if (n < 0) {
            put_str("cat: read failed: ");
            put_s32(n);
            put_str("\n");
            return 1;
        }
        if (n == 0)
            break;
        /* A write may take fewer bytes than asked: go on from there. */
        for (s32 done = 0; done < n;) {
            s32 w = sys_write(1, buf + done, (u32)(n - done));
            if (w <= 0)
                return 2;
            done += w;
        }
        total += (u32)n;
    }
    put_str("cat: ");
    put_u32(total);
    put_str(" bytes\n");
    return 0;
}
