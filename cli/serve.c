/* `microrm serve`: read the configuration, then hand over to the server. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "config/config.h"
#include "server/log.h"
#include "server/server.h"

int cmd_serve(int argc, char **argv, char **envp)
{
    mr_config cfg;
    mr_error e = {{0}};
    int want_help = 0, want_print = 0;
    if (mr_config_defaults(&cfg, &e) != 0) {
        fprintf(stderr, "microrm: %s\n", e.msg);
        return 1;
    }
    if (mr_config_load(&cfg, argc, argv, envp, &want_help, &want_print, &e) != 0) {
        fprintf(stderr, "microrm serve: %s\n", e.msg);
        mr_config_free(&cfg);
        return 2;
    }
    int status = 0;
    if (want_help) {
        printf("usage: microrm serve [--config FILE] [--key value ...] [--print-config]\n\n"
               "Every key can also be set as MICRORM_<KEY> in the environment or as\n"
               "`key value` in the config file; flags win over the environment, which\n"
               "wins over the file.\n\n");
        mr_config_print_help(stdout);
    } else if (want_print) {
        mr_config_print(&cfg, stdout);
    } else if (log_set_level(cfg.log_level) != 0) {
        fprintf(stderr, "microrm serve: log_level '%s': expected error, warn, info or debug\n", cfg.log_level);
        status = 2;
    } else {
        status = server_run(&cfg);
    }
    mr_config_free(&cfg);
    return status;
}
