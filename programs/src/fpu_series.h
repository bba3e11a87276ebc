/*
 * fpu_series.h: one partial sum kept in the x87 registers across system calls.
 *
 * The loop runs in a single asm block: the running sum and the counter never
 * leave ST(0) and ST(1), and after every step the program calls sched_yield,
 * so that with another process running the kernel switches away and back
 * with the numbers still on this process's FPU stack. Each program picks its
 * own control word (rounding and precision), which must survive the
 * switches too. If the kernel let two processes share one FPU, their sums,
 * and their rounding, would mix.
 */
#include "runtime.h"

typedef unsigned short u16;

static u8 result[10];
static u16 final_cw, final_sw;

/* Sums `terms` terms with control word `cw`; `squares` sums 1/k^2 instead of 1/k. */
static void series(u32 terms, u16 cw, int squares)
{
    __asm__ volatile("fldcw %[cw]\n\t"
                     "fldz\n\t"               /* ST(0) sum */
                     "fldz\n\t"               /* ST(0) k, ST(1) sum */
                     "1:\n\t"
                     "fld1\n\t"
                     "faddp\n\t"              /* k += 1 */
                     "fld1\n\t"
                     "fdiv %%st(1), %%st\n\t" /* 1/k */
                     "testl %[sq], %[sq]\n\t"
                     "jz 2f\n\t"
                     "fdiv %%st(1), %%st\n\t" /* 1/k^2 */
                     "2:\n\t"
                     "faddp %%st, %%st(2)\n\t" /* sum += term */
                     "pushl %%ecx\n\t"
                     "movl $158, %%eax\n\t"   /* sched_yield */
                     "int $0x80\n\t"
                     "popl %%ecx\n\t"
                     "decl %%ecx\n\t"
                     "jnz 1b\n\t"
                     "fstp %%st(0)\n\t"
                     "fstpt %[out]\n\t"
                     "fnstcw %[fcw]\n\t"
                     "fnstsw %[fsw]"
                     : [out] "=m"(result), [fcw] "=m"(final_cw), [fsw] "=m"(final_sw), "+c"(terms)
                     : [cw] "m"(cw), [sq] "r"(squares)
                     : "eax", "memory", "cc");
}

static void report(const char *name)
{
    u32 low, high;
    memcpy(&low, result, 4);
    memcpy(&high, result + 4, 4);
    put_str(name);
    put_str(" sum ");
    put_hex32((u32)(result[8] | result[9] << 8));
    put_hex32(high);
    put_hex32(low);
    put_str(" cw ");
    put_hex32(final_cw);
    put_str(" sw ");
    put_hex32(final_sw);
    put_str("\n");
}
