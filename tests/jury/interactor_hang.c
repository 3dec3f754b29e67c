/* A broken interactor: reads nothing, writes nothing and never ends. The program waits for
 * the first answer until its wall limit; the interactor, asleep, uses no CPU and is killed
 * at its own wall limit (the program's plus a margin): the verdict is IE, "interactor
 * failed: time limit (wall time)". (A busy loop would race its CPU limit, equal to the
 * wall limit, and the cause named would depend on the machine's load.) */
#include <unistd.h>

int main(void)
{
        for (;;)
                sleep(1000);
}
