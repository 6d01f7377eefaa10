/* microrm's settings. One table (config/config.c) names every key with its
 * type, default, bounds and help; it drives defaults < config file <
 * environment (MICRORM_<KEY>) < --key value flags, `serve --help` and
 * `--print-config`. Field names are the key names. */
#ifndef MICRORM_CONFIG_CONFIG_H
#define MICRORM_CONFIG_CONFIG_H

#include <stdio.h>

#include "core/error.h"

typedef struct {
    char *host;                 /* 127.0.0.1 */
    int port;                   /* 8080 */
    char *model;                /* path; default: the demo model */
    char *score_mode;           /* linear | logsigmoid ("" = the model's own) */
    char *mask_heads;           /* comma list of indices or names */
    char *auth_token;           /* "" = no auth */
    long max_body_bytes;        /* 8 MiB */
    int max_responses;          /* 256 */
    int max_batch;              /* 256 */
    int max_pairs;              /* 1024 */
    int max_connections;        /* 1024 */
    int max_connections_per_ip; /* 0 = no limit */
    int max_in_flight;          /* 512 */
    int connection_timeout_ms;  /* 30000 */
    int io_threads;             /* 0 = number of cores */
    int threads;                /* 0 = number of cores */
    long offload_bytes;         /* 256 KiB */
    char *adapt;                /* hedge | router */
    double eta;                 /* hedge learning rate, 0.5 */
    double gamma;               /* fixed-share mixing, 0.0 */
    double lr;                  /* router-mode SGD rate, 0.1 */
    int epochs;                 /* router-mode steps per feedback, 1 */
    int buffer;                 /* router-mode ring size, 32 */
    double tau;                 /* Hedge temperature, 1e-3... as DESIGN §3 */
    char *store;                /* lmdb | memory | redis://host:port[/db] */
    char *state_dir;            /* ./var */
    long lmdb_map_size;         /* 8 GiB */
    char *durability;           /* strict | relaxed */
    int sync_interval_ms;       /* 100 */
    int user_cache;             /* 100000 users */
    int redis_cache_ms;         /* 1000: how long a state read from Redis is trusted */
    int event_ttl;              /* seconds, 600 */
    long event_memory;          /* bytes, 256 MiB */
    int drain_timeout_ms;       /* 10000 */
    char *log_level;            /* error | warn | info | debug */
} mr_config;

/* Fill every field with its default (strings are malloc'd). */
int mr_config_defaults(mr_config *c, mr_error *e);

/* Apply, in order: --config FILE (or MICRORM_CONFIG), the environment
 * (MICRORM_<KEY>, upper case), then --key value / --key=value flags in argv.
 * Sets *want_help / *want_print when --help / --print-config is given.
 * Errors say which key, which source (file:line, env var, flag) and why. */
int mr_config_load(mr_config *c, int argc, char **argv, char **envp,
                   int *want_help, int *want_print, mr_error *e);

/* Set one key from text (source names where it came from, for messages). */
int mr_config_set(mr_config *c, const char *key, const char *value, const char *source, mr_error *e);

/* Parse a config file's text (`key value` lines, '#' comments, blank lines). */
int mr_config_parse_text(mr_config *c, const char *text, size_t len, const char *source_name, mr_error *e);

void mr_config_print_help(FILE *out);     /* every key: name, type, default, bounds, help */
void mr_config_print(const mr_config *c, FILE *out);  /* effective values as a config file */
void mr_config_free(mr_config *c);

/* Added with the table (config/config.c):
 * mr_config_load applies on top of what *c holds: call mr_config_defaults
 * first. On failure *c stays valid (some keys may be applied); free it. */
const char *mr_config_key(size_t i);   /* i-th key of the table, NULL past the end */
/* One value as text ("8080", "0.001", "models/demo.safetensors"); -1 for an unknown key or a short buffer. */
int mr_config_format(const mr_config *c, const char *key, char *buf, size_t n);
int mr_config_equal(const mr_config *a, const mr_config *b);   /* 1 when every key has the same value */

#endif
