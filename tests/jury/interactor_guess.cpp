// A testlib-style interactor: `interactor input output`, the program on stdin/stdout.
// The program guesses the number of the input file (1..1000000000) with queries "? N";
// the answer is "+" (the number is larger), "-" (smaller) or "=" (found). At most 32
// queries. Exit 0 OK, 1 wrong answer, 2 presentation error, 3 the interactor's failure;
// the number of queries goes to the output file.
#include <cstdio>
#include <cstring>

int main(int argc, char **argv)
{
        if (argc < 3) {
                std::fprintf(stderr, "fail: usage: interactor input output\n");
                return 3;
        }
        std::FILE *in = std::fopen(argv[1], "r"), *tout = std::fopen(argv[2], "w");
        long long secret;
        if (!in || !tout || std::fscanf(in, "%lld", &secret) != 1) {
                std::fprintf(stderr, "fail: cannot read the input\n");
                return 3;
        }
        for (int q = 1; q <= 32; q++) {
                char op[8];
                long long g;
                int r = std::scanf("%7s %lld", op, &g);
                if (r == EOF) {
                        std::fprintf(stderr, "wrong answer: the program ended after %d queries\n",
                                     q - 1);
                        return 1;
                }
                if (r != 2 || std::strcmp(op, "?") != 0) {
                        std::fprintf(stderr, "presentation error: query %d is not \"? N\"\n", q);
                        return 2;
                }
                if (g == secret) {
                        std::printf("=\n");
                        std::fflush(stdout);
                        std::fprintf(tout, "%d\n", q);
                        std::fprintf(stderr, "ok: found %lld in %d queries\n", secret, q);
                        return 0;
                }
                std::printf(g < secret ? "+\n" : "-\n");
                std::fflush(stdout);
        }
        std::fprintf(stderr, "wrong answer: not found in 32 queries\n");
        return 1;
}
