/* thresholds.c - the config's pass/fail limits, evaluated on a stored run.
 *
 * `run` (at its end), `report --check` and `compare` all evaluate the
 * thresholds from the run's recorded config (runs.config), not from a
 * config file: what is checked is what the run was started with, and a run
 * checked again later gives the same answer. */
#include "report/report.h"
#include "report/internal.h"
#include "cli/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Request metrics come from the platform's (or label's) measured requests
 * over all finished iterations; the others are means over iterations. */
typedef struct threshold_metric {
    const char *name, *unit;
    int metric; /* rp_metric for means over iterations; -1 for request metrics */
} threshold_metric;

static const threshold_metric threshold_metrics[] = {
    {"avg_ms", "ms", -1},
    {"max_ms", "ms", -1},
    {"p50_ms", "ms", -1},
    {"p90_ms", "ms", -1},
    {"p95_ms", "ms", -1},
    {"p99_ms", "ms", -1},
    {"error_rate", "%", -1},
    {"throughput_rps", "req/s", -1},
    {"cpu_pct", "%", RP_M_CPU},
    {"cpu_per_1k_req", "core-ms", RP_M_CPU_PER_KREQ},
    {"memory_mib", "MiB", RP_M_MEM},
    {"total_memory_mib", "MiB", RP_M_TOTAL_MEM},
    {"ready_ms", "ms", RP_M_READY_MS},
    {NULL, NULL, -1},
};

