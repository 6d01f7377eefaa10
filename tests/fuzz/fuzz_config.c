/* libFuzzer: arbitrary text through mr_config_parse_text (on top of the
 * defaults). A failure must name the source and a line that exists
 * ("fuzz.conf:N: ..." or, for a bad value, "... (from fuzz.conf:N)"); a success must print (mr_config_print) to a text
 * that parses back, over fresh defaults, to an equal config
 * (mr_config_equal), and printing that again gives the same text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static char *print(const mr_config *c, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        abort();
    mr_config_print(c, f);
    if (fclose(f) != 0)
        abort();
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mr_config a, b;
    mr_error e;
    memset(&e, 0, sizeof e);
    if (mr_config_defaults(&a, &e) != 0)
        abort();
    const char *text = (const char *)data;
    if (mr_config_parse_text(&a, text, size, "fuzz.conf", &e) != 0) {
        /* the line number must be one the text has (a last line without '\n' counts) */
        long lines = 1;
        for (size_t i = 0; i < size; i++)
            lines += data[i] == '\n';
        /* "fuzz.conf:N: why" from the line parser, "key: why (from fuzz.conf:N)" from a value */
        const char *at = e.msg, *from = strstr(e.msg, " (from fuzz.conf:"), *want_end = ":";
        if (strncmp(e.msg, "fuzz.conf:", 10) != 0) {
            if (!from)
                abort();
            while (strstr(from + 1, " (from fuzz.conf:"))
                from = strstr(from + 1, " (from fuzz.conf:");
            at = from + 7;
            want_end = ")";
        }
        char *end;
        long line = strtol(at + 10, &end, 10);
        if (end == at + 10 || *end != *want_end || line < 1 || line > lines ||
            (*want_end == ')' && end[1] != 0))
            abort();
        mr_config_free(&a);
        return 0;
    }
    size_t n1 = 0, n2 = 0;
    char *t1 = print(&a, &n1);
    if (mr_config_defaults(&b, &e) != 0)
        abort();
    if (mr_config_parse_text(&b, t1, n1, "printed", &e) != 0) {
        fprintf(stderr, "printed config does not parse back: %s\n---\n%s---\n", e.msg, t1);
        abort();
    }
    if (!mr_config_equal(&a, &b)) {
        for (size_t i = 0; mr_config_key(i); i++) {
            char x[1024], y[1024];
            if (mr_config_format(&a, mr_config_key(i), x, sizeof x) == 0 &&
                mr_config_format(&b, mr_config_key(i), y, sizeof y) == 0 && strcmp(x, y))
                fprintf(stderr, "%s: '%s' became '%s'\n", mr_config_key(i), x, y);
        }
        abort();
    }
    char *t2 = print(&b, &n2);
    if (n1 != n2 || memcmp(t1, t2, n1) != 0)
        abort();
    free(t1);
    free(t2);
    mr_config_free(&a);
    mr_config_free(&b);
    return 0;
}
