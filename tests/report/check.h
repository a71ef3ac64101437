/* check.h - tiny assertions for the report tests: report every failure,
 * exit 1 at the end if any. */
#ifndef JB_TEST_REPORT_CHECK_H
#define JB_TEST_REPORT_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(got, want, tol)                                                                 \
    do {                                                                                           \
        double g_ = (got), w_ = (want);                                                            \
        if (!(fabs(g_ - w_) <= (tol))) {                                                           \
            fprintf(stderr, "%s:%d: %s = %.10g, want %.10g (+/- %g)\n", __FILE__, __LINE__, #got,  \
                    g_, w_, (double)(tol));                                                        \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#endif