static const threshold_metric *metric_named(const char *name)
{
    for (const threshold_metric *m = threshold_metrics; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

static double request_value(const rp_load *l, const char *name)
{
    if (!l || l->n == 0)
        return NAN;
    if (strcmp(name, "avg_ms") == 0)
        return l->avg;
    if (strcmp(name, "max_ms") == 0)
        return l->max;
    if (strcmp(name, "p50_ms") == 0)
        return l->p50;
    if (strcmp(name, "p90_ms") == 0)
        return l->p90;
    if (strcmp(name, "p95_ms") == 0)
        return l->p95;
    if (strcmp(name, "p99_ms") == 0)
        return l->p99;
    if (strcmp(name, "error_rate") == 0)
        return 100.0 * (double)l->ko / (double)l->n;
    if (strcmp(name, "throughput_rps") == 0)
        return l->dur_ms > 0 ? (double)l->n / (l->dur_ms / 1000.0) : NAN;
    return NAN;
}

static const rp_load *label_load(const rp_platform *pl, const char *label)
{
    if (!label[0])
        return &pl->all;
    for (int i = 0; i < pl->nlabels; i++)
        if (strcmp(pl->label[i], label) == 0)
            return &pl->labels[i];
    return NULL;
}

static double metric_value(const rp_run *r, int p, const threshold_metric *m, const char *label)
{
    if (m->metric < 0)
        return request_value(label_load(&r->plat[p], label), m->name);
    double *v = NULL;
    int n = rp_metric_values(r, (rp_metric)m->metric, p, NULL, &v);
    double mean = n > 0 ? rp_summarize(v, n).mean : NAN;
    free(v);
    return mean;
}

static bool holds(double actual, const char *op, double limit)
{
    if (isnan(actual))
        return false; /* not measured: fails closed */
    if (strcmp(op, "<") == 0)
        return actual < limit;
    if (strcmp(op, "<=") == 0)
        return actual <= limit;
    if (strcmp(op, ">") == 0)
        return actual > limit;
    return strcmp(op, ">=") == 0 && actual >= limit;
}

/* One result for threshold t on platform p. */
static json_t *evaluate_one(const rp_run *r, int p, const json_t *t)
{
    const char *name = json_string_value(json_object_get(t, "metric"));
    const char *op = json_string_value(json_object_get(t, "op"));
    const char *label = json_string_value(json_object_get(t, "label"));
    double limit = json_number_value(json_object_get(t, "value"));
    const threshold_metric *m = metric_named(name ? name : "");
    double actual = m && op ? metric_value(r, p, m, label ? label : "") : NAN;
    bool pass = m && op && holds(actual, op, limit);
    json_t *o = json_pack("{s:s, s:s, s:f, s:s, s:s, s:s, s:b}", "metric", name ? name : "?", "op",
                          op ? op : "?", "value", limit, "unit", m ? m->unit : "", "platform",
                          r->plat[p].name, "label", label ? label : "", "pass", pass);
    json_object_set_new(o, "actual", isnan(actual) ? json_null() : json_real(actual));
    if (isnan(actual))
        json_object_set_new(o, "reason", json_string(m ? "not measured" : "unknown metric"));
    return o;
}

json_t *rp_thresholds_eval(const rp_run *r)
{
    json_t *cfg = r->config ? json_loads(r->config, 0, NULL) : NULL;
    json_t *list = json_object_get(cfg, "thresholds"), *results = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *only = json_string_value(json_object_get(t, "platform"));
        bool found = false;
        for (int p = 0; p < r->nplat; p++) {
            if (only && strcmp(only, r->plat[p].name) != 0)
                continue;
            found = true;
            json_array_append_new(results, evaluate_one(r, p, t));
        }
        if (!found && only) /* the config names a platform the run never recorded */
            json_array_append_new(
                results,
                json_pack("{s:O, s:O, s:O, s:s, s:s, s:s, s:b, s:n, s:s}", "metric",
                          json_object_get(t, "metric"), "op", json_object_get(t, "op"), "value",
                          json_object_get(t, "value"), "unit", "", "platform", only, "label", "",
                          "pass", false, "actual", "reason", "platform not in the run"));
    }
    json_decref(cfg);
    return results;
}

int rp_thresholds_breached(const json_t *results)
{
    int n = 0;
    size_t i;
    json_t *t;
    json_array_foreach(results, i, t) n += !json_is_true(json_object_get(t, "pass"));
    return n;
}

/* "50 ms" but "0.1%" */
static const char *unit_gap(const char *unit)
{
    return strcmp(unit, "%") == 0 || !unit[0] ? "" : " ";
}

/* "p95_ms < 50 ms on native (get_user)" */
static void describe(const json_t *t, char *out, size_t outlen)
{
    const char *label = json_string_value(json_object_get(t, "label"));
    const char *unit = json_string_value(json_object_get(t, "unit"));
    bool labelled = label && label[0];
    snprintf(
        out, outlen, "%s %s %.10g%s%s on %s%s%s%s", json_string_value(json_object_get(t, "metric")),
        json_string_value(json_object_get(t, "op")), json_number_value(json_object_get(t, "value")),
        unit_gap(unit), unit, json_string_value(json_object_get(t, "platform")),
        labelled ? " (" : "", labelled ? label : "", labelled ? ")" : "");
}

static void actual_text(const json_t *t, char *out, size_t outlen)
{
    const json_t *a = json_object_get(t, "actual");
    if (json_is_null(a))
        snprintf(out, outlen, "%s", json_string_value(json_object_get(t, "reason")));
    else {
        const char *unit = json_string_value(json_object_get(t, "unit"));
        snprintf(out, outlen, "%.3f%s%s", json_number_value(a), unit_gap(unit), unit);
    }
}

void rp_thresholds_print(const json_t *results, FILE *out, bool markdown)
{
    size_t n = json_array_size(results);
    int bad = rp_thresholds_breached(results);
    fprintf(out, "%sThresholds: %zu of %zu passed%s\n", markdown ? "\n## " : "", n - (size_t)bad, n,
            bad ? "" : " (all)");
    size_t i;
    json_t *t;
    json_array_foreach(results, i, t)
    {
        char what[256], actual[64];
        describe(t, what, sizeof what);
        actual_text(t, actual, sizeof actual);
        bool pass = json_is_true(json_object_get(t, "pass"));
        fprintf(out, "%s%s %-48s %s\n", markdown ? "- " : "  ", pass ? "pass" : "FAIL", what,
                actual);
    }
}

void rp_thresholds_report_breaches(const json_t *results, const char *cmd)
{
    size_t i;
    json_t *t;
    json_array_foreach(results, i, t)
    {
        if (json_is_true(json_object_get(t, "pass")))
            continue;
        char what[256], actual[64];
        describe(t, what, sizeof what);
        actual_text(t, actual, sizeof actual);
        fprintf(stderr, "jungbench %s: threshold breached: %s: %s\n", cmd, what, actual);
    }
}

int jb_report_check_thresholds(const char *path, const char *run_id, const char *cmd, FILE *out,
                               int *nchecked, char *err, size_t errlen)
{
    rp_run *r = calloc(1, sizeof *r);
    if (!r)
        return snprintf(err, errlen, "out of memory"), -1;
    if (!rp_run_load(r, path, run_id, err, errlen)) {
        free(r);
        return -1;
    }
    json_t *results = rp_thresholds_eval(r);
    int bad = rp_thresholds_breached(results);
    *nchecked = (int)json_array_size(results);
    if (out && *nchecked)
        rp_thresholds_print(results, out, false);
    rp_thresholds_report_breaches(results, cmd);
    json_decref(results);
    rp_run_free(r);
    free(r);
    return bad;
}
