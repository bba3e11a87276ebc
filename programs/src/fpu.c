/*
 * fpu: the x87, instruction by instruction, over random and edge operands.
 *
 * Each experiment starts from fninit, loads a control word (any rounding,
 * any precision, sometimes unmasked exceptions), loads its operands, runs
 * one x87 instruction and ends with fnsave, which is non-waiting: even an
 * unmasked exception never traps, and its half-written result is captured.
 * The program folds the status word, the tag word, the occupied registers,
 * any memory result and (for fcomi) the flags into one checksum per family
 * of instructions and prints them in hex. Native and emulated runs must
 * print the same bytes. The instruction and operand pointers in the saved
 * image are left out: they are addresses, and processors differ in them.
 *
 * Input: the number of rounds (default 200).
 */
#include "runtime.h"

typedef unsigned short u16;
typedef unsigned long long u64;

/* An 80-bit extended value in memory. */
typedef struct {
    u64 significand;
    u16 sign_exponent;
} __attribute__((packed)) ext80;

static u8 saved[108];
static u32 sum;

/* FNV-1a over bytes. */
static void mix(const void *p, u32 n)
{
    const u8 *b = p;
    for (u32 i = 0; i < n; i++) {
        sum ^= b[i];
        sum *= 16777619u;
    }
}

/* Folds the saved image: control, status and tag words, occupied registers. */
static void mix_saved(void)
{
    u16 tags = (u16)(saved[8] | saved[9] << 8);
    u16 top = (u16)((saved[4] | saved[5] << 8) >> 11 & 7);
    mix(saved, 2);
    mix(saved + 4, 2);
    mix(saved + 8, 2);
    for (int i = 0; i < 8; i++) {
        int physical = (top + i) & 7;
        if ((tags >> (2 * physical) & 3) != 3)
            mix(saved + 28 + 10 * i, 10);
    }
}

static u32 rng = 0x2545f491u;

static u32 next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* Edge cases first, then random bits with exponents near the interesting places. */
static ext80 random_ext(void)
{
    static const u16 exps[] = {0, 1, 0x3fff, 0x3ffe, 0x4000, 0x403e, 0x7ffe, 0x7fff, 0x3f80, 0x3c00, 0x43fe};
    ext80 v;
    u32 kind = next() % 8;
    v.significand = (u64)next() << 32 | next();
    v.sign_exponent = (u16)(next() & 0x8000);
    if (kind < 3) {
        v.sign_exponent |= exps[next() % (sizeof exps / sizeof exps[0])];
        if (next() % 4 == 0)
            v.significand = next() % 2 ? 0x8000000000000000ull : 0xc000000000000000ull;
        if (next() % 8 == 0)
            v.significand &= 0x7fffffffffffffffull;  /* unnormals, pseudo-denormals */
        else if ((v.sign_exponent & 0x7fff) != 0)
            v.significand |= 0x8000000000000000ull;
        if ((v.sign_exponent & 0x7fff) == 0 && next() % 2)
            v.significand = next() % 3 ? 0 : v.significand >> 8;
    } else {
        v.sign_exponent |= (u16)(0x3fff + (s32)(next() % 129) - 64);
        v.significand |= 0x8000000000000000ull;
        if (kind == 7)
            v.significand &= 0xfffffffffff00000ull;  /* short values, exact in doubles */
    }
    return v;
}

static u32 random_u32(void)
{
    static const u32 edges[] = {0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7fa00000u,
                                0x00000001u, 0x007fffffu, 0x3f800000u, 0xffffffffu, 0x7fffffffu};
    if (next() % 4 == 0)
        return edges[next() % (sizeof edges / sizeof edges[0])];
    return next() % 2 ? next() : (next() & 0x807fffffu) | (0x3f800000u + ((next() % 64) << 23) - (32u << 23));
}

static u64 random_u64(void)
{
    static const u64 edges[] = {0, 0x8000000000000000ull, 0x7ff0000000000000ull, 0x7ff8000000000000ull,
                                0x7ff4000000000000ull, 1, 0x000fffffffffffffull, 0x3ff0000000000000ull,
                                0x7fffffffffffffffull};
    u64 v = (u64)next() << 32 | next();
    if (next() % 4 == 0)
        return edges[next() % (sizeof edges / sizeof edges[0])];
    if (next() % 2)
        v = (v & 0x800fffffffffffffull) | ((u64)(0x3ff + next() % 128 - 64) << 52);
    return v;
}

