/* metrics.c - the metric catalogue and each metric's per-iteration values,
 * the unit every comparison (table 6, compare) tests on. */
#include "report/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const rp_metric_info metrics[RP_M_COUNT] = {
    [RP_M_CPU] = {"cpu", "CPU, all services", "%", RP_LOWER_BETTER},
    [RP_M_CPU_PER_KREQ] = {"cpu_per_1k_req", "CPU per 1,000 requests, all services", "core-ms",
                           RP_LOWER_BETTER},
    [RP_M_MEM] = {"memory", "Memory, all services", "MiB", RP_LOWER_BETTER},
    [RP_M_RUNTIME_MEM] = {"runtime_memory", "Memory, runtime daemons", "MiB", RP_LOWER_BETTER},
    [RP_M_TOTAL_MEM] = {"total_memory", "Memory incl. runtime", "MiB", RP_LOWER_BETTER},
    [RP_M_THROUGHPUT] = {"throughput", "Throughput", "req/s", RP_HIGHER_BETTER},
    [RP_M_AVG_MS] = {"avg_ms", "Mean response time", "ms", RP_LOWER_BETTER},
    [RP_M_P50_MS] = {"p50_ms", "Median response time", "ms", RP_LOWER_BETTER},
    [RP_M_P90_MS] = {"p90_ms", "p90 response time", "ms", RP_LOWER_BETTER},
    [RP_M_P95_MS] = {"p95_ms", "p95 response time", "ms", RP_LOWER_BETTER},
    [RP_M_P99_MS] = {"p99_ms", "p99 response time", "ms", RP_LOWER_BETTER},
    [RP_M_ERROR_PCT] = {"error_pct", "Error rate", "%", RP_LOWER_BETTER},
    [RP_M_BOOT_MS] = {"boot_ms", "Boot time (slowest service)", "ms", RP_LOWER_BETTER},
    [RP_M_READY_MS] = {"ready_ms", "Ready time (slowest service)", "ms", RP_LOWER_BETTER},
    [RP_M_PROCESS_READY_MS] = {"process_ready_ms", "Process ready (slowest service)", "ms",
                               RP_LOWER_BETTER},
    [RP_M_IMAGE_BYTES] = {"image_bytes", "Image size, all services", "bytes", RP_LOWER_BETTER},
};

const rp_metric_info *rp_metric_get(rp_metric m)
{
    return m >= 0 && m < RP_M_COUNT ? &metrics[m] : NULL;
}

int rp_metric_by_name(const char *name)
{
    for (int m = 0; m < RP_M_COUNT; m++)
        if (strcmp(metrics[m].name, name) == 0)
            return m;
    return -1;
}

/* Accumulates one value per iteration (sum or max of its rows). */
typedef struct per_iter {
    long *iter;
    double *val;
    int n, cap;
} per_iter;

static void per_iter_add(per_iter *pi, long iter, double v, bool use_max)
{
    if (isnan(v))
        return;
    for (int i = 0; i < pi->n; i++)
        if (pi->iter[i] == iter) {
            pi->val[i] = use_max ? fmax(pi->val[i], v) : pi->val[i] + v;
            return;
        }
    if (pi->n == pi->cap) {
        int cap = pi->cap ? pi->cap * 2 : 32;
        long *it = realloc(pi->iter, sizeof *it * (size_t)cap);
        if (it)
            pi->iter = it;
        double *va = realloc(pi->val, sizeof *va * (size_t)cap);
        if (va)
            pi->val = va;
        if (!it || !va)
            return;
        pi->cap = cap;
    }
    pi->iter[pi->n] = iter;
    pi->val[pi->n++] = v;
}

static bool metric_row_matches(const rp_mrow *m, rp_metric metric, const char *service)
{
    bool runtime_metric = metric == RP_M_RUNTIME_MEM;
    if (metric != RP_M_TOTAL_MEM && m->runtime != runtime_metric)
        return false;
    return !service || strcmp(service, m->service) == 0;
}

static void resource_values(const rp_run *r, rp_metric m, int p, const char *service, per_iter *pi)
{
    for (int i = 0; i < r->nm; i++) {
        const rp_mrow *row = &r->m[i];
        if (row->plat == p && metric_row_matches(row, m, service))
            per_iter_add(pi, row->iter, m == RP_M_CPU ? row->cpu : row->rss_mb, false);
    }
}

/* CPU spent per 1,000 requests: the services' mean CPU (percent of one
 * core) over the iteration times its measured load's duration, per request.
 * Unlike CPU alone it does not rise just because more work was done. */
