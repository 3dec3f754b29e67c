/* readtwice FILE [MORE...]: a long-running reader of its own tree, for the rootfs swap
 * test. Prints "before FILE=CONTENT" for the first file, waits for a byte on stdin (the
 * test swaps the tree meanwhile), then "after F=CONTENT" for every file, the first one
 * again included, and "end=1". CONTENT is the file's first line, or "!ERROR". */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void show(const char *phase, const char *path)
{
        char line[256] = "";
        FILE *f = fopen(path, "re");
        if (!f) {
                printf("%s %s=!%s\n", phase, path, strerror(errno));
                return;
        }
        if (!fgets(line, sizeof line, f))
                line[0] = '\0';
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        printf("%s %s=%s\n", phase, path, line);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: readtwice FILE [MORE...]\n");
                return 2;
        }
        show("before", argv[1]);
        fflush(stdout);
        char c;
        if (read(0, &c, 1) != 1) {
                perror("read stdin");
                return 1;
        }
        for (int i = 1; i < argc; i++)
                show("after", argv[i]);
        printf("end=1\n");
        return 0;
}
