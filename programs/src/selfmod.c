/*
 * selfmod: code that rewrites itself, the test of the interpreter's code
 * cache (X:668). It copies small hand-assembled functions into a page it
 * maps with PROT_EXEC and then changes them while they run:
 *
 *  (a) it calls two tiny functions many times, so their code is hot, and
 *      patches the immediate of their `add` between calls; the second of
 *      them straddles a page boundary, with the immediate on the second page;
 *  (b) it runs a loop whose body stores over instructions further down the
 *      same straight run: the immediate of an `add` and, with an `xorb`,
 *      its opcode, which turns the `add` into a `sub` and back, so each
 *      iteration must see the bytes the one before it wrote;
 *  (c) it copies a different function over the first one wholesale, calls
 *      it, and copies the first back, over and over.
 *
 * Each part computes the same thing in C beside the machine code and says
 * "ok" when the two agree. The page comes from mmap2 rather than a static
 * array: the i386 without PAE has no NX bit, so the bare machine would run
 * .data, but a real x86-64 kernel maps a 32-bit program's data
 * non-executable, and the program must run natively for the differential
 * test (X:895). The number of rounds is read from stdin (default 40).
 */
#include "runtime.h"

enum { SYS_mmap2 = 192 };
enum { PROT_RWX = 7, MAP_PRIVATE_ANONYMOUS = 0x22 };

/* mmap2 takes its sixth argument, the page offset, in ebp, which gcc will
 * not hand to an asm operand; the asm saves it and passes 0. */
static u8 *map_code_pages(u32 length)
{
    s32 ret;
    __asm__ volatile("pushl %%ebp\n\t"
                     "xorl %%ebp, %%ebp\n\t"
                     "int $0x80\n\t"
                     "popl %%ebp"
                     : "=a"(ret)
                     : "a"(SYS_mmap2), "b"(0), "c"(length), "d"(PROT_RWX), "S"(MAP_PRIVATE_ANONYMOUS), "D"(-1)
                     : "memory");
    if ((u32)ret > 0xFFFFF000u) {
        put_str("selfmod: mmap2 failed\n");
        sys_exit(1);
    }
    return (u8 *)ret;
}

/* u32 triple_plus(u32 x): x * 3 + IMM, with IMM at TRIPLE_IMM. */
static const u8 triple_plus[] = {
    0x8B, 0x44, 0x24, 0x04,       /* mov 4(%esp),%eax */
    0x8D, 0x04, 0x40,             /* lea (%eax,%eax,2),%eax */
    0x05, 0x00, 0x00, 0x00, 0x00, /* add $IMM,%eax */
    0xC3,                         /* ret */
};
enum { TRIPLE_IMM = 8 };

/* u32 square_mix(u32 x): (x ^ x >> 3) squared; the same entry, other code. */
static const u8 square_mix[] = {
    0x8B, 0x44, 0x24, 0x04, /* mov 4(%esp),%eax */
    0x89, 0xC2,             /* mov %eax,%edx */
    0xC1, 0xEA, 0x03,       /* shr $3,%edx */
    0x31, 0xD0,             /* xor %edx,%eax */
    0x0F, 0xAF, 0xC0,       /* imul %eax,%eax */
    0xC3,                   /* ret */
};

/* u32 rewriting_loop(u32 n, u32 seed), n >= 1: each iteration stores ebx
 * over the immediate of the add at LOOP_OP, toggles that add into a sub
 * (0x05 ^ 0x28 = 0x2D) and back, then runs it. The two addresses are
 * filled in when the code is placed. */
static const u8 rewriting_loop[] = {
    0x53,                               /*  0 push %ebx */
    0x8B, 0x4C, 0x24, 0x08,             /*  1 mov 8(%esp),%ecx */
    0x8B, 0x5C, 0x24, 0x0C,             /*  5 mov 12(%esp),%ebx */
    0x31, 0xC0,                         /*  9 xor %eax,%eax */
    0x89, 0x1D, 0, 0, 0, 0,             /* 11 loop: mov %ebx,IMM */
    0x80, 0x35, 0, 0, 0, 0, 0x28,       /* 17 xorb $0x28,OP */
    0x01, 0xCB,                         /* 24 add %ecx,%ebx */
    0x05, 0x00, 0x00, 0x00, 0x00,       /* 26 OP: add $IMM,%eax (or sub) */
    0xC1, 0xC0, 0x05,                   /* 31 rol $5,%eax */
    0x49,                               /* 34 dec %ecx */
    0x75, 0xE6,                         /* 35 jnz loop (11 - 37) */
    0x5B,                               /* 37 pop %ebx */
    0xC3,                               /* 38 ret */
};
enum { LOOP_IMM_FIELD = 13, LOOP_OP_FIELD = 19, LOOP_OP = 26 };