static void cpu_per_request_values(const rp_run *r, int p, const char *service, per_iter *pi)
{
    per_iter cpu = {0};
    resource_values(r, RP_M_CPU, p, service, &cpu);
    for (int i = 0; i < cpu.n; i++)
        for (int k = 0; k < r->plat[p].niters; k++) {
            const rp_load *l = &r->plat[p].iters[k];
            if (l->iter == cpu.iter[i] && l->n > 0 && l->dur_ms > 0)
                per_iter_add(pi, l->iter, cpu.val[i] / 100.0 * l->dur_ms / (double)l->n * 1000.0,
                             false);
        }
    free(cpu.iter);
    free(cpu.val);
}

static double load_value(const rp_load *l, rp_metric m)
{
    switch (m) {
    case RP_M_THROUGHPUT:
        return l->dur_ms > 0 ? l->n / (l->dur_ms / 1000.0) : NAN;
    case RP_M_AVG_MS:
        return l->avg;
    case RP_M_P50_MS:
        return l->p50;
    case RP_M_P90_MS:
        return l->p90;
    case RP_M_P95_MS:
        return l->p95;
    case RP_M_P99_MS:
        return l->p99;
    case RP_M_ERROR_PCT:
        return l->n ? 100.0 * (double)l->ko / (double)l->n : NAN;
    default:
        return NAN;
    }
}

/* Platform boot: the slowest service of the iteration (they start side by
 * side); one service: the mean of its replicas. */
static void boot_values(const rp_run *r, rp_metric m, int p, const char *service, per_iter *pi)
{
    per_iter count = {0};
    for (int i = 0; i < r->nb; i++) {
        const rp_brow *b = &r->b[i];
        if (b->plat != p || (service && strcmp(service, b->service) != 0))
            continue;
        double v = m == RP_M_BOOT_MS    ? b->boot_ms
                   : m == RP_M_READY_MS ? b->ready_ms
                                        : b->process_ready_ms;
        per_iter_add(pi, b->iter, v, service == NULL);
        if (service && !isnan(v))
            per_iter_add(&count, b->iter, 1, false);
    }
    for (int i = 0; service && i < pi->n; i++)
        pi->val[i] /= count.val[i];
    free(count.iter);
    free(count.val);
}

bool rp_image_is_total(const rp_irow *im)
{
    return strcmp(im->kind, "cumulative") == 0;
}

/* Images are measured once. The metrics layer stores the disk all images
 * of a platform use together as a kind "cumulative" row; without one, the
 * total stacks each image's own part and counts the shared part (Docker
 * base layers) once. */
static void image_value(const rp_run *r, int p, const char *service, per_iter *pi)
{
    double own = 0, shared = 0, cumulative = NAN;
    int n = 0;
    for (int i = 0; i < r->nimg; i++) {
        const rp_irow *im = &r->img[i];
        if (im->plat != p || isnan(im->bytes))
            continue;
        if (rp_image_is_total(im)) {
            cumulative = im->bytes;
            continue;
        }
        if (service && strcmp(service, im->service) != 0)
            continue;
        double sh = isnan(im->shared) ? 0 : im->shared;
        own += im->bytes - sh;
        shared = fmax(shared, sh);
        n++;
    }
    if (!service && !isnan(cumulative))
        per_iter_add(pi, 0, cumulative, false);
    else if (n)
        per_iter_add(pi, 0, own + shared, false);
}

int rp_metric_values(const rp_run *r, rp_metric m, int p, const char *service, double **out)
{
    per_iter pi = {0};
    switch (m) {
    case RP_M_CPU:
    case RP_M_MEM:
    case RP_M_RUNTIME_MEM:
    case RP_M_TOTAL_MEM:
        resource_values(r, m, p, service, &pi);
        break;
    case RP_M_CPU_PER_KREQ:
        cpu_per_request_values(r, p, service, &pi);
        break;
    case RP_M_BOOT_MS:
    case RP_M_READY_MS:
    case RP_M_PROCESS_READY_MS:
        boot_values(r, m, p, service, &pi);
        break;
    case RP_M_IMAGE_BYTES:
        image_value(r, p, service, &pi);
        break;
    default:
        for (int i = 0; i < r->plat[p].niters; i++)
            per_iter_add(&pi, r->plat[p].iters[i].iter, load_value(&r->plat[p].iters[i], m), false);
    }
    free(pi.iter);
    *out = pi.val;
    return pi.n;
}
