// CHostFPU: the host's own x87, borrowed for one instruction at a time.
//
// The Machine's FPU (Appendix X, X:630) keeps the emulated x87's whole state
// as a 108-byte FNSAVE image. To execute one x87 instruction it hands that
// image and the instruction's two bytes to hostfpu_execute(), which loads the
// image into the host's x87 (FRSTOR), runs exactly that instruction, and
// stores the new state back (FNSAVE). Results are then those of the real
// processor, bit for bit, in every rounding mode and precision.
#ifndef CHOSTFPU_H
#define CHOSTFPU_H

#include <stdint.h>

/// The 32-bit protected-mode FNSAVE/FRSTOR image: the environment (28 bytes)
/// and ST(0)..ST(7), ten bytes each.
typedef struct {
    uint8_t bytes[108];
} hostfpu_image;

/// Runs one x87 instruction on the host's FPU.
///
/// `instruction` is (first opcode byte & 7) << 8 | ModR/M. For a memory form,
/// the ModR/M byte must have mod = 00 and r/m = 000; the operand is then the
/// 32 bytes at `operand`. `carry` becomes CF for FCMOVB (1: the move happens).
/// Returns the host's flags after the instruction (for FCOMI and FUCOMI).
///
/// The caller guarantees the encoding is one the processor implements and that
/// no unmasked exception is pending in `image` when the instruction is a
/// waiting one: this function has no way to refuse.
uint32_t hostfpu_execute(hostfpu_image *image, uint16_t instruction, uint8_t *operand, int carry);

/// Loads `image` into the host's FPU and stores it again, so that its fields
/// come back the way the processor keeps them (the tag word recomputed, the
/// control word's fixed bits set).
void hostfpu_normalize(hostfpu_image *image);

/// The host's own x87 control word, which both functions above leave exactly as
/// they found it (the tests check this).
uint16_t hostfpu_control_word(void);

#endif
