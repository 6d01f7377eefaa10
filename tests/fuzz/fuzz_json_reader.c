/* libFuzzer: api/json_reader vs jansson (same accept/reject, same tree, numbers
 * within 1 ulp); see tests/fuzz/json_diff.h. Aborts on any disagreement. */
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/json_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    if (jd_compare((const char *)data, size, why, sizeof why)) {
        fprintf(stderr, "json_reader and jansson disagree: %s\n", why);
        abort();
    }
    return 0;
}
