// See include/CHostFPU.h. Each case below is one x87 encoding, written as raw
// bytes so that no assembler's spelling of the reversed forms (the old AT&T
// fsub/fsubr muddle) can change its meaning.
#include "CHostFPU.h"

// One instruction: restore the guest's state, set CF for fcmov, run the two
// bytes, catch the three flags fcomi and fucomi set, save the state (FNSAVE also
// re-initializes the host FPU, so nothing pending is left behind).
//
// The flags are caught with setc/setp/setz, never pushf: this is a leaf
// function, and at -O2 the compiler keeps hostControl in the red zone below
// the stack pointer, which a push inside the asm would overwrite. (It did, and
// left the host's x87 with every exception unmasked: the codecache fuzzer found
// it when libFuzzer's own logl trapped.) The outputs are early-clobber so that
// none of them can share a register with the operand or the image's address.
#define HOSTFPU_CASE(op, modrm)                                                 \
    case ((op) << 8 | (modrm)):                                                 \
        __asm__ volatile("frstor %[img]\n\t"                                    \
                         "cmpb $1, %[nc]\n\t"                                   \
                         ".byte 0xd8 + " #op ", " #modrm "\n\t"                 \
                         "setc %[cf]\n\t"                                      \
                         "setp %[pf]\n\t"                                      \
                         "setz %[zf]\n\t"                                      \
                         "fnsave %[img]"                                        \
                         : [img] "+m"(*image), [cf] "=&q"(cf), [pf] "=&q"(pf),  \
                           [zf] "=&q"(zf)                                       \
                         : "a"(operand), [nc] "q"(notCarry)                     \
                         : "memory", "cc");                                     \
        break;

#define HOSTFPU_ROW8(op, base)                                                  \
    HOSTFPU_CASE(op, base + 0) HOSTFPU_CASE(op, base + 1)                       \
    HOSTFPU_CASE(op, base + 2) HOSTFPU_CASE(op, base + 3)                       \
    HOSTFPU_CASE(op, base + 4) HOSTFPU_CASE(op, base + 5)                       \
    HOSTFPU_CASE(op, base + 6) HOSTFPU_CASE(op, base + 7)

// Every form of one opcode byte: the eight memory forms (mod 00, r/m 000)
// and the sixty-four register forms.
#define HOSTFPU_OPCODE(op)                                                      \
    HOSTFPU_CASE(op, 0x00) HOSTFPU_CASE(op, 0x08) HOSTFPU_CASE(op, 0x10)        \
    HOSTFPU_CASE(op, 0x18) HOSTFPU_CASE(op, 0x20) HOSTFPU_CASE(op, 0x28)        \
    HOSTFPU_CASE(op, 0x30) HOSTFPU_CASE(op, 0x38)                               \
    HOSTFPU_ROW8(op, 0xc0) HOSTFPU_ROW8(op, 0xc8) HOSTFPU_ROW8(op, 0xd0)        \
    HOSTFPU_ROW8(op, 0xd8) HOSTFPU_ROW8(op, 0xe0) HOSTFPU_ROW8(op, 0xe8)        \
    HOSTFPU_ROW8(op, 0xf0) HOSTFPU_ROW8(op, 0xf8)

// The instruction and operand pointers FNSAVE stored are the host's own
// addresses: never leave them in the guest's state (the Machine keeps the
// guest's pointers itself), so the state is the same on every run.
static void forget_host_pointers(hostfpu_image *image)
{
    for (int i = 12; i < 28; i++)
        image->bytes[i] = 0;
}

uint32_t hostfpu_execute(hostfpu_image *image, uint16_t instruction, uint8_t *operand, int carry)
{
    uint16_t hostControl;
    uint8_t cf = 0, pf = 0, zf = 0;
    uint8_t notCarry = carry ? 0 : 1;
    __asm__ volatile("fnstcw %0" : "=m"(hostControl));
    switch (instruction) {
        HOSTFPU_OPCODE(0) HOSTFPU_OPCODE(1) HOSTFPU_OPCODE(2) HOSTFPU_OPCODE(3)
        HOSTFPU_OPCODE(4) HOSTFPU_OPCODE(5) HOSTFPU_OPCODE(6) HOSTFPU_OPCODE(7)
    default:
        break;
    }
    __asm__ volatile("fldcw %0" : : "m"(hostControl));
    forget_host_pointers(image);
    // Back at their EFLAGS positions: CF bit 0, PF bit 2, ZF bit 6.
    return (uint32_t)cf | (uint32_t)pf << 2 | (uint32_t)zf << 6;
}

uint16_t hostfpu_control_word(void)
{
    uint16_t control;
    __asm__ volatile("fnstcw %0" : "=m"(control));
    return control;
}

void hostfpu_normalize(hostfpu_image *image)
{
    uint16_t hostControl;
    __asm__ volatile("fnstcw %0" : "=m"(hostControl));
    __asm__ volatile("frstor %0\n\tfnsave %0" : "+m"(*image) : : "memory");
    __asm__ volatile("fldcw %0" : : "m"(hostControl));
    forget_host_pointers(image);
}
