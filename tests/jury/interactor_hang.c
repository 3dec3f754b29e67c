/* A broken interactor: reads nothing and never ends. The program waits for the first
 * answer until its wall limit; the interactor is killed at its own (the program's wall
 * plus a margin), and the verdict is IE: "interactor failed: time limit". */
int main(void)
{
        for (volatile unsigned long i = 0;; i++)
                ;
}
