/* A broken interactor: testlib's _fail (exit code 3) at once. */
#include <stdio.h>

int main(void)
{
        fprintf(stderr, "fail: the interactor is broken\n");
        return 3;
}
