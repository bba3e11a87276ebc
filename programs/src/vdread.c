/*
 * vdread: read the whole of /dev/vda, a page at a time, and print how
 * many bytes it read and a spot check: the sum of the first word of every
 * read (summing every byte would make the interpreter, not the disk, the
 * thing timed). It only reads, so it is safe on any disk; lguest-bench
 * times it for the block device's throughput.
 */
#include "runtime.h"

int main(void)
{
    static u32 buf[1024];
    s32 fd = sys_open("/dev/vda", O_RDONLY);
    if (fd < 0) {
        put_str("vdread: cannot open /dev/vda: ");
        put_s32(fd);
        put_str("\n");
        return 1;
    }
    u32 total = 0, sum = 0;
    for (;;) {
        s32 n = sys_read(fd, buf, sizeof buf);
        if (n < 0) {
            put_str("vdread: read failed: ");
            put_s32(n);
            put_str("\n");
            return 2;
        }
        if (n == 0)
            break;
        sum += buf[0];
        total += (u32)n;
    }
    put_str("vdread: ");
    put_u32(total);
    put_str(" bytes, sum ");
    put_hex32(sum);
    put_str("\n");
    sys_close(fd);
    return 0;
}
