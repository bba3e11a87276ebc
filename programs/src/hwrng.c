/*
 * hwrng: read sixteen bytes from /dev/hwrng, the virtio entropy device,
 * and print them in hexadecimal. The Launcher's generator is seeded, so
 * the same seed prints the same bytes. Also checks that the device
 * refuses to be opened for writing, as Linux's hw_random does (EINVAL).
 */
#include "runtime.h"

int main(void)
{
    static const char digits[] = "0123456789abcdef";
    s32 w = sys_open("/dev/hwrng", O_WRONLY);
    put_str(w == -EINVAL ? "hwrng: open for writing refused ok\n" : "hwrng: open for writing NOT refused\n");
    s32 fd = sys_open("/dev/hwrng", O_RDONLY);
    if (fd < 0) {
        put_str("hwrng: cannot open /dev/hwrng: ");
        put_s32(fd);
        put_str("\n");
        return 1;
    }
    u8 bytes[16];
    u32 got = 0;
    while (got < sizeof bytes) {
        s32 n = sys_read(fd, bytes + got, sizeof bytes - got);
        if (n <= 0) {
            put_str("hwrng: read failed\n");
            return 2;
        }
        got += (u32)n;
    }
    char line[2 * sizeof bytes + 1];
    for (u32 i = 0; i < sizeof bytes; i++) {
        line[2 * i] = digits[bytes[i] >> 4];
        line[2 * i + 1] = digits[bytes[i] & 15];
    }
    line[sizeof line - 1] = '\n';
    put_str("hwrng: ");
    sys_write(1, line, sizeof line);
    s32 seek = sys_lseek(fd, 0, SEEK_SET);
    put_str(seek == -ESPIPE ? "hwrng: lseek refused ok\n" : "hwrng: lseek NOT refused\n");
    sys_close(fd);
    return 0;
}
