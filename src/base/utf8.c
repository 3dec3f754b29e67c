#include "utf8.h"

size_t jr_utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
        unsigned char c = s[0];
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf) {
                need = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
                need = 3;
                if (c == 0xe0)
                        lo = 0xa0; /* overlong */
                else if (c == 0xed)
                        hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
                need = 4;
                if (c == 0xf0)
                        lo = 0x90; /* overlong */
                else if (c == 0xf4)
                        hi = 0x8f; /* above U+10FFFF */
        } else {
                if (bad)
                        *bad = 1;
                return 0;
        }
        size_t i = 1;
        for (; i < need && i < n; i++) {
                unsigned char lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xbf;
                if (s[i] < lo_i || s[i] > hi_i)
                        break;
        }
        if (i == need)
                return need;
        if (bad)
                *bad = i;
        return 0;
}
