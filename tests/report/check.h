/* check.h - tiny assertions for the report tests: report every failure,
 * exit 1 at the end if any. */
#ifndef JB_TEST_REPORT_CHECK_H
#define JB_TEST_REPORT_CHECK_H

#include <math.h>
#include <stdio.h>

#include "../testlib.h"

#define CHECK_NEAR(got, want, tol)                                                                 \
    do {                                                                                           \
        double g_ = (got), w_ = (want);                                                            \
        if (!(fabs(g_ - w_) <= (tol))) {                                                           \
            fprintf(stderr, "%s:%d: %s = %.10g, want %.10g (+/- %g)\n", __FILE__, __LINE__, #got,  \
                    g_, w_, (double)(tol));                                                        \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#endif