/* The operands of one round. */
static ext80 a, b;
static u32 m32;
static u64 m64;
static u16 m16;
static u16 cw;
static u8 membuf[16];
static u32 eflags;

/* One experiment: a (ST0) over b (ST1), then `insn`. */
#define EXPERIMENT(insn)                                                      \
    __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\t"    \
                     insn "\n\tfnsave %[sv]"                                  \
                     : [sv] "=m"(saved), "+m"(membuf)                         \
                     : [cw] "m"(cw), [a] "m"(a), [b] "m"(b), [m32] "m"(m32),  \
                       [m64] "m"(m64), [m16] "m"(m16)                         \
                     : "memory");                                             \
    mix_saved()

/* The same, also recording ZF PF CF (and OF SF AF) after the instruction. */
#define FLAGS_EXPERIMENT(insn)                                                \
    __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\t"    \
                     "xorl %%eax, %%eax\n\t" insn                             \
                     "\n\tpushfl\n\tpopl %[fl]\n\tfnsave %[sv]"               \
                     : [sv] "=m"(saved), [fl] "=m"(eflags)                    \
                     : [cw] "m"(cw), [a] "m"(a), [b] "m"(b)                   \
                     : "memory", "eax", "cc");                                \
    eflags &= 0x8d5;                                                          \
    mix(&eflags, 4);                                                          \
    mix_saved()

/* A store to membuf, which starts each time as a known pattern. */
#define STORE_EXPERIMENT(insn)                                                \
    memset(membuf, 0xa5, sizeof membuf);                                      \
    __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\t"    \
                     insn " %[mb]\n\tfnsave %[sv]"                            \
                     : [sv] "=m"(saved), [mb] "=m"(membuf)                    \
                     : [cw] "m"(cw), [a] "m"(a), [b] "m"(b)                   \
                     : "memory");                                             \
    mix(membuf, sizeof membuf);                                               \
    mix_saved()

static u32 sums[8];

static void finish(int family)
{
    sums[family] ^= sum;
    sums[family] *= 0x9e3779b1u;
    sum = 2166136261u;
}

static void arithmetic(void)
{
    EXPERIMENT("fadd %%st(1), %%st"); EXPERIMENT("fsub %%st(1), %%st");
    EXPERIMENT("fsubr %%st(1), %%st"); EXPERIMENT("fmul %%st(1), %%st");
    EXPERIMENT("fdiv %%st(1), %%st"); EXPERIMENT("fdivr %%st(1), %%st");
    EXPERIMENT(".byte 0xdc, 0xc1"); EXPERIMENT(".byte 0xdc, 0xe1"); EXPERIMENT(".byte 0xdc, 0xe9");
    EXPERIMENT(".byte 0xdc, 0xc9"); EXPERIMENT(".byte 0xdc, 0xf1"); EXPERIMENT(".byte 0xdc, 0xf9");
    EXPERIMENT("faddp"); EXPERIMENT(".byte 0xde, 0xe9"); EXPERIMENT(".byte 0xde, 0xe1");
    EXPERIMENT("fmulp"); EXPERIMENT(".byte 0xde, 0xf9"); EXPERIMENT(".byte 0xde, 0xf1");
    EXPERIMENT("fsqrt"); EXPERIMENT("frndint"); EXPERIMENT("fscale"); EXPERIMENT("fxtract");
    EXPERIMENT("fprem"); EXPERIMENT("fprem1"); EXPERIMENT("fchs"); EXPERIMENT("fabs");
    finish(0);
}

