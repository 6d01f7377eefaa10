/* The end of every unit test's main(): run the suite (forking per test
 * unless CK_FORK=no, as valgrind runs want), exit status 1 if any failed. */
#ifndef MICRORM_TESTS_RUN_SUITE_H
#define MICRORM_TESTS_RUN_SUITE_H

#include <check.h>

static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif
