#include <stdio.h>

#include "commands.h"

int jr_cmd_exec(int argc, char **argv)
{
        fprintf(stderr, "jailrun exec: not yet\n");
        return 2;
}
