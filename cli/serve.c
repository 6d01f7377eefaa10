/* placeholder */
#include <stdio.h>
#include "cli/commands.h"

int cmd_serve(int argc, char **argv, char **envp)
{
    fprintf(stderr, "not implemented yet\n");
    return 1;
}
