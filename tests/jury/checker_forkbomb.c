/* A checker that never ends: a fork bomb. Its pids and CPU limits hold it; the test is
 * IE "checker failed: time limit", never the contestant's fault. */
#include <unistd.h>

int main(void)
{
        for (;;)
                fork();
}
