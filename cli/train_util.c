/* Flag parsing and progress reporting for the offline front-ends. */
#include "cli/train_util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_blas_deterministic(void) { openblas_set_num_threads(1); }

static int parse_value(const char *cmd, const cli_flag *f, const char *v)
{
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case FLAG_STR:
        *(const char **)f->dst = v;
        return 0;
    case FLAG_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < -2147483647L || x > 2147483647L)
            break;
        *(int *)f->dst = (int)x;
        return 0;
    }
    case FLAG_I64: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end)
            break;
        *(int64_t *)f->dst = (int64_t)x;
        return 0;
    }
    case FLAG_U64: {
        if (v[0] == '-')
            break;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end)
            break;
        *(uint64_t *)f->dst = (uint64_t)x;
        return 0;
    }
    case FLAG_DOUBLE: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x))
            break;
        *(double *)f->dst = x;
        return 0;
    }
    case FLAG_BOOL:
        return 0;
    }
    fprintf(stderr, "microrm %s: %s '%s': expected %s\n", cmd, f->name, v,
            f->type == FLAG_DOUBLE ? "a finite number" : f->type == FLAG_U64 ? "a non-negative integer" : "an integer");
    return 2;
}

int cli_parse(const char *cmd, int argc, char **argv, const cli_flag *flags, int n_flags, void (*usage)(FILE *out))
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        }
        const cli_flag *f = NULL;
        const char *inline_v = NULL;
        for (int j = 0; j < n_flags && !f; j++) {
            size_t len = strlen(flags[j].name);
            if (!strncmp(a, flags[j].name, len) && (a[len] == 0 || a[len] == '=')) {
                f = &flags[j];
                if (a[len] == '=')
                    inline_v = a + len + 1;
            }
        }
        if (!f) {
            fprintf(stderr, "microrm %s: unknown %s '%s'\n", cmd, a[0] == '-' ? "option" : "argument", a);
            usage(stderr);
            return 2;
        }
        if (f->type == FLAG_BOOL) {
            *(int *)f->dst = 1;
            continue;
        }
        if (!inline_v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "microrm %s: %s needs a value\n", cmd, f->name);
                return 2;
            }
            inline_v = argv[++i];
        }
        if (parse_value(cmd, f, inline_v))
            return 2;
    }
    return 0;
}

void cli_progress_init(cli_progress *p, const char *what, int quiet)
{
    memset(p, 0, sizeof *p);
    p->what = what;
    p->tty = isatty(STDERR_FILENO);
    p->t0 = p->last = cli_now();
    p->quiet = quiet;
}

static void fmt_eta(double s, char *buf, size_t len)
{
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, len, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

void cli_progress_cb(void *ud, const mr_train_status *st)
{
    cli_progress *p = ud;
    if (p->quiet)
        return;
    double now = cli_now();
    /* a terminal gets ~10 updates a second, a log one line per 5 s and per epoch */
    if (!st->epoch_done && now - p->last < (p->tty ? 0.1 : 5.0))
        return;
    p->last = now;
    double el = now - p->t0;
    double rate = el > 0 ? (double)st->pairs / el : 0;
    double eta = st->step > 0 ? el * (double)(st->steps - st->step) / (double)st->step : -1;
    char etab[32];
    fmt_eta(eta, etab, sizeof etab);
    fprintf(stderr, "%s%s epoch %d/%d step %" PRId64 "/%" PRId64 " loss %.4f lr %.2e %.0f pairs/s ETA %s%s",
            p->tty ? "\r" : "", p->what, st->epoch, st->epochs, st->step, st->steps, st->loss, st->lr, rate, etab,
            p->tty ? (st->epoch_done ? "\033[K\n" : "\033[K") : "\n");
    fflush(stderr);
}