static void memory_arithmetic(void)
{
    EXPERIMENT("fadds %[m32]"); EXPERIMENT("fsubs %[m32]"); EXPERIMENT("fsubrs %[m32]");
    EXPERIMENT("fmuls %[m32]"); EXPERIMENT("fdivs %[m32]"); EXPERIMENT("fdivrs %[m32]");
    EXPERIMENT("faddl %[m64]"); EXPERIMENT("fsubl %[m64]"); EXPERIMENT("fsubrl %[m64]");
    EXPERIMENT("fmull %[m64]"); EXPERIMENT("fdivl %[m64]"); EXPERIMENT("fdivrl %[m64]");
    EXPERIMENT("fiaddl %[m32]"); EXPERIMENT("fisubl %[m32]"); EXPERIMENT("fisubrl %[m32]");
    EXPERIMENT("fimull %[m32]"); EXPERIMENT("fidivl %[m32]"); EXPERIMENT("fidivrl %[m32]");
    EXPERIMENT("fiadds %[m16]"); EXPERIMENT("fisubs %[m16]"); EXPERIMENT("fimuls %[m16]");
    EXPERIMENT("fidivs %[m16]"); EXPERIMENT("fidivrs %[m16]"); EXPERIMENT("fisubrs %[m16]");
    finish(1);
}

static void loads_and_constants(void)
{
    EXPERIMENT("flds %[m32]"); EXPERIMENT("fldl %[m64]"); EXPERIMENT("fildl %[m32]");
    EXPERIMENT("filds %[m16]"); EXPERIMENT("fildll %[m64]"); EXPERIMENT("fld %%st(1)");
    EXPERIMENT("fld1"); EXPERIMENT("fldz"); EXPERIMENT("fldpi"); EXPERIMENT("fldl2e");
    EXPERIMENT("fldl2t"); EXPERIMENT("fldlg2"); EXPERIMENT("fldln2");
    EXPERIMENT("fxch %%st(1)"); EXPERIMENT("fst %%st(1)"); EXPERIMENT("fstp %%st(1)");
    EXPERIMENT("ffree %%st(1)"); EXPERIMENT("fincstp"); EXPERIMENT("fdecstp"); EXPERIMENT("fnop");
    EXPERIMENT("fld %%st(0)\n\tfld %%st(0)\n\tfld %%st(0)\n\tfld %%st(0)\n\tfld %%st(0)\n\tfld %%st(0)\n\tfld %%st(0)");
    EXPERIMENT("fstp %%st(0)\n\tfstp %%st(0)\n\tfadd %%st(0), %%st");
    memcpy(membuf, &a, 10);
    EXPERIMENT("fldt %1");
    finish(2);
}

static void stores(void)
{
    STORE_EXPERIMENT("fsts"); STORE_EXPERIMENT("fstps"); STORE_EXPERIMENT("fstl");
    STORE_EXPERIMENT("fstpl"); STORE_EXPERIMENT("fstpt"); STORE_EXPERIMENT("fists");
    STORE_EXPERIMENT("fistps"); STORE_EXPERIMENT("fistl"); STORE_EXPERIMENT("fistpl");
    STORE_EXPERIMENT("fistpll"); STORE_EXPERIMENT("fbstp"); STORE_EXPERIMENT("fnstcw");
    STORE_EXPERIMENT("fnstsw");
    finish(3);
}

static void compares(void)
{
    EXPERIMENT("fcom %%st(1)"); EXPERIMENT("fcomp %%st(1)"); EXPERIMENT("fcompp");
    EXPERIMENT("fucom %%st(1)"); EXPERIMENT("fucomp %%st(1)"); EXPERIMENT("fucompp");
    EXPERIMENT("ftst"); EXPERIMENT("fxam"); EXPERIMENT("fcoms %[m32]"); EXPERIMENT("fcompl %[m64]");
    EXPERIMENT("ficoml %[m32]"); EXPERIMENT("ficomps %[m16]");
    EXPERIMENT("ffree %%st(0)\n\tfxam");
    FLAGS_EXPERIMENT("fcomi %%st(1), %%st"); FLAGS_EXPERIMENT("fcomip %%st(1), %%st");
    FLAGS_EXPERIMENT("fucomi %%st(1), %%st"); FLAGS_EXPERIMENT("fucomip %%st(1), %%st");
    FLAGS_EXPERIMENT("fnstsw %%ax\n\tsahf");
    FLAGS_EXPERIMENT("fucom %%st(1)\n\tfnstsw %%ax\n\tsahf");
    FLAGS_EXPERIMENT("stc\n\tfcmovb %%st(1), %%st"); FLAGS_EXPERIMENT("clc\n\tfcmovnb %%st(1), %%st");
    FLAGS_EXPERIMENT("fcmove %%st(1), %%st"); FLAGS_EXPERIMENT("fcmovne %%st(1), %%st");
    FLAGS_EXPERIMENT("fcmovbe %%st(1), %%st"); FLAGS_EXPERIMENT("fcmovu %%st(1), %%st");
    FLAGS_EXPERIMENT("fcmovnbe %%st(1), %%st"); FLAGS_EXPERIMENT("fcmovnu %%st(1), %%st");
    finish(4);
}

