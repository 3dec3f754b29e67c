/* Ends before asking anything: the interactor reads end of file (WA). */
int main(void)
{
        return 0;
}
