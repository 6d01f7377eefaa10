/* microrm's settings, driven by one table (as Redis's config.c): each key's
 * type, field, default, bounds, choices and help live in `entries` below, and
 * every operation (defaults, parsing from file / environment / flags, help,
 * printing, comparison) walks that table. Defaults are written as text and go
 * through the same parser as user input, so a default can never escape its
 * own bounds. No global mutable state: everything works on a caller's struct. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    CFG_STRING, /* free text; min/max bound its length */
    CFG_INT,    /* int, decimal */
    CFG_SIZE,   /* long, decimal with an optional K/M/G (binary) suffix */
    CFG_DOUBLE, /* finite double */
    CFG_ENUM,   /* string from `choices` ("a|b|c"; "x*" matches prefix x) */
} cfg_type;

enum { CFG_MIN_EXCLUSIVE = 1 }; /* a double that must be > min, not >= */

typedef struct {
    const char *name;
    cfg_type type;
    size_t offset;
    const char *def;
    double min, max;
    unsigned flags;
    const char *choices;
    const char *help;
} cfg_entry;

#define F(field) offsetof(mr_config, field)
#define MiB (1024.0 * 1024.0)

static const cfg_entry entries[] = {
    /* listening */
    {"host", CFG_STRING, F(host), "127.0.0.1", 1, 255, 0, NULL,
     "address to listen on (0.0.0.0 for every interface)"},
    {"port", CFG_INT, F(port), "8080", 0, 65535, 0, NULL,
     "TCP port to listen on (0 picks a free port; the log says which)"},
    /* the model */
    {"model", CFG_STRING, F(model), "models/demo.safetensors", 1, 4096, 0, NULL,
     "model: a safetensors file, or a directory / index file of a sharded checkpoint"},
    {"score_mode", CFG_ENUM, F(score_mode), "", 0, 0, 0, "|linear|logsigmoid",
     "scalar reward: linear = sum_k pi_k r_k, logsigmoid = sum_k pi_k log sigmoid(r_k); "
     "\"\" = the model's own (its metadata, else linear)"},
    {"mask_heads", CFG_STRING, F(mask_heads), "", 0, 4096, 0, NULL,
     "heads given zero weight: comma list of indices or names (\"\" = none)"},
    /* requests */
    {"auth_token", CFG_STRING, F(auth_token), "", 0, 4096, 0, NULL,
     "bearer token required on the API (\"\" = no authentication; probes and /metrics stay open)"},
    {"max_body_bytes", CFG_SIZE, F(max_body_bytes), "8MiB", 1024, 1024.0 * MiB, 0, NULL,
     "largest request body accepted (413 above); K/M/G suffixes are powers of 1024"},
    {"max_responses", CFG_INT, F(max_responses), "256", 1, 65536, 0, NULL,
     "most responses in one /score request"},
    {"max_batch", CFG_INT, F(max_batch), "256", 1, 65536, 0, NULL,
     "most requests in one {\"batch\": [...]}"},
    {"max_pairs", CFG_INT, F(max_pairs), "1024", 0, 1048576, 0, NULL,
     "most pairs in one /score request"},
    /* connections and threads */
    {"max_connections", CFG_INT, F(max_connections), "1024", 1, 65536, 0, NULL,
     "most simultaneous HTTP connections"},
    {"max_connections_per_ip", CFG_INT, F(max_connections_per_ip), "0", 0, 65536, 0, NULL,
     "most simultaneous connections from one client address (0 = no limit beyond max_connections)"},
    {"max_in_flight", CFG_INT, F(max_in_flight), "512", 1, 1048576, 0, NULL,
     "most API requests being processed at once (including updates waiting for their commit); "
     "beyond it the server answers 503 with Retry-After instead of queueing (probes are exempt)"},
    {"connection_timeout_ms", CFG_INT, F(connection_timeout_ms), "30000", 0, 86400000, 0, NULL,
     "idle connection timeout in milliseconds (0 = never)"},
    {"io_threads", CFG_INT, F(io_threads), "0", 0, 64, 0, NULL,
     "HTTP polling threads that read requests, parse and score those up to offload_bytes, "
     "and write answers (0 = number of cores)"},
    {"threads", CFG_INT, F(threads), "0", 0, 1024, 0, NULL,
     "worker threads that parse and score requests with a body over offload_bytes (0 = number of cores)"},
    {"offload_bytes", CFG_SIZE, F(offload_bytes), "256KiB", 0, 1024.0 * MiB, 0, NULL,
     "requests with a larger body are parsed and scored on the workers, so that a big batch does not "
     "hold up the other connections of its polling thread (0 = every request with a body)"},
    /* online adaptation */
    {"adapt", CFG_ENUM, F(adapt), "hedge", 0, 0, 0, "hedge|router",
     "per-user adaptation: hedge = K log-weights on the population router, "
     "router = a per-user copy of the router's output layer"},
    {"eta", CFG_DOUBLE, F(eta), "0.5", 0, 1000, CFG_MIN_EXCLUSIVE, NULL,
     "hedge: learning rate of beta <- beta - eta * L"},
    {"gamma", CFG_DOUBLE, F(gamma), "0", 0, 1, 0, NULL,
     "hedge: fixed-share mixing toward uniform after each update (0 = none)"},
    {"lr", CFG_DOUBLE, F(lr), "0.1", 0, 1000, CFG_MIN_EXCLUSIVE, NULL,
     "router: SGD learning rate"},
    {"epochs", CFG_INT, F(epochs), "1", 1, 1000, 0, NULL,
     "router: SGD steps per feedback"},
    {"buffer", CFG_INT, F(buffer), "32", 1, 65536, 0, NULL,
     "router: examples kept in each user's ring"},
    {"tau", CFG_DOUBLE, F(tau), "1e-3", 0, 1e6, CFG_MIN_EXCLUSIVE, NULL,
     "router: Hedge temperature of the target omega_k ~ pi_k exp(-L_k / tau)"},
    /* user state */
    {"store", CFG_ENUM, F(store), "lmdb", 0, 0, 0, "lmdb|memory|redis://*",
     "where user states live: lmdb (embedded, in state_dir), memory (lost on exit), "
     "or redis://host:port[/db] (shared by replicas)"},
    {"state_dir", CFG_STRING, F(state_dir), "./var", 1, 4096, 0, NULL,
     "directory of the embedded store"},
    {"lmdb_map_size", CFG_SIZE, F(lmdb_map_size), "8GiB", 64 * 1024, 1024.0 * 1024 * MiB, 0, NULL,
     "largest size of the embedded store (address space reserved, not disk used); "
     "updates answer 503 once it is full, until users are deleted or it is raised"},
    {"durability", CFG_ENUM, F(durability), "strict", 0, 0, 0, "strict|relaxed",
     "strict = feedback acknowledged after fsync (group-committed); "
     "relaxed = acknowledged once written, synced every sync_interval_ms"},
    {"sync_interval_ms", CFG_INT, F(sync_interval_ms), "100", 1, 3600000, 0, NULL,
     "relaxed durability: milliseconds between syncs"},
    {"user_cache", CFG_INT, F(user_cache), "100000", 1, 100000000, 0, NULL,
     "user states kept in memory"},
    {"redis_cache_ms", CFG_INT, F(redis_cache_ms), "1000", 0, 3600000, 0, NULL,
     "redis store: milliseconds a cached user state is trusted before it is read again "
     "(the staleness bound of /score across replicas; 0 = read on every use)"},
    {"event_ttl", CFG_INT, F(event_ttl), "600", 1, 604800, 0, NULL,
     "seconds a /score event waits for its feedback"},
    {"event_memory", CFG_SIZE, F(event_memory), "256MiB", 64 * 1024, 64 * 1024 * MiB, 0, NULL,
     "memory bound of the kept events (the oldest go first)"},
    /* lifecycle */
    {"drain_timeout_ms", CFG_INT, F(drain_timeout_ms), "10000", 0, 3600000, 0, NULL,
     "on SIGTERM, milliseconds to let requests in flight finish"},
    {"log_level", CFG_ENUM, F(log_level), "info", 0, 0, 0, "error|warn|info|debug",
     "least severe log line written"},
};