typedef u32 (*unary)(u32);
typedef u32 (*binary)(u32, u32);

/* Where the functions go in the two mapped pages: the second copy of
 * triple_plus starts 8 bytes before the boundary, so its add's opcode is
 * on the first page and its immediate on the second. */
enum { AT_TRIPLE = 0, AT_LOOP = 64, AT_STRADDLE = 4096 - 8, CODE_BYTES = 8192 };

static u8 *code;

/* Keeps gcc from moving stores to the code past a call into it. */
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

static void put_word(u8 *at, u32 value)
{
    for (int i = 0; i < 4; i++)
        at[i] = (u8)(value >> (8 * i));
}

static u32 call1(u32 offset, u32 x)
{
    barrier();
    u32 result = ((unary)(u32)(code + offset))(x);
    barrier();
    return result;
}

static void report(const char *what, u32 got, u32 expected)
{
    put_str(what);
    put_str(" ");
    put_hex32(got);
    put_str(got == expected ? " ok\n" : " MISMATCH\n");
}

/* Part (a): two hot functions, their immediates patched between calls. */
static void patch_hot_functions(u32 rounds)
{
    memcpy(code + AT_TRIPLE, triple_plus, sizeof triple_plus);
    memcpy(code + AT_STRADDLE, triple_plus, sizeof triple_plus);
    u32 got = 0, expected = 0, imm = 0;
    for (u32 r = 0; r < rounds; r++) {
        for (u32 k = 0; k < 8; k++) {
            got = got * 31 + call1(AT_TRIPLE, got ^ k) + call1(AT_STRADDLE, got + k);
            expected = expected * 31 + ((expected ^ k) * 3 + imm) + ((expected + k) * 3 + imm);
        }
        imm = imm * 1103515245u + 12345u;
        put_word(code + AT_TRIPLE + TRIPLE_IMM, imm);
        put_word(code + AT_STRADDLE + TRIPLE_IMM, imm);
    }
    report("patched immediates:", got, expected);
}

/* What rewriting_loop computes, given whether its op starts as a sub. */
static u32 model_rewriting_loop(u32 n, u32 seed, int is_sub)
{
    u32 eax = 0, ebx = seed;
    for (u32 c = n; c != 0; c--) {
        u32 imm = ebx;
        is_sub = !is_sub;
        ebx += c;
        eax = is_sub ? eax - imm : eax + imm;
        eax = eax << 5 | eax >> 27;
    }
    return eax;
}

/* Part (b): a loop that rewrites the instructions ahead of it. */
static void rewrite_ahead(u32 rounds)
{
    u8 *loop = code + AT_LOOP;
    memcpy(loop, rewriting_loop, sizeof rewriting_loop);
    put_word(loop + LOOP_IMM_FIELD, (u32)(loop + LOOP_OP + 1));
    put_word(loop + LOOP_OP_FIELD, (u32)(loop + LOOP_OP));
    u32 got = 0, expected = 0;
    for (u32 r = 0; r < rounds; r++) {
        u32 n = 1 + r % 23, seed = got ^ r;
        int is_sub = loop[LOOP_OP] == 0x2D;
        barrier();
        got ^= ((binary)(u32)loop)(n, seed);
        barrier();
        expected ^= model_rewriting_loop(n, seed, is_sub);
    }
    report("rewritten ahead:", got, expected);
}

/* Part (c): two functions taking turns in the same bytes. */
static void swap_whole_functions(u32 rounds)
{
    u32 got = 0, expected = 0;
    for (u32 r = 0; r < rounds; r++) {
        u32 x = got + r;
        memcpy(code + AT_TRIPLE, square_mix, sizeof square_mix);
        got += call1(AT_TRIPLE, x);
        u32 mixed = x ^ x >> 3;
        expected += mixed * mixed;
        memcpy(code + AT_TRIPLE, triple_plus, sizeof triple_plus);
        put_word(code + AT_TRIPLE + TRIPLE_IMM, r);
        got += call1(AT_TRIPLE, x);
        expected += x * 3 + r;
    }
    report("swapped functions:", got, expected);
}

int main(void)
{
    u32 rounds = read_u32(40);
    code = map_code_pages(CODE_BYTES);
    put_str("selfmod rounds=");
    put_u32(rounds);
    put_str("\n");
    patch_hot_functions(rounds);
    rewrite_ahead(rounds);
    swap_whole_functions(rounds);
    return 0;
}
