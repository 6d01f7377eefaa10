/* Tests of config/: defaults, every type's parsing and bounds, the file
 * syntax, precedence defaults < file < env < flags, print -> parse round
 * trip, and that config/microrm.conf documents every key at its default. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "tests/unit/run_suite.h"

static mr_config c;
static mr_error err;

static void setup(void)
{
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(mr_config_defaults(&c, &err), 0);
}

static void teardown(void) { mr_config_free(&c); }

/* Set and expect failure whose message contains `want`. */
static void set_fails(const char *key, const char *value, const char *want)
{
    err.msg[0] = '\0';
    ck_assert_int_eq(mr_config_set(&c, key, value, "test", &err), -1);
    if (!strstr(err.msg, want))
        ck_abort_msg("setting %s='%s': message '%s' lacks '%s'", key, value, err.msg, want);
}

static void parse_fails(const char *text, const char *want)
{
    err.msg[0] = '\0';
    ck_assert_int_eq(mr_config_parse_text(&c, text, strlen(text), "f.conf", &err), -1);
    if (!strstr(err.msg, want))
        ck_abort_msg("parsing <<%s>>: message '%s' lacks '%s'", text, err.msg, want);
}

/* A temporary file holding `text`; the caller unlinks it. */
static char *temp_file(const char *text)
{
    char *path = strdup("/tmp/microrm-test-config-XXXXXX");
    ck_assert_ptr_nonnull(path);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static char *read_repo_file(const char *rel, size_t *len)
{
    const char *root = getenv("MICRORM_SOURCE_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root ? root : ".", rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        ck_abort_msg("cannot open %s (set MICRORM_SOURCE_ROOT)", path);
    char *buf = malloc(1 << 20);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

START_TEST(defaults)
{
    ck_assert_str_eq(c.host, "127.0.0.1");
    ck_assert_int_eq(c.port, 8080);
    ck_assert_str_eq(c.model, "models/demo.safetensors");
    ck_assert_str_eq(c.score_mode, "");
    ck_assert_str_eq(c.mask_heads, "");
    ck_assert_str_eq(c.auth_token, "");
    ck_assert_int_eq(c.max_body_bytes, 8L * 1024 * 1024);
    ck_assert_int_eq(c.max_responses, 256);
    ck_assert_int_eq(c.max_batch, 256);
    ck_assert_int_eq(c.max_pairs, 1024);
    ck_assert_int_eq(c.max_connections, 1024);
    ck_assert_int_eq(c.connection_timeout_ms, 30000);
    ck_assert_int_eq(c.threads, 0);
    ck_assert_str_eq(c.adapt, "hedge");
    ck_assert_double_eq(c.eta, 0.5);
    ck_assert_double_eq(c.gamma, 0.0);
    ck_assert_double_eq(c.lr, 0.1);
    ck_assert_int_eq(c.epochs, 1);
    ck_assert_int_eq(c.buffer, 32);
    ck_assert_double_eq(c.tau, 1e-3);
    ck_assert_str_eq(c.store, "lmdb");
    ck_assert_str_eq(c.state_dir, "./var");
    ck_assert_str_eq(c.durability, "strict");
    ck_assert_int_eq(c.sync_interval_ms, 100);
    ck_assert_int_eq(c.user_cache, 100000);
    ck_assert_int_eq(c.redis_cache_ms, 1000);
    ck_assert_int_eq(c.event_ttl, 600);
    ck_assert_int_eq(c.event_memory, 256L * 1024 * 1024);
    ck_assert_int_eq(c.drain_timeout_ms, 10000);
    ck_assert_str_eq(c.log_level, "info");
}
END_TEST

START_TEST(table_covers_struct)
{
    /* every key is distinct and formats; 35 keys = the 35 fields of mr_config */
    size_t n = 0;
    char buf[256];
    for (; mr_config_key(n); n++) {
        ck_assert_int_eq(mr_config_format(&c, mr_config_key(n), buf, sizeof buf), 0);
        for (size_t j = 0; j < n; j++)
            ck_assert_str_ne(mr_config_key(j), mr_config_key(n));
    }
    ck_assert_uint_eq(n, 35);
    ck_assert_int_eq(mr_config_format(&c, "nope", buf, sizeof buf), -1);
    ck_assert_int_eq(mr_config_format(&c, "model", buf, 4), -1); /* too short */
}
END_TEST

START_TEST(ints)
{
    ck_assert_int_eq(mr_config_set(&c, "port", "9000", "test", &err), 0);
    ck_assert_int_eq(c.port, 9000);
    ck_assert_int_eq(mr_config_set(&c, "port", "1", NULL, &err), 0);
    ck_assert_int_eq(mr_config_set(&c, "port", "65535", NULL, &err), 0);
    ck_assert_int_eq(c.port, 65535);
    ck_assert_int_eq(mr_config_set(&c, "port", "70000", "MICRORM_PORT", &err), -1);
    ck_assert_str_eq(err.msg, "port: 70000 is out of range [0, 65535] (from MICRORM_PORT)");
    ck_assert_int_eq(c.port, 65535); /* unchanged by the failure */
    set_fails("port", "65536", "out of range [0, 65535]");
    set_fails("port", "-1", "out of range");
    set_fails("port", "abc", "port: 'abc' is not an integer (from test)");
    set_fails("port", "80x", "not an integer");
    set_fails("port", "8.5", "not an integer");
    set_fails("port", "", "not an integer");
    set_fails("port", " 80", "not an integer");
    set_fails("port", "99999999999999999999999", "out of range");
    set_fails("port", "1k", "not an integer"); /* suffixes are for sizes only */
    set_fails("threads", "-1", "threads: -1 is out of range [0, 1024]");
    ck_assert_int_eq(mr_config_set(&c, "max_pairs", "0", NULL, &err), 0);
    ck_assert_int_eq(c.max_pairs, 0);
    set_fails("epochs", "0", "out of range [1, 1000]");
    ck_assert_int_eq(c.port, 65535);
    ck_assert_int_eq(mr_config_set(&c, "port", "0", NULL, &err), 0);  /* 0: any free port */
    ck_assert_int_eq(c.port, 0);
}
END_TEST

START_TEST(sizes)
{
    ck_assert_int_eq(mr_config_set(&c, "max_body_bytes", "1048576", NULL, &err), 0);
    ck_assert_int_eq(c.max_body_bytes, 1048576);
    ck_assert_int_eq(mr_config_set(&c, "max_body_bytes", "3K", NULL, &err), 0);
    ck_assert_int_eq(c.max_body_bytes, 3072);
    ck_assert_int_eq(mr_config_set(&c, "max_body_bytes", "2MiB", NULL, &err), 0);
    ck_assert_int_eq(c.max_body_bytes, 2 * 1048576);
    ck_assert_int_eq(mr_config_set(&c, "max_body_bytes", "1gb", NULL, &err), 0);
    ck_assert_int_eq(c.max_body_bytes, 1073741824);
    ck_assert_int_eq(mr_config_set(&c, "event_memory", "64G", NULL, &err), 0);
    ck_assert_int_eq(c.event_memory, 64L << 30);
    set_fails("max_body_bytes", "2G", "max_body_bytes: 2G is out of range [1024, 1073741824]");
    set_fails("max_body_bytes", "1023", "out of range");
    set_fails("max_body_bytes", "1T", "is not a size");
    set_fails("max_body_bytes", "M", "not an integer");
    set_fails("max_body_bytes", "9999999999999999G", "out of range");
    set_fails("event_memory", "65G", "out of range");
    ck_assert_int_eq(c.max_body_bytes, 1073741824);
}
END_TEST

START_TEST(doubles)
{
    ck_assert_int_eq(mr_config_set(&c, "tau", "1e-4", NULL, &err), 0);
    ck_assert_double_eq(c.tau, 1e-4);
    ck_assert_int_eq(mr_config_set(&c, "gamma", "1", NULL, &err), 0);
    ck_assert_double_eq(c.gamma, 1.0);
    ck_assert_int_eq(mr_config_set(&c, "eta", "0.25", NULL, &err), 0);
    ck_assert_double_eq(c.eta, 0.25);
    set_fails("tau", "0", "tau: 0 is out of range (0, 1e+06] (from test)");
    set_fails("eta", "-0.5", "out of range (0, 1000]");
    set_fails("gamma", "1.5", "gamma: 1.5 is out of range [0, 1]");
    set_fails("gamma", "-0.1", "out of range [0, 1]");
    set_fails("lr", "nan", "not a finite number");
    set_fails("lr", "inf", "not a finite number");
    set_fails("lr", "1e999", "not a finite number");
    set_fails("lr", "0.1x", "'0.1x' is not a number");
    set_fails("lr", "", "is not a number");
    ck_assert_double_eq(c.tau, 1e-4);
    ck_assert_double_eq(c.lr, 0.1);
}
END_TEST

START_TEST(enums_and_strings)
{
    ck_assert_int_eq(mr_config_set(&c, "adapt", "router", NULL, &err), 0);
    ck_assert_str_eq(c.adapt, "router");
    set_fails("adapt", "Hedge", "adapt: 'Hedge' is not one of hedge, router");
    set_fails("adapt", "", "not one of");
    ck_assert_int_eq(mr_config_set(&c, "score_mode", "logsigmoid", NULL, &err), 0);
    ck_assert_int_eq(mr_config_set(&c, "score_mode", "", NULL, &err), 0);
    ck_assert_str_eq(c.score_mode, "");
    set_fails("score_mode", "log", "is not one of \"\", linear, logsigmoid");
    ck_assert_int_eq(mr_config_set(&c, "store", "redis://cache:6379/2", NULL, &err), 0);
    ck_assert_str_eq(c.store, "redis://cache:6379/2");
    ck_assert_int_eq(mr_config_set(&c, "store", "memory", NULL, &err), 0);
    set_fails("store", "redis://", "one of lmdb, memory, redis://...");
    set_fails("store", "redis", "not one of");
    set_fails("store", "lmdbx", "not one of");
    set_fails("durability", "fast", "not one of strict, relaxed");
    set_fails("log_level", "trace", "not one of error, warn, info, debug");
    ck_assert_str_eq(c.store, "memory");

    ck_assert_int_eq(mr_config_set(&c, "model", "/data/m.safetensors", NULL, &err), 0);
    ck_assert_str_eq(c.model, "/data/m.safetensors");
    set_fails("host", "", "host: must not be empty");
    char *huge = malloc(5000);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'a', 4999);
    huge[4999] = '\0';
    set_fails("model", huge, "4999 characters long, the limit is 4096");
    free(huge);
    ck_assert_int_eq(mr_config_set(&c, "auth_token", "", NULL, &err), 0);
    ck_assert_str_eq(c.model, "/data/m.safetensors");
}
END_TEST

START_TEST(unknown_keys)
{
    set_fails("prot", "1", "unknown key 'prot' (did you mean 'port'?)");
    set_fails("completely_else", "1", "unknown key 'completely_else'");
    ck_assert_ptr_null(strstr(err.msg, "did you mean"));
    set_fails("port", NULL, "missing value");
}
END_TEST

START_TEST(file_syntax)
{
    const char *text =
        "# a comment\n"
        "\n"
        "   # an indented comment\n"
        "port 9001\n"
        "  host    0.0.0.0   \n"
        "model   /path with spaces/m.safetensors\t\n"
        "auth_token \"  padded \\\"token\\\" \\\\ \"   # comment after a quote\n"
        "mask_heads \"\"\n"
        "tau 0.002\r\n"
        "port 9002\n"
        "log_level debug"; /* no final newline */
    ck_assert_int_eq(mr_config_parse_text(&c, text, strlen(text), "f.conf", &err), 0);
    ck_assert_int_eq(c.port, 9002); /* last one wins */
    ck_assert_str_eq(c.host, "0.0.0.0");
    ck_assert_str_eq(c.model, "/path with spaces/m.safetensors");
    ck_assert_str_eq(c.auth_token, "  padded \"token\" \\ ");
    ck_assert_str_eq(c.mask_heads, "");
    ck_assert_double_eq(c.tau, 0.002);
    ck_assert_str_eq(c.log_level, "debug");

    /* a bare value runs to the end of the line, so a trailing comment is part of it */
    parse_fails("\nport 80 # http\n", "port: '80 # http' is not an integer (from f.conf:2)");
    parse_fails("host a\nprot 1\n", "f.conf:2: unknown key 'prot' (did you mean 'port'?)");
    parse_fails("\n\n\nport 70000\n", "port: 70000 is out of range [0, 65535] (from f.conf:4)");
    parse_fails("port\n", "f.conf:1: 'port' needs a value");
    parse_fails("port   \n", "f.conf:1: 'port' needs a value");
    parse_fails("host \"abc\n", "f.conf:1: unterminated quoted value");
    parse_fails("host \"a\" b\n", "f.conf:1: unexpected text after the closing quote");
    parse_fails("port = 80\n", "'= 80' is not an integer");
    parse_fails("gamma 2\n", "gamma: 2 is out of range [0, 1] (from f.conf:1)");
    parse_fails("store redis\n", "store: 'redis' is not one of");
    parse_fails("max_body_bytes 1T\n", "not a size");
    parse_fails("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\n",
                "f.conf:1: unknown key");
    static const char with_nul[] = "port 1\nhost a\0b\n";
    ck_assert_int_eq(mr_config_parse_text(&c, with_nul, sizeof with_nul - 1, "f.conf", &err), -1);
    ck_assert_str_eq(err.msg, "f.conf:2: NUL byte in the line");
    ck_assert_int_eq(mr_config_parse_text(&c, "", 0, "empty", &err), 0);
    ck_assert_int_eq(c.port, 9002);
}
END_TEST

START_TEST(precedence)
{
    char *file = temp_file("port 1000\nhost file.example\nthreads 3\ngamma 0.3\n");
    char *file2 = temp_file("port 1500\nlr 0.7\n");
    char cfg_env[256];
    snprintf(cfg_env, sizeof cfg_env, "MICRORM_CONFIG=%s", file2);
    char *envp[] = {"MICRORM_PORT=2000", "MICRORM_HOST=env.example", "MICRORM_SOURCE_ROOT=/x",
                    "MICRORM_NOT_A_KEY=1", "PATH=/bin", cfg_env, NULL};
    char *argv[] = {"serve", "--config", file, "--port", "3000", "--max-body-bytes=2M",
                    "--tau=0.01", NULL};
    int help = -1, print = -1;
    ck_assert_int_eq(mr_config_load(&c, 7, argv, envp, &help, &print, &err), 0);
    ck_assert_int_eq(help, 0);
    ck_assert_int_eq(print, 0);
    ck_assert_int_eq(c.port, 3000);                  /* flag > env > file */
    ck_assert_str_eq(c.host, "env.example");         /* env > file */
    ck_assert_int_eq(c.threads, 3);                  /* file > default */
    ck_assert_double_eq(c.gamma, 0.3);
    ck_assert_double_eq(c.lr, 0.1);                  /* --config wins over MICRORM_CONFIG */
    ck_assert_int_eq(c.max_body_bytes, 2L << 20);    /* --key=value, dashes for underscores */
    ck_assert_double_eq(c.tau, 0.01);
    ck_assert_int_eq(c.max_batch, 256);              /* untouched default */
    mr_config_free(&c);

    /* MICRORM_CONFIG names the file when there is no --config */
    ck_assert_int_eq(mr_config_defaults(&c, &err), 0);
    char *argv2[] = {"serve", NULL};
    ck_assert_int_eq(mr_config_load(&c, 1, argv2, envp, &help, &print, &err), 0);
    ck_assert_int_eq(c.port, 2000);
    ck_assert_double_eq(c.lr, 0.7);
    mr_config_free(&c);

    /* no environment at all */
    ck_assert_int_eq(mr_config_defaults(&c, &err), 0);
    ck_assert_int_eq(mr_config_load(&c, 1, argv2, NULL, &help, &print, &err), 0);
    ck_assert_int_eq(c.port, 8080);

    unlink(file);
    unlink(file2);
    free(file);
    free(file2);
}
END_TEST

START_TEST(load_errors)
{
    int help = 0, print = 0;
    char *env_bad[] = {"MICRORM_PORT=70000", NULL};
    char *none[] = {"serve", NULL};
    ck_assert_int_eq(mr_config_load(&c, 1, none, env_bad, &help, &print, &err), -1);
    ck_assert_str_eq(err.msg, "port: 70000 is out of range [0, 65535] (from MICRORM_PORT)");

    char *unknown[] = {"serve", "--prot", "80", NULL};
    ck_assert_int_eq(mr_config_load(&c, 3, unknown, NULL, &help, &print, &err), -1);
    ck_assert_str_eq(err.msg, "unknown flag '--prot' (did you mean '--port'?)");

    char *positional[] = {"serve", "model.safetensors", NULL};
    ck_assert_int_eq(mr_config_load(&c, 2, positional, NULL, &help, &print, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "unexpected argument 'model.safetensors'"));

    char *single_dash[] = {"serve", "-p", "80", NULL};
    ck_assert_int_eq(mr_config_load(&c, 3, single_dash, NULL, &help, &print, &err), -1);

    char *missing[] = {"serve", "--port", NULL};
    ck_assert_int_eq(mr_config_load(&c, 2, missing, NULL, &help, &print, &err), -1);
    ck_assert_str_eq(err.msg, "flag --port needs a value");

    char *bad_flag[] = {"serve", "--gamma", "2", NULL};
    ck_assert_int_eq(mr_config_load(&c, 3, bad_flag, NULL, &help, &print, &err), -1);
    ck_assert_str_eq(err.msg, "gamma: 2 is out of range [0, 1] (from flag --gamma)");

    char *nofile[] = {"serve", "--config=/nonexistent/microrm.conf", NULL};
    ck_assert_int_eq(mr_config_load(&c, 2, nofile, NULL, &help, &print, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "config file '/nonexistent/microrm.conf'"));

    char *env_nofile[] = {"MICRORM_CONFIG=/nonexistent/x.conf", NULL};
    ck_assert_int_eq(mr_config_load(&c, 1, none, env_nofile, &help, &print, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "MICRORM_CONFIG"));

    char *file = temp_file("port 80\nbogus 1\n");
    char arg[300];
    snprintf(arg, sizeof arg, "--config=%s", file);
    char *badfile[] = {"serve", arg, NULL};
    ck_assert_int_eq(mr_config_load(&c, 2, badfile, NULL, &help, &print, &err), -1);
    char want[400];
    snprintf(want, sizeof want, "%s:2: unknown key 'bogus'", file);
    ck_assert_str_eq(err.msg, want);
    unlink(file);
    free(file);
}
END_TEST

START_TEST(help_and_print_flags)
{
    int help = 0, print = 0;
    /* --help works even when the environment is broken */
    char *env_bad[] = {"MICRORM_PORT=nope", NULL};
    char *h[] = {"serve", "--port", "1", "--help", NULL};
    ck_assert_int_eq(mr_config_load(&c, 4, h, env_bad, &help, &print, &err), 0);
    ck_assert_int_eq(help, 1);
    char *h2[] = {"serve", "-h", NULL};
    help = 0;
    ck_assert_int_eq(mr_config_load(&c, 2, h2, NULL, &help, &print, &err), 0);
    ck_assert_int_eq(help, 1);
    char *p[] = {"serve", "--print-config", "--port", "4242", NULL};
    help = 0;
    ck_assert_int_eq(mr_config_load(&c, 4, p, NULL, &help, &print, &err), 0);
    ck_assert_int_eq(help, 0);
    ck_assert_int_eq(print, 1);
    ck_assert_int_eq(c.port, 4242);
}
END_TEST

START_TEST(print_round_trip)
{
    ck_assert_int_eq(mr_config_set(&c, "host", "::1", NULL, &err), 0);
    ck_assert_int_eq(mr_config_set(&c, "model", " lead space and \"quotes\" \\ tail ", NULL, &err), 0);
    ck_assert_int_eq(mr_config_set(&c, "auth_token", "#not-a-comment", NULL, &err), 0);
    ck_assert_int_eq(mr_config_set(&c, "mask_heads", "0, humor", NULL, &err), 0);
    ck_assert_int_eq(mr_config_set(&c, "score_mode", "logsigmoid", NULL, &err), 0);
    ck_assert_int_eq(mr_config_set(&c, "tau", "0.1", NULL, &err), 0);
    ck_assert_int_eq(mr_config_set(&c, "eta", "0.30000000000000004", NULL, &err), 0);
    ck_assert_int_eq(mr_config_set(&c, "gamma", "1e-300", NULL, &err), 0);
    ck_assert_int_eq(mr_config_set(&c, "event_memory", "1G", NULL, &err), 0);
    ck_assert_int_eq(mr_config_set(&c, "store", "redis://h:1/3", NULL, &err), 0);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(out);
    mr_config_print(&c, out);
    fclose(out);

    mr_config back;
    ck_assert_int_eq(mr_config_defaults(&back, &err), 0);
    ck_assert_int_eq(mr_config_equal(&back, &c), 0);
    if (mr_config_parse_text(&back, text, len, "printed", &err))
        ck_abort_msg("printed config does not parse: %s\n%s", err.msg, text);
    ck_assert_int_eq(mr_config_equal(&back, &c), 1);
    ck_assert_str_eq(back.model, " lead space and \"quotes\" \\ tail ");
    ck_assert_double_eq(back.eta, 0.30000000000000004);
    ck_assert_ptr_nonnull(strstr(text, "\ntau 0.1\n")); /* shortest exact text */
    ck_assert_ptr_nonnull(strstr(text, "\nscore_mode logsigmoid\n"));

    /* and the defaults themselves */
    mr_config d;
    ck_assert_int_eq(mr_config_defaults(&d, &err), 0);
    free(text);
    out = open_memstream(&text, &len);
    mr_config_print(&d, out);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(text, "\nscore_mode \"\"\n"));
    ck_assert_int_eq(mr_config_parse_text(&back, text, len, "printed", &err), 0);
    ck_assert_int_eq(mr_config_equal(&back, &d), 1);
    free(text);
    mr_config_free(&back);
    mr_config_free(&d);
}
END_TEST

START_TEST(help_lists_every_key)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    mr_config_print_help(out);
    fclose(out);
    for (size_t i = 0; mr_config_key(i); i++) {
        char want[80];
        snprintf(want, sizeof want, "  --%s ", mr_config_key(i));
        if (!strstr(text, want))
            ck_abort_msg("help lacks %s", want);
    }
    ck_assert_ptr_nonnull(strstr(text, "[0, 65535]; default 8080"));
    ck_assert_ptr_nonnull(strstr(text, "one of hedge, router; default \"hedge\""));
    free(text);
}
END_TEST

