#include <stdlib.h>
#include <string.h>

int main(void)
{
        /* 1 MiB blocks, each written, never freed: far more than the limit */
        for (int i = 0; i < 4096; i++) {
                char *p = malloc(1 << 20);
                if (!p)
                        return 2;
                memset(p, i, 1 << 20);
        }
        return 0;
}