#define N_ENTRIES (sizeof entries / sizeof entries[0])

/* ---- table access ---- */

static const cfg_entry *find_entry(const char *key)
{
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (!strcmp(entries[i].name, key))
            return &entries[i];
    return NULL;
}

const char *mr_config_key(size_t i)
{
    return i < N_ENTRIES ? entries[i].name : NULL;
}

static void *field(mr_config *c, const cfg_entry *en) { return (char *)c + en->offset; }
static const void *cfield(const mr_config *c, const cfg_entry *en) { return (const char *)c + en->offset; }

/* Edit distance, small keys only: for "did you mean" hints. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The key nearest to a mistyped one, or NULL when none is close. */
static const char *suggest(const char *key)
{
    const char *hint = NULL;
    size_t best = 3;
    for (size_t i = 0; i < N_ENTRIES; i++) {
        size_t dd = distance(key, entries[i].name);
        if (dd < best) {
            best = dd;
            hint = entries[i].name;
        }
    }
    return hint;
}

static int unknown_key(const char *key, const char *source, mr_error *e)
{
    const char *hint = suggest(key);
    return mr_errorf(e, "%s%sunknown key '%s'%s%s%s", source ? source : "", source ? ": " : "",
                     key, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
}

/* ---- parsing one value ---- */

/* "port: 70000 is out of range [0, 65535] (from MICRORM_PORT)" */
static int value_error(const cfg_entry *en, const char *source, mr_error *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int value_error(const cfg_entry *en, const char *source, mr_error *e, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (source)
        return mr_errorf(e, "%s: %s (from %s)", en->name, what, source);
    return mr_errorf(e, "%s: %s", en->name, what);
}

static int parse_integer(const cfg_entry *en, const char *v, const char *source,
                         long long *out, mr_error *e)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || isspace((unsigned char)*v))
        return value_error(en, source, e, "'%s' is not an integer", v);
    int overflow = errno == ERANGE;
    if (en->type == CFG_SIZE && *end) {
        static const struct { const char *suffix; long long mul; } units[] = {
            {"k", 1LL << 10}, {"kb", 1LL << 10}, {"kib", 1LL << 10},
            {"m", 1LL << 20}, {"mb", 1LL << 20}, {"mib", 1LL << 20},
            {"g", 1LL << 30}, {"gb", 1LL << 30}, {"gib", 1LL << 30},
        };
        size_t u = 0;
        for (; u < sizeof units / sizeof units[0]; u++)
            if (!strcasecmp(end, units[u].suffix))
                break;
        if (u == sizeof units / sizeof units[0])
            return value_error(en, source, e, "'%s' is not a size (an integer with an optional K, M or G suffix)", v);
        if (x > LLONG_MAX / units[u].mul || x < LLONG_MIN / units[u].mul)
            overflow = 1;
        else
            x *= units[u].mul;
        end += strlen(end);
    }
    if (*end)
        return value_error(en, source, e, "'%s' is not an integer", v);
    if (overflow || (double)x < en->min || (double)x > en->max)
        return value_error(en, source, e, "%s is out of range [%.0f, %.0f]", v, en->min, en->max);
    *out = x;
    return 0;
}