static void transcendental(void)
{
    EXPERIMENT("f2xm1"); EXPERIMENT("fyl2x"); EXPERIMENT("fyl2xp1"); EXPERIMENT("fpatan");
    EXPERIMENT("fsin"); EXPERIMENT("fcos"); EXPERIMENT("fptan"); EXPERIMENT("fsincos");
    finish(5);
}

static u8 env[28];
static u8 area[512] __attribute__((aligned(16)));

static void state(void)
{
    /* fnstenv masks everything; keep cw, sw and tw (the pointers differ between CPUs). */
    __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\tfadd %%st(1), %%st\n\t"
                     "fnstenv %[env]\n\tfnsave %[sv]"
                     : [env] "=m"(env), [sv] "=m"(saved) : [cw] "m"(cw), [a] "m"(a), [b] "m"(b) : "memory");
    mix(env, 2); mix(env + 4, 2); mix(env + 8, 2); mix_saved();
    /* frstor of an image we built, then fnsave: the tags come back as the processor computes them. */
    __asm__ volatile("frstor %[sv]\n\tfldt %[a]\n\tfnsave %[sv]" : [sv] "+m"(saved) : [a] "m"(a) : "memory");
    mix_saved();
    /* fxsave and fxrstor: header words, abridged tags and the registers. */
    __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\tfmul %%st(1), %%st\n\t"
                     "fxsave %[ar]\n\tfninit\n\tfxrstor %[ar]\n\tfnsave %[sv]"
                     : [ar] "+m"(area), [sv] "=m"(saved) : [cw] "m"(cw), [a] "m"(a), [b] "m"(b) : "memory");
    mix(area, 6); mix(area + 32, 16); mix(area + 48, 10); mix_saved();
    finish(6);
}

/* Ordinary C: what gcc makes of float, double and long double code. */
static volatile float fv = 1.0f;
static volatile double dv = 1.0;
static volatile long double lv = 1.0L;

static void c_code(u32 rounds)
{
    float f = 0.0f;
    double d = 0.0;
    long double l = 0.0L;
    s32 conv = 0;
    for (u32 i = 1; i <= rounds; i++) {
        f += fv / (float)i;
        d += dv / ((double)i * (double)i);
        l += lv / ((long double)i * i * i);
        conv += (s32)(d * 1000.0) - (s32)(f * 3.5f);
        if (f > 2.5f && d < 1.7)
            conv ^= (s32)i;
    }
    u32 fb, db[2], lb[3];
    memcpy(&fb, &f, 4);
    memcpy(db, &d, 8);
    memcpy(lb, &l, 10);
    put_str("float  "); put_hex32(fb); put_str("\n");
    put_str("double "); put_hex32(db[1]); put_hex32(db[0]); put_str("\n");
    put_str("long   "); put_hex32(lb[2] & 0xffff); put_hex32(lb[1]); put_hex32(lb[0]); put_str("\n");
    put_str("ints   "); put_hex32((u32)conv); put_str("\n");
}

int main(void)
{
    static const char *names[] = {"arith", "memory", "loads", "stores", "compare", "transc", "state"};
    u32 rounds = read_u32(200);
    sum = 2166136261u;
    for (u32 round = 0; round < rounds; round++) {
        a = random_ext();
        b = random_ext();
        m32 = random_u32();
        m64 = random_u64();
        m16 = (u16)next();
        memcpy(membuf, &m32, 4);
        /* Any rounding and precision; one round in four with some exceptions unmasked. */
        cw = (u16)(0x0040 | (next() & 0x0f00) | (next() % 4 == 0 ? (next() & 0x3f) : 0x3f));
        arithmetic();
        memory_arithmetic();
        loads_and_constants();
        stores();
        compares();
        transcendental();
        state();
    }
    for (int i = 0; i < 7; i++) {
        put_str(names[i]);
        put_str(" ");
        put_hex32(sums[i]);
        put_str("\n");
    }
    c_code(rounds);
    return 0;
}
