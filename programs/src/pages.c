/*
 * pages: touches many pages. It grows the heap with brk by `pages` pages
 * (default 256, read from stdin, at most 4096), writes a different word
 * into every 1 KiB of each page, reads them all back, then gives the memory
 * back and checks that the break moved as asked.
 */
#include "runtime.h"

#define PAGE_SIZE 4096u

int main(void)
{
    u32 pages = read_u32(256);
    if (pages > 4096)
        pages = 4096;
    u32 start = sys_brk(0);
    u32 end = start + pages * PAGE_SIZE;
    if (sys_brk(end) != end) {
        put_str("brk refused to grow the heap\n");
        return 1;
    }
    volatile u32 *heap = (volatile u32 *)start;
    u32 words = pages * PAGE_SIZE / 4;
    for (u32 i = 0; i < words; i += 256)
        heap[i] = i * 2654435761u;
    u32 sum = 0, wrong = 0;
    for (u32 i = 0; i < words; i += 256) {
        u32 v = heap[i];
        if (v != i * 2654435761u)
            wrong++;
        sum = (sum << 1 | sum >> 31) ^ v;
    }
    put_str("touched ");
    put_u32(pages);
    put_str(" pages, checksum ");
    put_hex32(sum);
    put_str(", mismatches ");
    put_u32(wrong);
    put_str("\n");
    if (sys_brk(start) != start) {
        put_str("brk refused to shrink the heap\n");
        return 1;
    }
    put_str("heap returned\n");
    return wrong != 0;
}
