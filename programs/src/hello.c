/* hello: the smallest honest program, one write and an exit status of 0. */
#include "runtime.h"

int main(void)
{
    put_str("Hello from i386 user space!\n");
    return 0;
}
