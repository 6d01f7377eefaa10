/* Replays files through a libFuzzer target in an ordinary build (gcc, no
 * libFuzzer): every seed of tests/fuzz/corpus/TARGET and every crash input
 * kept in tests/fuzz/regressions/TARGET runs through the same
 * LLVMFuzzerTestOneInput and its property checks, which abort on a failure.
 *
 *     replay_TARGET DIR...   (the files directly inside each DIR)
 * Prints "Checks: N, Failures: 0, Errors: 0" (Check's summary line, which
 * scripts/count-tests reads) after replaying N files. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fprintf(stderr, "%s: cannot open\n", path), -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            uint8_t *g = realloc(buf, cap *= 2);
            if (!g)
                free(buf);
            buf = g;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad)
        return free(buf), fprintf(stderr, "%s: read failed\n", path), -1;
    /* an exact-size copy, so ASan sees a read past the end as libFuzzer would */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact)
        return free(buf), -1;
    memcpy(exact, buf, n);
    free(buf);
    fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    int files = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d)
            continue;   /* a target may have no regressions yet */
        char *names[4096];
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < 4096)
            if (de->d_name[0] != '.')
                names[n++] = strdup(de->d_name);
        closedir(d);
        qsort(names, (size_t)n, sizeof *names, by_name);
        for (int k = 0; k < n; k++) {
            char p[4096];
            struct stat sb;
            snprintf(p, sizeof p, "%s/%s", argv[i], names[k] ? names[k] : "");
            if (names[k] && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
                failed += replay(p) != 0;
                files++;
            }
            free(names[k]);
        }
    }
    if (files == 0) {
        fprintf(stderr, "no input files\n");
        return 1;
    }
    printf("%d%%: Checks: %d, Failures: %d, Errors: 0\n", 100 * (files - failed) / files, files, failed);
    return failed != 0;
}
