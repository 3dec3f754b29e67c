/* Crashes in the middle of the game: the program's own RE comes first. */
#include <stdio.h>

int main(void)
{
        char r[4];
        printf("? 2\n");
        fflush(stdout);
        if (scanf("%3s", r) != 1)
                return 1;
        fprintf(stderr, "answer %s, crashing\n", r);
        *(volatile int *)0 = 1;
        return 0;
}
