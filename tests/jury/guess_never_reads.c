/* Asks once, then waits forever without reading the answer: the interactor waits for
 * the next query, so only the program's wall limit ends the test (TL). */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
        printf("? 500000000\n");
        fflush(stdout);
        for (;;)
                pause();
}
