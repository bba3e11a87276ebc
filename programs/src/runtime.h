/*
 * runtime.h: the whole "C library" of the guest programs.
 *
 * These programs are freestanding i386 Linux executables: no libc, no
 * libgcc, no dynamic loader. Everything they need from the kernel goes
 * through `int $0x80` with the Linux i386 system-call numbers below, so the
 * same file runs natively on x86 Linux, under qemu-i386, in the Machine's
 * ProgramRunner and, later, under the guest kernel of the Guest chapter.
 *
 * Rules the programs keep so that a native run and an emulated run print
 * the same bytes: never print a pid, an address or a time; never use 64-bit
 * division (there is no libgcc to supply __udivdi3); never touch the FPU,
 * except in the programs built for it (FPU_PROGRAMS in programs/build).
 */
#ifndef RUNTIME_H
#define RUNTIME_H

typedef unsigned int u32;
typedef int s32;
typedef unsigned char u8;

enum {
    SYS_exit = 1,
    SYS_read = 3,
    SYS_write = 4,
    SYS_open = 5,
    SYS_close = 6,
    SYS_lseek = 19,
    SYS_getpid = 20,
    SYS_brk = 45,
    SYS_fsync = 118,
    SYS__llseek = 140,
    SYS_sched_yield = 158,
    SYS_nanosleep = 162,
};

/* The Linux errno values the programs check for (the kernel returns -errno). */
enum {
    ENOENT = 2, EIO = 5, EBADF = 9, EFAULT = 14, EINVAL = 22,
    ENOSPC = 28, ESPIPE = 29, EROFS = 30, ENOSYS = 38,
};

/* open's access modes, and lseek's origins. */
enum { O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2 };
enum { SEEK_SET = 0, SEEK_CUR = 1, SEEK_END = 2 };

static inline s32 syscall3(u32 nr, u32 a, u32 b, u32 c)
{
    s32 ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c)
                     : "memory");
    return ret;
}

/* Five arguments: the fourth in esi, the fifth in edi. */
static inline s32 syscall5(u32 nr, u32 a, u32 b, u32 c, u32 d, u32 e)
{
    s32 ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                     : "memory");
    return ret;
}

static inline s32 sys_open(const char *path, u32 flags)
{
    return syscall3(SYS_open, (u32)path, flags, 0);
}

static inline s32 sys_close(int fd)
{
    return syscall3(SYS_close, (u32)fd, 0, 0);
}

static inline s32 sys_lseek(int fd, s32 offset, u32 whence)
{
    return syscall3(SYS_lseek, (u32)fd, (u32)offset, whence);
}

static inline s32 sys_fsync(int fd)
{
    return syscall3(SYS_fsync, (u32)fd, 0, 0);
}

/* _llseek: a 64-bit offset in two halves, the 64-bit result through a
 * pointer (low word first, as the i386 stores it). */
static inline s32 sys_llseek(int fd, u32 high, u32 low, u32 result[2], u32 whence)
{
    return syscall5(SYS__llseek, (u32)fd, high, low, (u32)result, whence);
}

static inline s32 sys_write(int fd, const void *buf, u32 len)
{
    return syscall3(SYS_write, (u32)fd, (u32)buf, len);
}

static inline s32 sys_read(int fd, void *buf, u32 len)
{
    return syscall3(SYS_read, (u32)fd, (u32)buf, len);
}

static inline u32 sys_brk(u32 addr)
{
    return (u32)syscall3(SYS_brk, addr, 0, 0);
}

__attribute__((noreturn)) static inline void sys_exit(int status)
{
    syscall3(SYS_exit, (u32)status, 0, 0);
    __builtin_unreachable();
}

/* gcc may emit calls to these even in freestanding code (struct copies,
 * zeroing loops), so every program carries its own. */
void *memset(void *dst, int c, u32 n);
void *memcpy(void *dst, const void *src, u32 n);

__attribute__((unused)) static u32 str_len(const char *s)
{
    u32 n = 0;
    while (s[n] != 0)
        n++;
    return n;
}

__attribute__((unused)) static void put_str(const char *s)
{
    sys_write(1, s, str_len(s));
}

/* Decimal without 64-bit arithmetic: a u32 divided by the constant 10
 * compiles to a multiply, which every i386 has. */
__attribute__((unused)) static void put_u32(u32 v)
{
    char buf[12];
    int i = sizeof buf;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    sys_write(1, buf + i, sizeof buf - i);
}

__attribute__((unused)) static void put_s32(s32 v)
{
    if (v < 0) {
        put_str("-");
        put_u32(0u - (u32)v);
    } else {
        put_u32((u32)v);
    }
}

__attribute__((unused)) static void put_hex32(u32 v)
{
    static const char digits[] = "0123456789abcdef";
    char buf[8];
    for (int i = 7; i >= 0; i--) {
        buf[i] = digits[v & 15];
        v >>= 4;
    }
    sys_write(1, buf, 8);
}

/* Reads a decimal number from stdin; `fallback` when stdin is empty or
 * holds no digits. This is how tests keep workloads small while the
 * benchmark asks for hundreds of millions of instructions. */
__attribute__((unused)) static u32 read_u32(u32 fallback)
{
    char buf[32];
    s32 n = sys_read(0, buf, sizeof buf);
    u32 v = 0;
    int digits = 0;
    for (s32 i = 0; i < n; i++) {
        if (buf[i] < '0' || buf[i] > '9') {
            if (digits)
                break;
            continue;
        }
        v = v * 10 + (u32)(buf[i] - '0');
        digits++;
    }
    return digits ? v : fallback;
}

int main(void);

/* The entry point. Linux starts a static program with esp pointing at argc
 * (then argv, envp, auxv); these programs ignore all of it. */
__asm__(".text\n"
        ".globl _start\n"
        "_start:\n"
        "    xorl %ebp, %ebp\n"
        "    andl $-16, %esp\n"
        "    call main\n"
        "    movl %eax, %ebx\n"
        "    movl $1, %eax\n"
        "    int $0x80\n"
        "    hlt\n");

void *memset(void *dst, int c, u32 n)
{
    u8 *d = dst;
    while (n--)
        *d++ = (u8)c;
    return dst;
}

void *memcpy(void *dst, const void *src, u32 n)
{
    u8 *d = dst;
    const u8 *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

#endif
