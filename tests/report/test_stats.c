/* test_stats.c - the report's statistics against values worked out by hand
 * (tests/report/README.md shows the working). */
#include "report/internal.h"
#include "tests/report/check.h"

static void test_summary(void)
{
    const double v[] = {11, 12, 13, 14, 15};
    rp_summary s = rp_summarize(v, 5);
    CHECK(s.n == 5);
    CHECK_NEAR(s.mean, 13, 1e-12);
    CHECK_NEAR(s.sd, 1.5811388300841898, 1e-12); /* sqrt(10/4) */
    /* t(0.975, 4) = 2.7764; half width = 2.7764 * sqrt(2.5) / sqrt(5) */
    CHECK_NEAR(s.ci_lo, 13 - 1.9632112672863304, 1e-9);
    CHECK_NEAR(s.ci_hi, 13 + 1.9632112672863304, 1e-9);
    CHECK_NEAR(s.cv_pct, 12.162606385262999, 1e-9);
    CHECK_NEAR(s.median, 13, 1e-12);

    rp_summary one = rp_summarize((const double[]){42}, 1);
    CHECK(one.n == 1 && one.mean == 42);
    CHECK(isnan(one.sd) && isnan(one.ci_lo) && isnan(one.cv_pct)); /* unknown, not zero */
    rp_summary none = rp_summarize(NULL, 0);
    CHECK(none.n == 0 && isnan(none.mean));
}

static void test_t_and_percentiles(void)
{
    CHECK_NEAR(rp_t975(1), 12.7062, 1e-4);
    CHECK_NEAR(rp_t975(29), 2.0452, 1e-4);
    CHECK_NEAR(rp_t975(40), 2.0211, 2e-4);   /* tables: 2.021075 */
    CHECK_NEAR(rp_t975(1000), 1.9623, 2e-4); /* tables: 1.962339 */
    CHECK(isnan(rp_t975(0)));

    const double v[] = {1, 2, 3, 4};
    CHECK_NEAR(rp_percentile_sorted(v, 4, 50), 2, 1e-12); /* rank ceil(0.5 * 4) = 2 */
    CHECK_NEAR(rp_percentile_sorted(v, 4, 90), 4, 1e-12); /* rank ceil(3.6) = 4 */
    CHECK_NEAR(rp_percentile_sorted(v, 4, 75), 3, 1e-12); /* rank 3 exactly */
    CHECK_NEAR(rp_percentile_sorted(v, 4, 0), 1, 1e-12);
    CHECK_NEAR(rp_percentile_sorted(v, 4, 100), 4, 1e-12);
    CHECK(isnan(rp_percentile_sorted(v, 0, 50)));
    double thousand[1000];
    for (int i = 0; i < 1000; i++)
        thousand[i] = i + 1;
    CHECK_NEAR(rp_percentile_sorted(thousand, 1000, 99.9), 999, 0); /* not 1000 */
}

static void test_mann_whitney(void)
{
    /* Complete separation, n = 5 + 5: U = 0, exact p = 2 / C(10,5) = 2/252. */
    const double a[] = {1, 2, 3, 4, 5}, b[] = {6, 7, 8, 9, 10};
    rp_mwu t = rp_mann_whitney(a, 5, b, 5);
    CHECK(t.exact);
    CHECK_NEAR(t.u, 0, 1e-12);
    CHECK_NEAR(t.p, 2.0 / 252, 1e-12);
    CHECK_NEAR(rp_mann_whitney(b, 5, a, 5).u, 25, 1e-12);
    CHECK_NEAR(rp_mann_whitney(b, 5, a, 5).p, 2.0 / 252, 1e-12);

    /* Interleaved, 3 + 3: U = 3; P(U <= 3) = (1+1+2+3)/20, p = 0.7. */
    t = rp_mann_whitney((const double[]){1, 3, 5}, 3, (const double[]){2, 4, 6}, 3);
    CHECK(t.exact);
    CHECK_NEAR(t.u, 3, 1e-12);
    CHECK_NEAR(t.p, 0.7, 1e-12);
    CHECK_NEAR(t.min_p, 0.1, 1e-12); /* 3 + 3 can never reach p < 0.05 */

    /* Ties: mid-ranks 1,3,3,5.5 -> U = 2.5; var = 16/12 (9 - 30/56);
     * z = (5.5 - 0.5)/sqrt(var) = 1.48835; p = erfc(z/sqrt 2). */
    t = rp_mann_whitney((const double[]){1, 2, 2, 3}, 4, (const double[]){2, 3, 4, 5}, 4);
    CHECK(!t.exact);
    CHECK_NEAR(t.u, 2.5, 1e-12);
    CHECK_NEAR(t.p, 0.13665824773814753, 1e-9);

    t = rp_mann_whitney((const double[]){1, 1}, 2, (const double[]){1, 1}, 2);
    CHECK_NEAR(t.p, 1, 1e-12); /* all tied: no evidence */
    CHECK(isnan(rp_mann_whitney(a, 5, b, 0).p));
}

int main(void)
{
    test_summary();
    test_t_and_percentiles();
    test_mann_whitney();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
