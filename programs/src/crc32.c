/*
 * crc32: the compute kernel. It fills a 4 KiB buffer from a linear
 * congruential generator, then computes the CRC-32 (IEEE 802.3, reflected
 * polynomial 0xEDB88320, bit by bit, as a table would hide the work) of the
 * buffer `rounds` times, feeding each result back into the buffer so no
 * round can be skipped. `rounds` is read from stdin (default 1); each round
 * costs about 294,000 instructions.
 */
#include "runtime.h"

#define BUFFER_SIZE 4096

static u8 buffer[BUFFER_SIZE];

static u32 crc32(const u8 *data, u32 len)
{
    u32 crc = 0xFFFFFFFFu;
    for (u32 i = 0; i < len; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

int main(void)
{
    u32 rounds = read_u32(1);
    u32 seed = 12345;
    for (u32 i = 0; i < BUFFER_SIZE; i++) {
        seed = seed * 1103515245u + 12345u;
        buffer[i] = (u8)(seed >> 16);
    }
    u32 crc = 0;
    for (u32 r = 0; r < rounds; r++) {
        crc = crc32(buffer, BUFFER_SIZE);
        buffer[r % BUFFER_SIZE] ^= (u8)crc;
    }
    put_str("crc32 rounds=");
    put_u32(rounds);
    put_str(" crc=");
    put_hex32(crc);
    put_str("\n");
    return 0;
}
