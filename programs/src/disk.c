/*
 * disk: write a pattern to sectors of /dev/vda, read it back, check it,
 * and print a summary; then check the errors Linux gives for a disk.
 *
 * It never writes over anything it did not write itself: before writing
 * it reads the sectors and refuses unless they are all zero (a fresh
 * scratch image) or already hold its own pattern. That matters, because
 * on a real machine /dev/vda may be somebody's root disk.
 */
#include "runtime.h"

enum { SECTOR = 512, FIRST = 1, COUNT = 16 };

static u8 buf[8 * SECTOR];

/* The pattern byte at byte `i` of sector `s`: the sector number and the
 * offset mixed, so a sector written to the wrong place is caught. */
static u8 pattern(u32 s, u32 i)
{
    return (u8)(s * 37 + i * 11 + (i >> 8));
}

static void fail(const char *what, s32 got)
{
    put_str("disk: ");
    put_str(what);
    put_str(": ");
    put_s32(got);
    put_str("\n");
    sys_exit(1);
}

/* Read COUNT sectors from FIRST into nothing but a check: how many bytes
 * are neither zero nor the pattern (`mismatches`), and how many are the
 * pattern (`ours`). */
static void survey(int fd, u32 *ours, u32 *other)
{
    *ours = 0;
    *other = 0;
    s32 at = sys_lseek(fd, FIRST * SECTOR, SEEK_SET);
    if (at != FIRST * SECTOR)
        fail("lseek", at);
    for (u32 s = FIRST; s < FIRST + COUNT; s += 8) {
        s32 n = sys_read(fd, buf, sizeof buf);
        if (n != (s32)sizeof buf)
            fail("read", n);
        for (u32 i = 0; i < sizeof buf; i++) {
            u8 want = pattern(s + i / SECTOR, i % SECTOR);
            if (buf[i] == want)
                (*ours)++;
            else if (buf[i] != 0)
                (*other)++;
        }
    }
}

int main(void)
{
    s32 fd = sys_open("/dev/vda", O_RDWR);
    if (fd < 0)
        fail("cannot open /dev/vda", fd);
    u32 size[2];
    s32 r = sys_llseek(fd, 0, 0, size, SEEK_END);
    if (r != 0)
        fail("_llseek", r);
    put_str("disk: /dev/vda is ");
    put_u32(size[0]);
    put_str(" bytes\n");
    if (size[1] != 0 || size[0] < (FIRST + COUNT) * SECTOR)
        fail("disk too small or too large for this test, bytes", (s32)size[0]);

    u32 ours, other, mismatches = 0;
    survey(fd, &ours, &other);
    if (other != 0 && other + ours != COUNT * SECTOR) {
        put_str("disk: sectors hold data that is not ours; not writing\n");
        return 3;
    }

    /* Write the pattern, a page of sectors at a time. */
    sys_lseek(fd, FIRST * SECTOR, SEEK_SET);
    for (u32 s = FIRST; s < FIRST + COUNT; s += 8) {
        for (u32 i = 0; i < sizeof buf; i++)
            buf[i] = pattern(s + i / SECTOR, i % SECTOR);
        s32 n = sys_write(fd, buf, sizeof buf);
        if (n != (s32)sizeof buf)
            fail("write", n);
    }
    s32 synced = sys_fsync(fd);
    put_str(synced == 0 ? "disk: fsync ok\n" : "disk: fsync FAILED\n");
    survey(fd, &ours, &other);
    mismatches = COUNT * SECTOR - ours;
    put_str("disk: wrote ");
    put_u32(COUNT);
    put_str(" sectors from sector ");
    put_u32(FIRST);
    put_str(", read them back, mismatches ");
    put_u32(mismatches);
    put_str("\n");

    /* A read that starts inside a sector. */
    sys_lseek(fd, FIRST * SECTOR + 100, SEEK_SET);
    s32 n = sys_read(fd, buf, 10);
    u32 bad = 0;
    for (u32 i = 0; i < 10; i++)
        bad += buf[i] != pattern(FIRST, 100 + i);
    put_str(n == 10 && bad == 0 ? "disk: unaligned read ok\n" : "disk: unaligned read FAILED\n");

    /* The errors a disk gives. */
    s32 e1 = sys_write(fd, buf, 100);
    put_str(e1 == -EINVAL ? "disk: partial-sector write refused ok\n" : "disk: partial-sector write NOT refused\n");
    s32 e2 = sys_lseek(fd, 1, SEEK_END);
    put_str(e2 == -EINVAL ? "disk: seek past the end refused ok\n" : "disk: seek past the end NOT refused\n");
    s32 end = sys_lseek(fd, 0, SEEK_END);
    s32 e3 = sys_read(fd, buf, SECTOR);
    put_str(end == (s32)size[0] && e3 == 0 ? "disk: read at the end ok\n" : "disk: read at the end FAILED\n");
    s32 e4 = sys_write(fd, buf, SECTOR);
    put_str(e4 == -ENOSPC ? "disk: write at the end refused ok\n" : "disk: write at the end NOT refused\n");
    s32 e7 = sys_fsync(1);
    put_str(e7 == -EINVAL ? "disk: fsync of the console refused ok\n" : "disk: fsync of the console NOT refused\n");
    s32 e5 = sys_open("/dev/nothing", O_RDONLY);
    put_str(e5 == -ENOENT ? "disk: open of a missing device refused ok\n" : "disk: missing device NOT refused\n");
    sys_close(fd);
    s32 e6 = sys_close(fd);
    put_str(e6 == -EBADF ? "disk: double close refused ok\n" : "disk: double close NOT refused\n");
    return mismatches == 0 ? 0 : 2;
}