static int enum_allows(const cfg_entry *en, const char *v)
{
    const char *p = en->choices;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n > 0 && p[n - 1] == '*') {
            /* a prefix choice needs something after the prefix */
            if (strlen(v) > n - 1 && !strncmp(v, p, n - 1))
                return 1;
        } else if (strlen(v) == n && !strncmp(v, p, n)) {
            return 1;
        }
        if (!bar)
            return 0;
        p = bar + 1;
    }
}

/* The choices as a reader sees them: "", linear, logsigmoid. */
static void describe_choices(const cfg_entry *en, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const char *p = en->choices;;) {
        const char *bar = strchr(p, '|');
        int len = bar ? (int)(bar - p) : (int)strlen(p);
        int prefix = len > 0 && p[len - 1] == '*';
        int w = snprintf(buf + used, n - used, "%s%s%.*s%s", used ? ", " : "", len ? "" : "\"\"",
                         len - prefix, p, prefix ? "..." : "");
        if (w < 0 || (size_t)w >= n - used)
            return;
        used += (size_t)w;
        if (!bar)
            return;
        p = bar + 1;
    }
}

int mr_config_set(mr_config *c, const char *key, const char *value, const char *source, mr_error *e)
{
    const cfg_entry *en = find_entry(key);
    if (!en)
        return unknown_key(key, source, e);
    if (!value)
        return value_error(en, source, e, "missing value");

    switch (en->type) {
    case CFG_STRING:
    case CFG_ENUM: {
        size_t len = strlen(value);
        if (en->type == CFG_STRING && ((double)len < en->min || (double)len > en->max)) {
            if (en->min > 0 && len == 0)
                return value_error(en, source, e, "must not be empty");
            return value_error(en, source, e, "is %zu characters long, the limit is %.0f", len, en->max);
        }
        if (en->type == CFG_ENUM && !enum_allows(en, value)) {
            char choices[256];
            describe_choices(en, choices, sizeof choices);
            return value_error(en, source, e, "'%s' is not one of %s", value, choices);
        }
        char *copy = strdup(value);
        if (!copy)
            return value_error(en, source, e, "out of memory");
        char **slot = field(c, en);
        free(*slot);
        *slot = copy;
        return 0;
    }
    case CFG_INT:
    case CFG_SIZE: {
        long long x = 0;
        if (parse_integer(en, value, source, &x, e))
            return -1;
        if (en->type == CFG_INT)
            *(int *)field(c, en) = (int)x;
        else
            *(long *)field(c, en) = (long)x;
        return 0;
    }
    case CFG_DOUBLE: {
        char *end;
        errno = 0;
        double x = strtod(value, &end);
        if (end == value || *end || isspace((unsigned char)*value))
            return value_error(en, source, e, "'%s' is not a number", value);
        if (!isfinite(x))
            return value_error(en, source, e, "'%s' is not a finite number", value);
        int below = (en->flags & CFG_MIN_EXCLUSIVE) ? x <= en->min : x < en->min;
        if (below || x > en->max)
            return value_error(en, source, e, "%s is out of range %s%g, %g]", value,
                               (en->flags & CFG_MIN_EXCLUSIVE) ? "(" : "[", en->min, en->max);
        *(double *)field(c, en) = x;
        return 0;
    }
    }
    return value_error(en, source, e, "internal error: unknown type");
}

