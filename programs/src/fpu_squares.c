/* fpu_squares: 1 + 1/4 + ... + 1/n^2 rounded down in double precision, yielding after every term (see fpu_series.h). */
#include "fpu_series.h"

int main(void)
{
    series(read_u32(60), 0x067f, 1);
    report("squares");
    return 0;
}
