/* Shared pieces of the offline front-ends (synth, train, adapt, eval): a
 * table-driven flag parser with messages that name the flag, and the progress
 * line on stderr (rewritten with '\r' on a terminal, plain lines otherwise). */
#ifndef MICRORM_CLI_TRAIN_UTIL_H
#define MICRORM_CLI_TRAIN_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "core/train.h"

typedef enum { FLAG_STR, FLAG_INT, FLAG_I64, FLAG_U64, FLAG_DOUBLE, FLAG_BOOL } flag_type;

typedef struct {
    const char *name;   /* "--data" */
    flag_type type;
    void *dst;          /* const char **, int *, int64_t *, uint64_t *, double *, int * */
} cli_flag;

/* Parse argv[1..argc) into the table. Returns 0, 1 after printing help
 * (the caller exits 0), or 2 after printing a message naming `cmd`. */
int cli_parse(const char *cmd, int argc, char **argv, const cli_flag *flags, int n_flags,
              void (*usage)(FILE *out));

typedef struct {
    const char *what;   /* "train" / "adapt" */
    int tty;
    double t0, last;
    int64_t total_pairs;  /* for the ETA */
    int quiet;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *what, int quiet);
void cli_progress_cb(void *ud, const mr_train_status *st);   /* an mr_progress_fn */

double cli_now(void);

/* Single-threaded BLAS: the same seed then gives the same bytes. */
void cli_blas_deterministic(void);

#endif