/* ---- defaults, free, compare ---- */

void mr_config_free(mr_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (entries[i].type == CFG_STRING || entries[i].type == CFG_ENUM) {
            char **slot = field(c, &entries[i]);
            free(*slot);
            *slot = NULL;
        }
}

int mr_config_defaults(mr_config *c, mr_error *e)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (mr_config_set(c, entries[i].name, entries[i].def, "the built-in defaults", e)) {
            mr_config_free(c);
            return -1;
        }
    return 0;
}

int mr_config_equal(const mr_config *a, const mr_config *b)
{
    for (size_t i = 0; i < N_ENTRIES; i++) {
        const cfg_entry *en = &entries[i];
        const void *x = cfield(a, en), *y = cfield(b, en);
        switch (en->type) {
        case CFG_STRING:
        case CFG_ENUM: {
            const char *s = *(char *const *)x, *t = *(char *const *)y;
            if ((s == NULL) != (t == NULL) || (s && strcmp(s, t)))
                return 0;
            break;
        }
        case CFG_INT:
            if (*(const int *)x != *(const int *)y) return 0;
            break;
        case CFG_SIZE:
            if (*(const long *)x != *(const long *)y) return 0;
            break;
        case CFG_DOUBLE:
            if (*(const double *)x != *(const double *)y) return 0;
            break;
        }
    }
    return 1;
}

