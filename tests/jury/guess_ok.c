/* The guessing game, solved: binary search over 1..1000000000. */
#include <stdio.h>

int main(void)
{
        long long lo = 1, hi = 1000000000;
        while (lo <= hi) {
                long long mid = lo + (hi - lo) / 2;
                printf("? %lld\n", mid);
                fflush(stdout);
                char r[4];
                if (scanf("%3s", r) != 1)
                        return 1;
                if (r[0] == '=')
                        return 0;
                if (r[0] == '+')
                        lo = mid + 1;
                else
                        hi = mid - 1;
        }
        return 0;
}
