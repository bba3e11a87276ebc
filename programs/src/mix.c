/*
 * mix: the everyday workload. crc32 measures one tight loop of eight
 * register instructions; real programs look nothing like that. They call
 * small functions, walk strings a byte at a time, compare and branch on
 * data, hash, sort, and copy structures. An interpreter (and a cache of
 * decoded instructions, X:660) can look fast on the first and slow on
 * these, so this program does a little of each, every round:
 *
 *   - sorts 256 numbers from a linear congruential generator with a
 *     recursive quicksort that hands short runs to an insertion sort;
 *   - fills an open-addressing hash table (linear probing) with 160 string
 *     keys it formats itself, then looks up 320 keys, half of them absent,
 *     hashing each byte by byte (FNV-1a: movzbl, xor, imul);
 *   - builds a line of decimal and hexadecimal numbers, then measures,
 *     copies, reverses and compares it byte by byte;
 *   - clears the table and copies a record wholesale with the string
 *     instructions `rep stosl` and `rep movsl`, as a C library would.
 *
 * The helpers are `noinline` and `noipa`, so the calls, returns, pushes
 * and pops stay real and follow the i386 ABI. Each round starts from a
 * seed made of the last round's checksum, so no round can be skipped.
 * `rounds` is read from stdin (default 1); a round costs about 300,000
 * instructions, of 50 kinds (traced in the interpreter): a quarter mov, a
 * quarter cmp, test and conditional jumps, a tenth movzbl, 4% imul and mul,
 * and some 3,000 calls with as many returns. The program prints one line,
 * a checksum that a native run and an emulated one must agree on.
 */
#include "runtime.h"

#define SORT_COUNT 256
#define SHORT_RUN 8
#define TABLE_SLOTS 512
#define KEY_BYTES 16
#define KEY_COUNT 160
#define LINE_NUMBERS 48
#define LINE_BYTES 1024

/* One slot of the hash table: a key, its value, and whether it is taken. */
struct slot {
    char key[KEY_BYTES];
    u32 value;
    u32 used;
};

/* What one round leaves behind; copied whole at the end of each round. */
struct record {
    u32 sorted_sum;
    u32 hits;
    u32 misses;
    u32 probes;
    u32 line_length;
    u32 line_hash;
    u32 digits;
    u32 words[9];
};

/* A real call: never inlined, and (noipa) never given a private register
 * convention, so arguments go on the stack as the i386 ABI says. */
#define HELPER __attribute__((noinline, noipa))

static u32 values[SORT_COUNT];
static struct slot table[TABLE_SLOTS];
static char line[LINE_BYTES];
static char copy[LINE_BYTES];
static struct record last;

