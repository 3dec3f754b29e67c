/* Asks once and leaves without reading the answer: the interactor's answer meets a
 * closed pipe (SIGPIPE) or its next read meets end of file; WA either way. */
#include <stdio.h>

int main(void)
{
        printf("? 3\n");
        return 0;
}
