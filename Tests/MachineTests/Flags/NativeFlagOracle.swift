// Results and flags computed by the host's real CPU (an x86-64 AMD EPYC running the same 32-bit and
// narrower operations), used as the oracle for the interpreter's arithmetic in `FlagOracleTests`.
//
// Each row is (a, b, carry in, result, flags & 0x8D5): `a` starts in eax, `b` in ecx (the count in cl
// for shifts), and the status flags start as 0x0D4 (SF ZF AF PF set, OF clear) with CF = carry in, so
// that "unchanged" flags are checkable. For mul32 and imul1_32 the result is eax ^ (edx * 0x9E3779B9).
// For shld32/shrd32 the other operand (edx) is 0x9ABCDEF1. The generator is the C program at the end
// of this file, built with `gcc -O1` and run on the host; regenerate with it if the table ever changes.

let nativeOracle: [String: [(UInt32, UInt32, UInt32, UInt32, UInt32)]] =
    nativeOracleALU.merging(nativeOracleShifts) { first, _ in first }.merging(nativeOracleMultiplyAndBits) { first, _ in first }

/* The generator (C, x86-64 host):

// Prints "name a b cfin -> result flags" rows computed by the real CPU, for the interpreter's tests.
#include <stdio.h>
#include <stdint.h>
typedef uint32_t u32;
static const u32 vals[] = {0,1,0x7F,0x80,0xFF,0x7FFF,0x8000,0xFFFF,0x7FFFFFFF,0x80000000,0xFFFFFFFF,0x12345678,0xDEADBEEF,0x0F0F0F8F};
#define NV (sizeof vals/sizeof vals[0])
#define BIN(name, insn) \
static void name(u32 a, u32 b, u32 cf, u32 *r, u32 *f) { u32 res = a; uint64_t fl; \
  __asm__ volatile("pushq %q3\n\tpopfq\n\t" insn "\n\tpushfq\n\tpopq %q1" : "+r"(res), "=r"(fl) : "r"(b), "r"((uint64_t)(0xD4 | cf)) : "cc"); *r = res; *f = (u32)fl; }
BIN(op_add32, "addl %2,%0") BIN(op_adc32, "adcl %2,%0") BIN(op_sub32, "subl %2,%0") BIN(op_sbb32, "sbbl %2,%0")
BIN(op_and32, "andl %2,%0") BIN(op_or32, "orl %2,%0") BIN(op_xor32, "xorl %2,%0") BIN(op_cmp32, "cmpl %2,%0")
BIN(op_inc32, "incl %0") BIN(op_dec32, "decl %0") BIN(op_neg32, "negl %0")
BIN(op_imul32, "imull %2,%0") BIN(op_bsf32, "bsfl %2,%0") BIN(op_bsr32, "bsrl %2,%0")
BIN(op_bt32, "btl %2,%0") BIN(op_bts32, "btsl %2,%0") BIN(op_btr32, "btrl %2,%0") BIN(op_btc32, "btcl %2,%0")
BIN(op_add16, "addw %w2,%w0") BIN(op_sub16, "subw %w2,%w0") BIN(op_adc16, "adcw %w2,%w0") BIN(op_imul16, "imulw %w2,%w0")
#define SH(name, insn) \
static void name(u32 a, u32 b, u32 cf, u32 *r, u32 *f) { u32 res = a; uint64_t fl; \
  __asm__ volatile("pushq %q3\n\tpopfq\n\t" insn "\n\tpushfq\n\tpopq %q1" : "+r"(res), "=r"(fl) : "c"(b), "r"((uint64_t)(0xD4 | cf)) : "cc"); *r = res; *f = (u32)fl; }
SH(op_shl32, "shll %%cl,%0") SH(op_shr32, "shrl %%cl,%0") SH(op_sar32, "sarl %%cl,%0") SH(op_rol32, "roll %%cl,%0")
SH(op_ror32, "rorl %%cl,%0") SH(op_rcl32, "rcll %%cl,%0") SH(op_rcr32, "rcrl %%cl,%0")
SH(op_shl8, "shlb %%cl,%b0") SH(op_shr8, "shrb %%cl,%b0") SH(op_sar8, "sarb %%cl,%b0") SH(op_rol8, "rolb %%cl,%b0")
SH(op_rcl8, "rclb %%cl,%b0") SH(op_rcr16, "rcrw %%cl,%w0") SH(op_shl16, "shlw %%cl,%w0") SH(op_sar16, "sarw %%cl,%w0")
static void op_shld32(u32 a, u32 b, u32 cf, u32 *r, u32 *f) { u32 res = a; uint64_t fl; __asm__ volatile("pushq $0xD4\n\tpopfq\n\tshldl %%cl,%2,%0\n\tpushfq\n\tpopq %q1" : "+r"(res), "=r"(fl) : "r"(0x9ABCDEF1u), "c"(b) : "cc"); *r = res; *f = (u32)fl; }
static void op_shrd32(u32 a, u32 b, u32 cf, u32 *r, u32 *f) { u32 res = a; uint64_t fl; __asm__ volatile("pushq $0xD4\n\tpopfq\n\tshrdl %%cl,%2,%0\n\tpushfq\n\tpopq %q1" : "+r"(res), "=r"(fl) : "r"(0x9ABCDEF1u), "c"(b) : "cc"); *r = res; *f = (u32)fl; }
static void op_mul32(u32 a, u32 b, u32 cf, u32 *r, u32 *f) { u32 lo = a, hi; uint64_t fl; __asm__ volatile("mull %3\n\tpushfq\n\tpopq %q2" : "+a"(lo), "=d"(hi), "=r"(fl) : "r"(b) : "cc"); *r = lo ^ (hi * 0x9E3779B9u); *f = (u32)fl; }
static void op_imul1_32(u32 a, u32 b, u32 cf, u32 *r, u32 *f) { u32 lo = a, hi; uint64_t fl; __asm__ volatile("imull %3\n\tpushfq\n\tpopq %q2" : "+a"(lo), "=d"(hi), "=r"(fl) : "r"(b) : "cc"); *r = lo ^ (hi * 0x9E3779B9u); *f = (u32)fl; }
static void op_mul8(u32 a, u32 b, u32 cf, u32 *r, u32 *f) { u32 ax = a; uint64_t fl; __asm__ volatile("mulb %b2\n\tpushfq\n\tpopq %q1" : "+a"(ax), "=r"(fl) : "q"(b) : "cc"); *r = ax; *f = (u32)fl; }
struct op { const char *name; void (*fn)(u32, u32, u32, u32 *, u32 *); int shift; int carry; };
static const struct op ops[] = {
 {"add32",op_add32,0,0},{"adc32",op_adc32,0,1},{"sub32",op_sub32,0,0},{"sbb32",op_sbb32,0,1},{"and32",op_and32,0,0},{"or32",op_or32,0,0},
 {"xor32",op_xor32,0,0},{"cmp32",op_cmp32,0,0},{"inc32",op_inc32,0,1},{"dec32",op_dec32,0,1},{"neg32",op_neg32,0,0},{"imul32",op_imul32,0,0},
 {"bsf32",op_bsf32,0,0},{"bsr32",op_bsr32,0,0},{"bt32",op_bt32,1,0},{"bts32",op_bts32,1,0},{"btr32",op_btr32,1,0},{"btc32",op_btc32,1,0},
 {"add16",op_add16,0,0},{"sub16",op_sub16,0,0},{"adc16",op_adc16,0,1},{"imul16",op_imul16,0,0},
 {"shl32",op_shl32,1,0},{"shr32",op_shr32,1,0},{"sar32",op_sar32,1,0},{"rol32",op_rol32,1,0},{"ror32",op_ror32,1,0},{"rcl32",op_rcl32,1,1},{"rcr32",op_rcr32,1,1},
 {"shl8",op_shl8,1,0},{"shr8",op_shr8,1,0},{"sar8",op_sar8,1,0},{"rol8",op_rol8,1,0},{"rcl8",op_rcl8,1,1},{"rcr16",op_rcr16,1,1},{"shl16",op_shl16,1,0},{"sar16",op_sar16,1,0},
 {"shld32",op_shld32,1,0},{"shrd32",op_shrd32,1,0},{"mul32",op_mul32,0,0},{"imul1_32",op_imul1_32,0,0},{"mul8",op_mul8,0,0},
};
int main(void) {
  static const u32 counts[] = {0,1,2,7,8,9,16,17,31,32,33};
  for (unsigned o = 0; o < sizeof ops / sizeof ops[0]; o++) {
    printf("    \"%s\": [", ops[o].name); int n = 0;
    for (unsigned i = 0; i < NV; i++) {
      unsigned nb = ops[o].shift ? sizeof counts / sizeof counts[0] : NV;
      for (unsigned j = 0; j < nb; j += (ops[o].shift ? 1 : 2)) {
        u32 b = ops[o].shift ? counts[j] : vals[j];
        if (ops[o].shift && i % 2) continue;
        if ((ops[o].fn == op_bsf32 || ops[o].fn == op_bsr32) && b == 0) continue;  /* destination undefined */
        for (u32 cf = 0; cf <= (u32)ops[o].carry; cf++) {
          u32 r, f; ops[o].fn(vals[i], b, cf, &r, &f);
          printf("%s(0x%08X, 0x%08X, %u, 0x%08X, 0x%03X),", n++ % 3 ? " " : "\n        ", vals[i], b, cf, r, f & 0x8D5);
        }
      }
    }
    printf("\n    ],\n");
  }
  return 0;
}
*/
