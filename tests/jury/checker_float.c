/* A testlib-style checker: `checker input output answer`. Every number of the answer must
 * be matched by the output's number at the same place within 1e-6, absolute or relative;
 * exit 0 OK, 1 wrong answer, 2 presentation error (not a number), 3 the checker's own
 * failure. Messages on stderr, as testlib writes them. */
#include <math.h>
#include <stdio.h>

int main(int argc, char **argv)
{
        if (argc < 4) {
                fprintf(stderr, "fail: usage: checker input output answer\n");
                return 3;
        }
        FILE *out = fopen(argv[2], "r"), *ans = fopen(argv[3], "r");
        if (!out || !ans) {
                perror("fail: open");
                return 3;
        }
        int n = 0;
        for (;;) {
                double want, got;
                int ra = fscanf(ans, "%lf", &want);
                int ro = fscanf(out, "%lf", &got);
                if (ra != 1) {
                        if (ro == 1) {
                                fprintf(stderr, "wrong answer: extra output after %d numbers\n", n);
                                return 1;
                        }
                        break;
                }
                if (ro != 1) {
                        fprintf(stderr, "%s after %d numbers\n",
                                ro == EOF ? "wrong answer: the output ends"
                                          : "presentation error: not a number",
                                n);
                        return ro == EOF ? 1 : 2;
                }
                n++;
                if (!(fabs(got - want) <= 1e-6 * fmax(1.0, fabs(want)))) {
                        fprintf(stderr, "wrong answer: number %d is %.10g, expected %.10g\n", n,
                                got, want);
                        return 1;
                }
        }
        fprintf(stderr, "ok: %d numbers within 1e-6\n", n);
        return 0;
}
