/* stats.c - descriptive statistics and the Mann-Whitney U test. */
#include "report/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void rp_sort(double *v, int n)
{
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, cmp_double);
}

double rp_percentile_sorted(const double *sorted, int n, double p)
{
    if (n <= 0)
        return NAN;
    /* Nearest rank, the load generator's definition too: the smallest value
     * with at least p% of the values at or below it. The epsilon keeps
     * 99.9% of 1000 at rank 999 despite binary floating point. */
    double rank = ceil(p / 100.0 * n - 1e-9);
    int idx = rank > 1 ? (int)rank - 1 : 0;
    return sorted[idx < n ? idx : n - 1];
}

/* Student t 0.975 quantiles for df 1..30; beyond, a Cornish-Fisher
 * expansion around the normal quantile is good to 1e-4. */
static const double t975_table[30] = {
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010,  2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796,  2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};

double rp_t975(int df)
{
    if (df < 1)
        return NAN;
    if (df <= 30)
        return t975_table[df - 1];
    double z = 1.959963985, d = df;
    double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
    return z + (z3 + z) / (4 * d) + (5 * z5 + 16 * z3 + 3 * z) / (96 * d * d) +
           (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * d * d * d);
}

rp_summary rp_summarize(const double *v, int n)
{
    rp_summary s = {.n = n,
                    .mean = NAN,
                    .sd = NAN,
                    .ci_lo = NAN,
                    .ci_hi = NAN,
                    .cv_pct = NAN,
                    .min = NAN,
                    .max = NAN,
                    .median = NAN};
    if (n <= 0)
        return s;
    double sum = 0;
    s.min = s.max = v[0];
    for (int i = 0; i < n; i++) {
        sum += v[i];
        s.min = v[i] < s.min ? v[i] : s.min;
        s.max = v[i] > s.max ? v[i] : s.max;
    }
    s.mean = sum / n;
    double *sorted = malloc(sizeof *sorted * (size_t)n);
    if (sorted) {
        memcpy(sorted, v, sizeof *sorted * (size_t)n);
        rp_sort(sorted, n);
        s.median = rp_percentile_sorted(sorted, n, 50);
        free(sorted);
    }
    if (n < 2)
        return s;
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = sqrt(ss / (n - 1));
    double half = rp_t975(n - 1) * s.sd / sqrt(n);
    s.ci_lo = s.mean - half;
    s.ci_hi = s.mean + half;
    if (s.mean != 0)
        s.cv_pct = 100.0 * s.sd / fabs(s.mean);
    return s;
}

/* ---- Mann-Whitney U ---------------------------------------------------- */

typedef struct ranked {
    double v;
    int group;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    return cmp_double(&((const ranked *)a)->v, &((const ranked *)b)->v);
}

/* Rank sum of group 0 with mid-ranks for ties; *tie_term = sum(t^3 - t). */
static double rank_sum(ranked *all, int n, double *tie_term)
{
    qsort(all, (size_t)n, sizeof *all, cmp_ranked);
    double r0 = 0;
    *tie_term = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && all[j + 1].v == all[i].v)
            j++;
        double mid = (i + j) / 2.0 + 1.0, t = j - i + 1;
        *tie_term += t * t * t - t;
        for (int k = i; k <= j; k++)
            if (all[k].group == 0)
                r0 += mid;
        i = j + 1;
    }
    return r0;
}

/* Exact null distribution of U: counts[u] of arrangements for sizes (m, n),
 * by the recurrence c(m,n,u) = c(m-1,n,u-n) + c(m,n-1,u). */
static double exact_cdf(int m, int n, double u_obs)
{
    int width = m * n + 1;
    double *c = calloc((size_t)(m + 1) * (size_t)(n + 1) * (size_t)width, sizeof *c);
    if (!c)
        return NAN;
#define C(i, j, u) c[((size_t)(i) * (size_t)(n + 1) + (size_t)(j)) * (size_t)width + (size_t)(u)]
    for (int i = 0; i <= m; i++)
        for (int j = 0; j <= n; j++) {
            if (i == 0 || j == 0) {
                C(i, j, 0) = 1;
                continue;
            }
            for (int u = 0; u <= i * j; u++)
                C(i, j, u) = (u >= j ? C(i - 1, j, u - j) : 0) + C(i, j - 1, u);
        }
    double below = 0, total = 0;
    for (int u = 0; u <= m * n; u++) {
        total += C(m, n, u);
        if (u <= u_obs + 1e-9)
            below += C(m, n, u);
    }
#undef C
    free(c);
    return below / total;
}

static double min_exact_p(int m, int n)
{
    double arrangements = 1; /* C(m+n, m) */
    for (int i = 1; i <= m; i++)
        arrangements = arrangements * (n + i) / i;
    return fmin(1.0, 2.0 / arrangements);
}

int rp_mwu_iterations_needed(double alpha)
{
    int k = 1;
    while (k < 100 && min_exact_p(k, k) >= alpha)
        k++;
    return k;
}

rp_mwu rp_mann_whitney(const double *x, int nx, const double *y, int ny)
{
    rp_mwu r = {.u = NAN, .p = NAN, .exact = false, .min_p = NAN};
    if (nx < 1 || ny < 1)
        return r;
    int n = nx + ny;
    ranked *all = malloc(sizeof *all * (size_t)n);
    if (!all)
        return r;
    for (int i = 0; i < nx; i++)
        all[i] = (ranked){x[i], 0};
    for (int i = 0; i < ny; i++)
        all[nx + i] = (ranked){y[i], 1};
    double ties;
    double r0 = rank_sum(all, n, &ties);
    free(all);
    r.u = r0 - nx * (nx + 1) / 2.0;
    r.min_p = min_exact_p(nx, ny);
    double mn = (double)nx * ny, u_small = fmin(r.u, mn - r.u);
    if (ties == 0 && mn <= 400) {
        r.exact = true;
        r.p = fmin(1.0, 2.0 * exact_cdf(nx, ny, u_small));
        return r;
    }
    double var = mn / 12.0 * ((n + 1) - ties / ((double)n * (n - 1)));
    if (var <= 0) { /* every value tied: no evidence of any difference */
        r.p = 1.0;
        return r;
    }
    double z = (fabs(r.u - mn / 2.0) - 0.5) / sqrt(var);
    r.p = fmin(1.0, erfc(fmax(z, 0.0) / sqrt(2.0)));
    return r;
}
