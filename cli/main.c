/* microrm: one binary, subcommands dispatched from a table. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

extern char **environ;

static int run_serve(int argc, char **argv) { return cmd_serve(argc, argv, environ); }

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"serve",      run_serve,      "serve the model over HTTP (default)"},
    {"inspect",    cmd_inspect,    "print a model's summary"},
    {"synth",      cmd_synth,      "make synthetic preference datasets"},
    {"train",      cmd_train,      "stage 1: train the mixture of reward heads and the router"},
    {"adapt",      cmd_adapt,      "stage 2: fit the router on context examples"},
    {"eval",       cmd_eval,       "accuracy per attribute for every head and the routed mixture"},
    {"demo-model", cmd_demo_model, "write the small demo model reproducibly"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: microrm <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\n`microrm <command> --help` describes each. With no command, microrm serves.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ) {
            usage(stdout);
            return 0;
        }
        /* `microrm --port 9000` is `microrm serve --port 9000` */
        argv[0] = "serve";
        return run_serve(argc, argv);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "microrm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
