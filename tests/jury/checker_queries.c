/* A checker after an interactor (testlib, Polygon): its output file is the interactor's
 * (the number of queries); the answer file holds the most queries allowed. */
#include <stdio.h>

int main(int argc, char **argv)
{
        if (argc < 4)
                return 3;
        FILE *out = fopen(argv[2], "r"), *ans = fopen(argv[3], "r");
        int q, most;
        if (!out || !ans || fscanf(ans, "%d", &most) != 1) {
                fprintf(stderr, "fail: cannot read the files\n");
                return 3;
        }
        if (fscanf(out, "%d", &q) != 1) {
                fprintf(stderr, "wrong answer: the interactor wrote no query count\n");
                return 1;
        }
        fprintf(stderr, "%d queries, at most %d allowed\n", q, most);
        return q <= most ? 0 : 1;
}