/* ---- text form of a value ---- */

int mr_config_format(const mr_config *c, const char *key, char *buf, size_t n)
{
    const cfg_entry *en = find_entry(key);
    if (!en || !buf || n == 0)
        return -1;
    const void *x = cfield(c, en);
    int w = -1;
    switch (en->type) {
    case CFG_STRING:
    case CFG_ENUM: {
        const char *s = *(char *const *)x;
        w = snprintf(buf, n, "%s", s ? s : "");
        break;
    }
    case CFG_INT:
        w = snprintf(buf, n, "%d", *(const int *)x);
        break;
    case CFG_SIZE:
        w = snprintf(buf, n, "%ld", *(const long *)x);
        break;
    case CFG_DOUBLE: {
        /* the shortest text that reads back to the same double */
        double v = *(const double *)x;
        for (int prec = 6; prec <= 17; prec++) {
            w = snprintf(buf, n, "%.*g", prec, v);
            if (w >= 0 && (size_t)w < n && strtod(buf, NULL) == v)
                break;
        }
        break;
    }
    }
    return (w < 0 || (size_t)w >= n) ? -1 : 0;
}

/* A string value in the file syntax: bare when it reads back as is,
 * otherwise double-quoted with \" and \\ escaped. */
static void print_value(FILE *out, const char *s)
{
    int bare = *s && *s != '"' && !isspace((unsigned char)*s) &&
               !isspace((unsigned char)s[strlen(s) - 1]);
    for (const char *p = s; bare && *p; p++)
        if (*p == '\n' || *p == '\r')
            bare = 0;
    if (bare) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', out);
        if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void mr_config_print(const mr_config *c, FILE *out)
{
    fprintf(out, "# microrm configuration (`microrm serve --print-config`)\n");
    for (size_t i = 0; i < N_ENTRIES; i++) {
        char buf[4200];
        if (mr_config_format(c, entries[i].name, buf, sizeof buf))
            buf[0] = '\0';
        fprintf(out, "\n# %s\n%s ", entries[i].help, entries[i].name);
        print_value(out, buf);
        fputc('\n', out);
    }
}

static const char *type_word(const cfg_entry *en)
{
    switch (en->type) {
    case CFG_STRING: return "TEXT";
    case CFG_INT:    return "INT";
    case CFG_SIZE:   return "SIZE";
    case CFG_DOUBLE: return "NUM";
    case CFG_ENUM:   return "CHOICE";
    }
    return "?";
}

void mr_config_print_help(FILE *out)
{
    fprintf(out,
            "Settings, applied in this order (later wins): built-in defaults,\n"
            "the file of --config FILE (or MICRORM_CONFIG), the environment\n"
            "(MICRORM_<KEY>, e.g. MICRORM_PORT=9000), then --key value or --key=value.\n"
            "--print-config prints the effective settings as a config file; -h, --help this.\n\n");
    for (size_t i = 0; i < N_ENTRIES; i++) {
        const cfg_entry *en = &entries[i];
        char flag[64], limits[300];
        snprintf(flag, sizeof flag, "--%s %s", en->name, type_word(en));
        switch (en->type) {
        case CFG_STRING:
            snprintf(limits, sizeof limits, "default \"%s\"", en->def);
            break;
        case CFG_ENUM: {
            char choices[256];
            describe_choices(en, choices, sizeof choices);
            snprintf(limits, sizeof limits, "one of %s; default \"%s\"", choices, en->def);
            break;
        }
        case CFG_INT:
        case CFG_SIZE:
            snprintf(limits, sizeof limits, "[%.0f, %.0f]; default %s", en->min, en->max, en->def);
            break;
        case CFG_DOUBLE:
            snprintf(limits, sizeof limits, "%s%g, %g]; default %s",
                     (en->flags & CFG_MIN_EXCLUSIVE) ? "(" : "[", en->min, en->max, en->def);
            break;
        }
        fprintf(out, "  %-30s %s\n  %-30s %s\n", flag, en->help, "", limits);
    }
}

/* ---- the config file ---- */

/* Read one value starting at p (just past the key's blanks) into a fresh
 * string. Bare: the rest of the line, trimmed. Quoted: "..." with \" \\ \n
 * escapes, followed by nothing but blanks or a # comment. */
static int read_value(const char *p, const char *eol, const char *where, char **out, mr_error *e)
{
    while (eol > p && isspace((unsigned char)eol[-1]))
        eol--;
    size_t cap = (size_t)(eol - p) + 1;
    char *v = malloc(cap);
    if (!v)
        return mr_errorf(e, "%s: out of memory", where);
    if (p < eol && *p == '"') {
        size_t n = 0;
        const char *q = p + 1;
        for (; q < eol && *q != '"'; q++) {
            if (*q == '\\' && q + 1 < eol) {
                q++;
                v[n++] = *q == 'n' ? '\n' : *q;
            } else {
                v[n++] = *q;
            }
        }
        if (q >= eol) {
            free(v);
            return mr_errorf(e, "%s: unterminated quoted value", where);
        }
        for (q++; q < eol && isspace((unsigned char)*q); q++)
            ;
        if (q < eol && *q != '#') {
            free(v);
            return mr_errorf(e, "%s: unexpected text after the closing quote", where);
        }
        v[n] = '\0';
    } else {
        memcpy(v, p, (size_t)(eol - p));
        v[eol - p] = '\0';
    }
    *out = v;
    return 0;
}

int mr_config_parse_text(mr_config *c, const char *text, size_t len, const char *source_name, mr_error *e)
{
    const char *p = text, *end = text + len;
    const char *name = source_name ? source_name : "config";
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        int line = 1;
        for (const char *q = text; q < nul; q++)
            line += *q == '\n';
        return mr_errorf(e, "%s:%d: NUL byte in the line", name, line);
    }
    for (int line = 1; p < end; line++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        if (!eol)
            eol = end;
        char where[300];
        snprintf(where, sizeof where, "%s:%d", name, line);

        while (p < eol && isspace((unsigned char)*p))
            p++;
        if (p == eol || *p == '#') {
            p = next;
            continue;
        }
        const char *k = p;
        while (p < eol && !isspace((unsigned char)*p))
            p++;
        char key[64];
        size_t klen = (size_t)(p - k);
        if (klen >= sizeof key)
            return mr_errorf(e, "%s: unknown key '%.40s...'", where, k);
        memcpy(key, k, klen);
        key[klen] = '\0';
        if (!find_entry(key))
            return unknown_key(key, where, e);
        while (p < eol && isspace((unsigned char)*p))
            p++;
        const char *trimmed = eol;
        while (trimmed > p && isspace((unsigned char)trimmed[-1]))
            trimmed--;
        if (p == trimmed)
            return mr_errorf(e, "%s: '%s' needs a value (write \"\" for an empty one)", where, key);
        char *value = NULL;
        if (read_value(p, eol, where, &value, e))
            return -1;
        int rc = mr_config_set(c, key, value, where, e);
        free(value);
        if (rc)
            return -1;
        p = next;
    }
    return 0;
}

