#include "bytes.h"

#include <stdlib.h>

char *jr_memdup(const void *p, size_t n)
{
        char *d = malloc(n + 1);
        if (!d)
                return NULL;
        if (n)
                memcpy(d, p, n);
        d[n] = '\0';
        return d;
}
