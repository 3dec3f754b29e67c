/* A checker that crashes: IE "checker failed: signal 11". */
int main(void)
{
        *(volatile int *)0 = 1;
        return 0;
}
