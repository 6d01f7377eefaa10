/* The subcommands of the one `microrm` binary. Each takes the arguments after
 * its name (argv[0] is the subcommand) and returns the exit status:
 * 0 success, 2 usage or input error, 1 any other failure. */
#ifndef MICRORM_CLI_COMMANDS_H
#define MICRORM_CLI_COMMANDS_H

int cmd_serve(int argc, char **argv, char **envp);
int cmd_inspect(int argc, char **argv);
int cmd_demo_model(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_adapt(int argc, char **argv);
int cmd_eval(int argc, char **argv);

#endif