static int load_file(mr_config *c, const char *path, mr_error *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return mr_errorf(e, "config file '%s': %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return mr_errorf(e, "config file '%s': out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap >= (size_t)16 << 20) {
                free(buf);
                fclose(f);
                return mr_errorf(e, "config file '%s': larger than 16 MiB", path);
            }
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                fclose(f);
                return mr_errorf(e, "config file '%s': out of memory", path);
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return mr_errorf(e, "config file '%s': read error", path);
    }
    int rc = mr_config_parse_text(c, buf, n, path, e);
    free(buf);
    return rc;
}

/* ---- environment and flags ---- */

static const char *env_lookup(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **p = envp; p && *p; p++)
        if (!strncmp(*p, name, n) && (*p)[n] == '=')
            return *p + n + 1;
    return NULL;
}

/* "--max-body-bytes=1M" -> key "max_body_bytes", value "1M" (value NULL
 * when there is no '='). Returns -1 when the flag is too long to be a key. */
static int split_flag(const char *arg, char *key, size_t keysz, const char **value)
{
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    if (n >= keysz)
        return -1;
    for (size_t i = 0; i < n; i++)
        key[i] = name[i] == '-' ? '_' : name[i];
    key[n] = '\0';
    *value = eq ? eq + 1 : NULL;
    return 0;
}

