/* fpu_harmonic: 1 + 1/2 + ... + 1/n rounded up in single precision, yielding after every term (see fpu_series.h). */
#include "fpu_series.h"

int main(void)
{
    series(read_u32(60), 0x087f, 0);
    report("harmonic");
    return 0;
}
