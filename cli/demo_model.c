/* placeholder: being written */
#include <stdio.h>
#include "cli/commands.h"

int cmd_demo_model(int argc, char **argv)
{
    fprintf(stderr, "not implemented yet\n");
    return 1;
}