int mr_config_load(mr_config *c, int argc, char **argv, char **envp,
                   int *want_help, int *want_print, mr_error *e)
{
    const char *config_path = NULL, *config_source = NULL;
    int help = 0, print = 0;

    /* First pass: find --config, --help, --print-config, and reject unknown
     * flags before anything is applied. argv[0] is the command's name. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help = 1;
            continue;
        }
        if (!strcmp(a, "--print-config") || !strcmp(a, "--print_config")) {
            print = 1;
            continue;
        }
        if (strncmp(a, "--", 2) || !a[2])
            return mr_errorf(e, "unexpected argument '%s' (settings are --key value)", a);
        char key[64];
        const char *value;
        if (split_flag(a, key, sizeof key, &value) || (strcmp(key, "config") && !find_entry(key))) {
            const char *hint = strlen(a) < 64 ? suggest(key) : NULL;
            return mr_errorf(e, "unknown flag '%s'%s%s%s", a, hint ? " (did you mean '--" : "",
                             hint ? hint : "", hint ? "'?)" : "");
        }
        if (!value) {
            if (i + 1 >= argc)
                return mr_errorf(e, "flag %s needs a value", a);
            value = argv[++i];
        }
        if (!strcmp(key, "config")) {
            config_path = value;
            config_source = "--config";
        }
    }
    if (want_help) *want_help = help;
    if (want_print) *want_print = print;
    if (help)
        return 0; /* help must work even when the settings are broken */

    if (!config_path && (config_path = env_lookup(envp, "MICRORM_CONFIG")) && *config_path)
        config_source = "MICRORM_CONFIG";
    if (config_path && *config_path && load_file(c, config_path, e)) {
        if (config_source && !strcmp(config_source, "MICRORM_CONFIG")) {
            char msg[sizeof e->msg];
            snprintf(msg, sizeof msg, "%s", e->msg);
            mr_errorf(e, "%s (file named by MICRORM_CONFIG)", msg);
        }
        return -1;
    }

    for (size_t i = 0; i < N_ENTRIES; i++) {
        char var[80];
        size_t n = (size_t)snprintf(var, sizeof var, "MICRORM_%s", entries[i].name);
        for (size_t j = 8; j < n && j < sizeof var; j++)
            var[j] = (char)toupper((unsigned char)var[j]);
        const char *v = env_lookup(envp, var);
        if (v && mr_config_set(c, entries[i].name, v, var, e))
            return -1;
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "--print-config") ||
            !strcmp(a, "--print_config"))
            continue;
        char key[64], source[80];
        const char *value = NULL;
        split_flag(a, key, sizeof key, &value); /* checked in the first pass */
        if (!value)
            value = argv[++i];
        if (!strcmp(key, "config"))
            continue;
        snprintf(source, sizeof source, "flag --%s", key);
        if (mr_config_set(c, key, value, source, e))
            return -1;
    }
    return 0;
}