START_TEST(shipped_file)
{
    size_t len;
    char *text = read_repo_file("config/microrm.conf", &len);
    mr_config f;
    ck_assert_int_eq(mr_config_defaults(&f, &err), 0);
    /* every key is set on a line of its own, not only described in a comment */
    for (size_t i = 0; mr_config_key(i); i++) {
        const char *k = mr_config_key(i);
        char probe[64];
        snprintf(probe, sizeof probe, "\n%s ", k);
        if (!strstr(text, probe))
            ck_abort_msg("config/microrm.conf does not set '%s' on a line of its own", k);
    }
    if (mr_config_parse_text(&f, text, len, "config/microrm.conf", &err))
        ck_abort_msg("config/microrm.conf: %s", err.msg);
    ck_assert_int_eq(mr_config_equal(&f, &c), 1);
    mr_config_free(&f);
    free(text);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, table_covers_struct);
    tcase_add_test(tc, ints);
    tcase_add_test(tc, sizes);
    tcase_add_test(tc, doubles);
    tcase_add_test(tc, enums_and_strings);
    tcase_add_test(tc, unknown_keys);
    tcase_add_test(tc, file_syntax);
    tcase_add_test(tc, precedence);
    tcase_add_test(tc, load_errors);
    tcase_add_test(tc, help_and_print_flags);
    tcase_add_test(tc, print_round_trip);
    tcase_add_test(tc, help_lists_every_key);
    tcase_add_test(tc, shipped_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(config_suite());
}