/* The next number of the generator (the constants of crc32.c). */
static inline u32 next_random(u32 *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

/* Stores `words` zero words at d with `rep stosl`, as a C library's memset does. */
HELPER static void clear_words(void *d, u32 words)
{
    __asm__ volatile("cld; rep stosl" : "+D"(d), "+c"(words) : "a"(0) : "memory");
}

/* Copies `words` words from s to d with `rep movsl`, as a C library's memcpy does. */
HELPER static void copy_words(void *d, const void *s, u32 words)
{
    __asm__ volatile("cld; rep movsl" : "+D"(d), "+S"(s), "+c"(words) : : "memory");
}

/* Sorts a[lo..hi] by insertion: quick for the short runs quicksort leaves. */
HELPER static void insertion_sort(u32 *a, int lo, int hi)
{
    for (int i = lo + 1; i <= hi; i++) {
        u32 v = a[i];
        int j = i - 1;
        while (j >= lo && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

/* Sorts a[lo..hi]: Hoare partition around the middle element, recursing. */
HELPER static void quicksort(u32 *a, int lo, int hi)
{
    if (hi - lo < SHORT_RUN) {
        insertion_sort(a, lo, hi);
        return;
    }
    u32 pivot = a[lo + (hi - lo) / 2];
    int i = lo - 1, j = hi + 1;
    for (;;) {
        do i++; while (a[i] < pivot);
        do j--; while (a[j] > pivot);
        if (i >= j)
            break;
        u32 t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
    quicksort(a, lo, j);
    quicksort(a, j + 1, hi);
}

/* Writes v in decimal at out (no terminator); returns the digits written. */
HELPER static u32 format_decimal(char *out, u32 v)
{
    char digits[10];
    u32 n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (u32 i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}

/* Writes v in hexadecimal, without leading zeroes; returns the digits written. */
HELPER static u32 format_hex(char *out, u32 v)
{
    static const char hex[] = "0123456789abcdef";
    int shift = 28;
    while (shift > 0 && (v >> shift) == 0)
        shift -= 4;
    u32 n = 0;
    for (; shift >= 0; shift -= 4)
        out[n++] = hex[(v >> shift) & 15];
    return n;
}

/* FNV-1a over the bytes of a string. */
HELPER static u32 hash_string(const char *s)
{
    u32 h = 2166136261u;
    for (; *s != 0; s++) {
        h ^= (u8)*s;
        h *= 16777619u;
    }
    return h;
}

/* strcmp: negative, zero or positive as a sorts before, with or after b. */
HELPER static int string_compare(const char *a, const char *b)
{
    while (*a != 0 && *a == *b) {
        a++;
        b++;
    }
    return (int)(u8)*a - (int)(u8)*b;
}

/* strcpy: copies s, terminator included; returns the bytes before it. */
HELPER static u32 string_copy(char *d, const char *s)
{
    u32 n = 0;
    while ((d[n] = s[n]) != 0)
        n++;
    return n;
}

/* Reverses the len bytes at s in place. */
HELPER static void string_reverse(char *s, u32 len)
{
    if (len < 2)
        return;
    for (u32 i = 0, j = len - 1; i < j; i++, j--) {
        char t = s[i];
        s[i] = s[j];
        s[j] = t;
    }
}

/* The key for number n: "key:" then n * 40503 in decimal, then '\0'. */
HELPER static void make_key(char *out, u32 n)
{
    u32 len = string_copy(out, "key:");
    len += format_decimal(out + len, n * 40503u);
    out[len] = 0;
}

/* The slot holding key, or else the empty slot where it belongs; counts probes. */
HELPER static struct slot *table_find(const char *key, u32 hash, u32 *probes)
{
    u32 index = hash & (TABLE_SLOTS - 1);
    for (;;) {
        struct slot *slot = &table[index];
        (*probes)++;
        if (!slot->used || string_compare(slot->key, key) == 0)
            return slot;
        index = (index + 1) & (TABLE_SLOTS - 1);
    }
}

/* Sorts fresh numbers; the sum of each one times its place, which only a sorted array gives. */
static u32 sort_phase(u32 *state)
{
    for (u32 i = 0; i < SORT_COUNT; i++)
        values[i] = next_random(state);
    quicksort(values, 0, SORT_COUNT - 1);
    u32 sum = 0;
    for (u32 i = 0; i < SORT_COUNT; i++) {
        if (i > 0 && values[i - 1] > values[i])
            return 0;  /* not sorted: a checksum of 0 says so */
        sum += values[i] * (i + 1);
    }
    return sum;
}

/* Inserts KEY_COUNT keys, then looks up twice as many, half of which were never inserted. */
static void hash_phase(u32 *state, struct record *r)
{
    clear_words(table, sizeof table / 4);
    char key[KEY_BYTES];
    u32 base = next_random(state) & 0xFFFF;
    for (u32 i = 0; i < KEY_COUNT; i++) {
        make_key(key, base + i);
        struct slot *slot = table_find(key, hash_string(key), &r->probes);
        string_copy(slot->key, key);
        slot->value = i * 3 + 1;
        slot->used = 1;
    }
    for (u32 i = 0; i < 2 * KEY_COUNT; i++) {
        /* Even i: a key that is there; odd i: one past every key inserted. */
        make_key(key, base + (i >> 1) + (i & 1) * KEY_COUNT);
        struct slot *slot = table_find(key, hash_string(key), &r->probes);
        if (slot->used) {
            r->hits++;
            r->words[i % 9] += slot->value;
        } else {
            r->misses++;
        }
    }
}

/* Builds a line of numbers, then measures, copies, reverses and compares it. */
static void string_phase(u32 *state, struct record *r)
{
    u32 len = 0;
    for (u32 i = 0; i < LINE_NUMBERS; i++) {
        u32 v = next_random(state);
        len += (i & 1) ? format_hex(line + len, v) : format_decimal(line + len, v);
        line[len++] = (i % 8 == 7) ? ';' : ' ';
    }
    line[len] = 0;
    r->line_length = str_len(line);
    string_copy(copy, line);
    string_reverse(copy, r->line_length);
    string_reverse(copy, r->line_length);
    r->line_hash = hash_string(copy) ^ (u32)string_compare(copy, line);
    string_reverse(copy, r->line_length);
    r->line_hash += (u32)(string_compare(copy, line) != 0);
    for (const char *c = copy; *c != 0; c++)
        r->digits += (*c >= '0' && *c <= '9');
}

/* One round from seed; returns its checksum. */
HELPER static u32 one_round(u32 seed)
{
    struct record r;
    clear_words(&r, sizeof r / 4);
    u32 state = seed;
    r.sorted_sum = sort_phase(&state);
    hash_phase(&state, &r);
    string_phase(&state, &r);
    copy_words(&last, &r, sizeof r / 4);
    u32 sum = 0;
    const u32 *words = (const u32 *)&last;
    for (u32 i = 0; i < sizeof last / sizeof(u32); i++)
        sum = (sum << 5 | sum >> 27) ^ words[i];
    return sum;
}

int main(void)
{
    u32 rounds = read_u32(1);
    u32 checksum = 2026;
    for (u32 r = 0; r < rounds; r++)
        checksum = one_round(checksum + r);
    put_str("mix rounds=");
    put_u32(rounds);
    put_str(" hits=");
    put_u32(last.hits);
    put_str(" misses=");
    put_u32(last.misses);
    put_str(" checksum=");
    put_hex32(checksum);
    put_str("\n");
    return 0;
}
