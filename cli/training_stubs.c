/* placeholder for the offline subcommands until cli/synth.c, train.c, adapt.c, eval.c land */
#include <stdio.h>
#include "cli/commands.h"

int cmd_synth(int argc, char **argv) { fprintf(stderr, "not implemented yet\n"); return 1; }
int cmd_train(int argc, char **argv) { fprintf(stderr, "not implemented yet\n"); return 1; }
int cmd_adapt(int argc, char **argv) { fprintf(stderr, "not implemented yet\n"); return 1; }
int cmd_eval(int argc, char **argv) { fprintf(stderr, "not implemented yet\n"); return 1; }
