/* A broken interactor that spins without reading or writing: killed at its CPU or its
 * wall limit (they are equal; which one comes first depends on the machine's load), and
 * the verdict is IE: "interactor failed: time limit". */
int main(void)
{
        for (volatile unsigned long i = 0;; i++)
                ;
}
