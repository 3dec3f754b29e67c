#include "bytes.h"

#include <errno.h>
#include <stdint.h>
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

int jr_grow(void *array, size_t *cap, size_t need, size_t size, size_t first)
{
        if (need <= *cap)
                return 0;
        size_t n = *cap ? *cap : first;
        while (n < need) {
                if (n > SIZE_MAX / 2)
                        goto nomem;
                n *= 2;
        }
        if (n > SIZE_MAX / size)
                goto nomem;
        /* through memcpy: array is a T **, which a void ** may not alias */
        void *old;
        memcpy(&old, array, sizeof old);
        void *grown = realloc(old, n * size);
        if (!grown)
                return -1;
        memcpy(array, &grown, sizeof grown);
        *cap = n;
        return 0;
nomem:
        errno = ENOMEM;
        return -1;
}
