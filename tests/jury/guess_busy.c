/* Computes forever instead of asking: the program's own TL (CPU time). */
int main(void)
{
        for (volatile unsigned long i = 0;; i++)
                ;
}
