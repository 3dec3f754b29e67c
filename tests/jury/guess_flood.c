/* Floods the interactor with queries and never reads an answer. The interactor gives up
 * after 32 queries (WA) and exits; the next write here dies of SIGPIPE, and the verdict
 * is the interactor's. */
#include <stdio.h>

int main(void)
{
        for (;;)
                printf("? 1\n");
}
