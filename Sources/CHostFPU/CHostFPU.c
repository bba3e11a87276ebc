// See include/CHostFPU.h. Each case below is one x87 encoding, written as raw
// bytes so that no assembler's spelling of the reversed forms (the old AT&T
// fsub/fsubr muddle) can change its meaning.
#include "CHostFPU.h"

// One instruction: restore the guest's state, set CF for fcmov, run the two
// bytes, read the flags, save the state (FNSAVE also re-initializes the host
// FPU, so nothing pending is left behind).
#define HOSTFPU_CASE(op, modrm)                                                 \
    case ((op) << 8 | (modrm)):                                                 \
        __asm__ volatile("frstor %[img]\n\t"                                    \
                         "cmpb $1, %[nc]\n\t"                                   \
                         ".byte 0xd8 + " #op ", " #modrm "\n\t"                 \
                         "pushfq\n\t"                                           \
                         "popq %[fl]\n\t"                                       \
                         "fnsave %[img]"                                        \
                         : [img] "+m"(*image), [fl] "=r"(flags)                 \
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
    uint64_t flags = 0;
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
    return (uint32_t)flags;
}

void hostfpu_normalize(hostfpu_image *image)
{
    uint16_t hostControl;
    __asm__ volatile("fnstcw %0" : "=m"(hostControl));
    __asm__ volatile("frstor %0\n\tfnsave %0" : "+m"(*image) : : "memory");
    __asm__ volatile("fldcw %0" : : "m"(hostControl));
    forget_host_pointers(image);
}
