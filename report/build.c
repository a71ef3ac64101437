/* build.c - the report's tables, shaped like the dissertation's tables 3-6
 * (display) and as tidy data (CSV, JSON). */
#include "report/internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALPHA 0.05

char *rp_pretty_service(const char *service, char *buf, size_t len)
{
    if (strcmp(service, "api_gateway") == 0) {
        snprintf(buf, len, "API Gateway");
        return buf;
    }
    snprintf(buf, len, "%s", service);
    bool start = true;
    for (char *p = buf; *p; p++) {
        if (*p == '_' || *p == '-')
            *p = ' ';
        else if (start)
            *p = (char)toupper((unsigned char)*p);
        start = *p == ' ';
    }
    return buf;
}

static const char *plat_label(const rp_run *r, int p, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", r->plat[p].name,
             strcmp(r->plat[p].accel, "emulated") == 0 ? " (emulated)" : "");
    return buf;
}

static void add_table(rp_table **list, int *n, rp_table *t)
{
    if (*n < 24)
        list[(*n)++] = t;
    else
        rp_table_free(t);
}

/* "mean ± sd", or the one value with n=1; empty (shown "-") without data. */
static void set_mean_sd(rp_table *t, int row, int col, const rp_summary *s, int decimals)
{
    if (s->n == 0)
        rp_set_num(t, row, col, NAN, 0);
    else if (s->n == 1)
        rp_set_text(t, row, col, "%.*f (n=1)", decimals, s->mean);
    else
        rp_set_text(t, row, col, "%.*f ± %.*f", decimals, s->mean, decimals, s->sd);
}

/* A tidy table of summaries whose values share one unit: the unit is in
 * the column names (mean_mib, sd_mib, ...), so a CSV says what it holds. */
static rp_table *tidy_table(const char *id, const char *title, const char *unit)
{
    char names[4][48];
    const char *cols[8] = {"group",  "platform", "n",      names[0],
                           names[1], names[2],   names[3], "cv_pct"};
    static const char *const stems[] = {"mean", "sd", "ci95_low", "ci95_high"};
    for (int i = 0; i < 4; i++)
        snprintf(names[i], sizeof names[i], "%s_%s", stems[i], unit);
    return rp_table_new(id, title, 8, cols);
}

/* The unit as a column-name suffix: "%" -> pct, "MiB" -> mib. */
static const char *unit_suffix(const char *unit)
{
    return strcmp(unit, "%") == 0 ? "pct" : strcmp(unit, "MiB") == 0 ? "mib" : unit;
}

static void tidy_row(rp_table *t, const char *group, const char *platform, const rp_summary *s)
{
    int row = rp_table_add_row(t);
    rp_set_text(t, row, 0, "%s", group);
    rp_set_text(t, row, 1, "%s", platform);
    rp_set_num(t, row, 2, s->n, 0);
    rp_set_num(t, row, 3, s->mean, -1);
    rp_set_num(t, row, 4, s->sd, -1);
    rp_set_num(t, row, 5, s->ci_lo, -1);
    rp_set_num(t, row, 6, s->ci_hi, -1);
    rp_set_num(t, row, 7, s->cv_pct, -1);
}

static rp_summary metric_summary(const rp_run *r, rp_metric m, int p, const char *service)
{
    double *v = NULL;
    int n = rp_metric_values(r, m, p, service, &v);
    rp_summary s = rp_summarize(v, n);
    free(v);
    return s;
}

/* Tables 3 and 4: one row per microservice, one column per platform. */
static void per_service_table(const rp_run *r, rp_report *rep, rp_metric m, const char *id,
                              const char *title, const char *unit)
{
    const char *cols[RP_MAX_PLATFORMS + 1] = {"Microservice"};
    char heads[RP_MAX_PLATFORMS][96], label[80], pretty[RP_NAME];
    for (int p = 0; p < r->nplat; p++) {
        snprintf(heads[p], sizeof heads[p], "%s (%s)", plat_label(r, p, label, sizeof label), unit);
        cols[p + 1] = heads[p];
    }
    rp_table *d = rp_table_new(id, title, r->nplat + 1, cols);
    rp_table *t = tidy_table(id, title, unit_suffix(unit));
    for (int s = 0; s <= r->nsvc; s++) {
        const char *svc = s < r->nsvc ? r->svc[s] : NULL;
        int row = rp_table_add_row(d);
        rp_set_text(d, row, 0, "%s",
                    svc ? rp_pretty_service(svc, pretty, sizeof pretty) : "All services");
        for (int p = 0; p < r->nplat; p++) {
            rp_summary sum = metric_summary(r, m, p, svc);
            set_mean_sd(d, row, p + 1, &sum, 3);
            tidy_row(t, svc ? svc : "all_services", r->plat[p].name, &sum);
        }
    }
    if (r->nm == 0)
        rp_table_note(d, "Not measured: the run has no metric_summaries or metric_samples rows.");
    else
        rp_table_note(d, "Mean ± SD over iterations; replicas of a service are added up.");
    add_table(rep->display, &rep->ndisplay, d);
    add_table(rep->data, &rep->ndata, t);
}

/* Figure 24: the services' memory plus the runtime daemons'. */
static void total_memory_table(const rp_run *r, rp_report *rep)
{
    static const char *const cols[] = {"Platform", "Services (MiB)", "Runtime (MiB)",
                                       "Total (MiB)"};
    static const rp_metric parts[] = {RP_M_MEM, RP_M_RUNTIME_MEM, RP_M_TOTAL_MEM};
    static const char *const part_names[] = {"services", "runtime", "total"};
    const char *title = "Total memory including the runtime (figure 24)";
    rp_table *d = rp_table_new("total_memory", title, 4, cols);
    rp_table *t = tidy_table("total_memory", title, "mib");
    char label[80];
    for (int p = 0; p < r->nplat; p++) {
        int row = rp_table_add_row(d);
        rp_set_text(d, row, 0, "%s", plat_label(r, p, label, sizeof label));
        for (int k = 0; k < 3; k++) {
            rp_summary s = metric_summary(r, parts[k], p, NULL);
            set_mean_sd(d, row, k + 1, &s, 3);
            tidy_row(t, part_names[k], r->plat[p].name, &s);
        }
    }
    rp_table_note(d, "Runtime: daemons a platform needs besides the services (dockerd, "
                     "containerd, libvirtd, ...), as PSS (pages they share counted once; RSS "
                     "where PSS was not measured); services as RSS; '-' where the platform has "
                     "none measured.");
    add_table(rep->display, &rep->ndisplay, d);
    add_table(rep->data, &rep->ndata, t);
}

static void requests_row(rp_table *t, int row, int first_col, const rp_load *l, bool tidy)
{
    double secs = l->dur_ms / 1000.0;
    double vals[] = {(double)l->n,
                     (double)l->ko,
                     l->n ? 100.0 * (double)l->ko / (double)l->n : NAN,
                     l->avg,
                     l->min,
                     l->max,
                     l->p50,
                     l->p90,
                     l->p95,
                     l->p99,
                     secs > 0 ? l->n / secs : NAN,
                     secs > 0 ? l->bytes / 1024.0 / secs : NAN,
                     secs > 0 ? l->sent / 1024.0 / secs : NAN};
    static const int decimals[] = {0, 0, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2, 2};
    for (int i = 0; i < 13; i++)
        rp_set_num(t, row, first_col + i, l->n ? vals[i] : NAN, tidy ? -1 : decimals[i]);
}

/* Table 5: all measured requests of a platform, like JMeter's aggregate. */
static rp_table *requests_table(const rp_run *r, bool tidy)
{
    static const char *const disp[] = {
        "Platform",        "Samples",    "KO",       "Error %",  "Avg (ms)", "Min (ms)",
        "Max (ms)",        "p50 (ms)",   "p90 (ms)", "p95 (ms)", "p99 (ms)", "Throughput (/s)",
        "Received (KB/s)", "Sent (KB/s)"};
    static const char *const data[] = {
        "platform", "samples", "ko",     "error_pct", "avg_ms",         "min_ms",       "max_ms",
        "p50_ms",   "p90_ms",  "p95_ms", "p99_ms",    "throughput_rps", "received_kbs", "sent_kbs"};
    rp_table *t = rp_table_new("requests", "Requests summary (table 5)", 14, tidy ? data : disp);
    char label[80];
    for (int p = 0; p < r->nplat; p++) {
        int row = rp_table_add_row(t);
        rp_set_text(t, row, 0, "%s",
                    tidy ? r->plat[p].name : plat_label(r, p, label, sizeof label));
        requests_row(t, row, 1, &r->plat[p].all, tidy);
    }
    if (!tidy) {
        rp_table_note(t, "Measured requests of all finished iterations; throughput and KB/s over "
                         "the sum of the iterations' durations; KB = 1024 bytes.");
        for (int p = 0; p < r->nplat; p++)
            if (r->plat[p].all.n == 0)
                rp_table_note(t,
                              "%s: no measured samples recorded (the load generator wrote "
                              "none for it).",
                              r->plat[p].name);
    }
    return t;
}

/* Table 5 per request label, like JMeter's aggregate report. */
static rp_table *label_table(const rp_run *r, bool tidy)
{
    static const char *const disp[] = {
        "Platform",        "Label",           "Samples",    "KO",       "Error %",  "Avg (ms)",
        "Min (ms)",        "Max (ms)",        "p50 (ms)",   "p90 (ms)", "p95 (ms)", "p99 (ms)",
        "Throughput (/s)", "Received (KB/s)", "Sent (KB/s)"};
    static const char *const data[] = {"platform",       "label",        "samples", "ko",
                                       "error_pct",      "avg_ms",       "min_ms",  "max_ms",
                                       "p50_ms",         "p90_ms",       "p95_ms",  "p99_ms",
                                       "throughput_rps", "received_kbs", "sent_kbs"};
    rp_table *t = rp_table_new("requests_by_label", "Requests by label", 15, tidy ? data : disp);
    char label[80];
    for (int p = 0; p < r->nplat; p++)
        for (int l = 0; l < r->plat[p].nlabels; l++) {
            int row = rp_table_add_row(t);
            rp_set_text(t, row, 0, "%s",
                        tidy ? r->plat[p].name : plat_label(r, p, label, sizeof label));
            rp_set_text(t, row, 1, "%s", r->plat[p].label[l]);
            requests_row(t, row, 2, &r->plat[p].labels[l], tidy);
        }
    if (!tidy)
        rp_table_note(t, "Throughput of a label: its requests over the whole run's duration.");
    return t;
}

static void clock_time(double ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, len, "%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03d", (int)fmod(ms, 1000));
}

/* Failed requests by kind, like JMeter's dashboard's error tables: code,
 * message and label, how many and what share of the platform's measured
 * requests, when the first and the last happened (UTC). No display table
 * when nothing failed. */
static rp_table *errors_table(const rp_run *r, bool tidy)
{
    static const char *const disp[] = {"Platform", "Code",    "Message",     "Label",
                                       "Count",    "Share %", "First (UTC)", "Last (UTC)"};
    static const char *const data[] = {"platform", "code",      "message",  "label",
                                       "count",    "share_pct", "first_ms", "last_ms"};
    rp_table *t = rp_table_new("errors", "Failed requests by kind", 8, tidy ? data : disp);
    char first[32], last[32];
    for (int i = 0; i < r->nerrs; i++) {
        const rp_erow *e = &r->errs[i];
        long all = r->plat[e->plat].all.n;
        int row = rp_table_add_row(t);
        rp_set_text(t, row, 0, "%s", r->plat[e->plat].name);
        rp_set_text(t, row, 1, "%s", e->code[0] ? e->code : tidy ? "" : "-");
        rp_set_text(t, row, 2, "%s", e->message);
        rp_set_text(t, row, 3, "%s", e->label);
        rp_set_num(t, row, 4, (double)e->count, 0);
        rp_set_num(t, row, 5, all ? 100.0 * (double)e->count / (double)all : NAN, tidy ? -1 : 2);
        if (tidy) {
            rp_set_num(t, row, 6, e->first_ms, 0);
            rp_set_num(t, row, 7, e->last_ms, 0);
        } else {
            clock_time(e->first_ms, first, sizeof first);
            clock_time(e->last_ms, last, sizeof last);
            rp_set_text(t, row, 6, "%s", first);
            rp_set_text(t, row, 7, "%s", last);
        }
    }
    if (!tidy && r->nerrs == RP_MAX_ERROR_ROWS)
        rp_table_note(t, "The %d most frequent kinds; the JTL export holds every failure.",
                      RP_MAX_ERROR_ROWS);
    return t;
}

static const rp_metric iteration_metrics[] = {RP_M_THROUGHPUT, RP_M_AVG_MS, RP_M_P50_MS,
                                              RP_M_P90_MS,     RP_M_P95_MS, RP_M_P99_MS,
                                              RP_M_ERROR_PCT};

/* Per-iteration spread of the request figures: what the tests compare. */
static void iteration_table(const rp_run *r, rp_report *rep)
{
    const char *cols[RP_MAX_PLATFORMS + 1] = {"Metric"};
    char label[RP_MAX_PLATFORMS][80], name[96];
    for (int p = 0; p < r->nplat; p++)
        cols[p + 1] = plat_label(r, p, label[p], sizeof label[p]);
    const char *title = "Requests per iteration (mean ± SD over iterations)";
    rp_table *d = rp_table_new("requests_per_iteration", title, r->nplat + 1, cols);
    /* Rows of different units: the unit is a column of its own. */
    rp_table *t = rp_table_new("requests_per_iteration", title, 9,
                               (const char *[]){"group", "platform", "n", "mean", "sd", "ci95_low",
                                                "ci95_high", "cv_pct", "unit"});
    for (size_t i = 0; i < sizeof iteration_metrics / sizeof *iteration_metrics; i++) {
        const rp_metric_info *mi = rp_metric_get(iteration_metrics[i]);
        int row = rp_table_add_row(d);
        snprintf(name, sizeof name, "%s (%s)", mi->title, mi->unit);
        rp_set_text(d, row, 0, "%s", name);
        for (int p = 0; p < r->nplat; p++) {
            rp_summary s = metric_summary(r, iteration_metrics[i], p, NULL);
            set_mean_sd(d, row, p + 1, &s, 2);
            tidy_row(t, mi->name, r->plat[p].name, &s);
            rp_set_text(t, t->nrows - 1, 8, "%s", mi->unit);
        }
    }
    add_table(rep->display, &rep->ndisplay, d);
    add_table(rep->data, &rep->ndata, t);
}

static bool has_boot_service(const rp_run *r, const char *svc)
{
    for (int i = 0; i < r->nb; i++)
        if (strcmp(r->b[i].service, svc) == 0)
            return true;
    return false;
}

static void boot_table(const rp_run *r, rp_report *rep)
{
    /* Per platform: boot, process ready ("started" line), ready (group joined). */
    enum { K = 3 };
    static const rp_metric kinds[K] = {RP_M_BOOT_MS, RP_M_PROCESS_READY_MS, RP_M_READY_MS};
    static const char *const kind_heads[K] = {"boot", "up", "ready"};
    const char *cols[K * RP_MAX_PLATFORMS + 1] = {"Service"};
    char heads[K * RP_MAX_PLATFORMS][112], label[80], pretty[RP_NAME];
    for (int p = 0; p < r->nplat; p++) {
        plat_label(r, p, label, sizeof label);
        for (int k = 0; k < K; k++) {
            snprintf(heads[K * p + k], sizeof heads[0], "%s %s (ms)", label, kind_heads[k]);
            cols[K * p + k + 1] = heads[K * p + k];
        }
    }
    const char *title = "Boot and ready times";
    rp_table *d = rp_table_new("boot", title, K * r->nplat + 1, cols);
    rp_table *t = rp_table_new("boot", title, 9,
                               (const char *[]){"group", "platform", "n", "mean_ms", "sd_ms",
                                                "ci95_low_ms", "ci95_high_ms", "cv_pct", "what"});
    /* Services in table order, then any only boot_times knows (gateways). */
    char order[RP_MAX_SERVICES][RP_NAME];
    int n = 0;
    for (int s = 0; s < r->nsvc; s++)
        if (has_boot_service(r, r->svc[s]))
            memcpy(order[n++], r->svc[s], RP_NAME);
    for (int i = 0; i < r->nb && n < RP_MAX_SERVICES; i++) {
        bool seen = false;
        for (int k = 0; k < n; k++)
            seen = seen || strcmp(order[k], r->b[i].service) == 0;
        if (!seen)
            memcpy(order[n++], r->b[i].service, RP_NAME);
    }
    for (int s = 0; s <= n && r->nb; s++) {
        const char *svc = s < n ? order[s] : NULL;
        int row = rp_table_add_row(d);
        rp_set_text(d, row, 0, "%s",
                    svc ? rp_pretty_service(svc, pretty, sizeof pretty) : "Slowest service");
        for (int p = 0; p < r->nplat; p++)
            for (int k = 0; k < K; k++) {
                rp_summary sum = metric_summary(r, kinds[k], p, svc);
                set_mean_sd(d, row, K * p + 1 + k, &sum, 1);
                tidy_row(t, svc ? svc : "slowest", r->plat[p].name, &sum);
                rp_set_text(t, t->nrows - 1, 8, "%s", rp_metric_get(kinds[k])->name);
            }
    }
    if (r->nb == 0)
        rp_table_note(d, "Not measured: the run has no boot_times rows.");
    else
        rp_table_note(d, "Boot: start call to running; up: start call to the service's "
                         "'started' line (process up, connected to its broker); ready: start "
                         "call to its readiness line, once its consumer group assigned it "
                         "(the join includes the broker's rebalance). '(emulated)': the guest "
                         "ran without KVM, so its times are not comparable with "
                         "hardware-accelerated runs.");
    add_table(rep->display, &rep->ndisplay, d);
    add_table(rep->data, &rep->ndata, t);
}

static void human_bytes(double b, char *buf, size_t len)
{
    if (b >= 1024.0 * 1024 * 1024)
        snprintf(buf, len, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024)
        snprintf(buf, len, "%.1f MiB", b / (1024.0 * 1024));
    else
        snprintf(buf, len, "%.1f KiB", b / 1024.0);
}

static void image_table(const rp_run *r, rp_report *rep)
{
    static const char *const dcols[] = {"Platform", "Image", "Kind", "Size", "Shared"};
    static const char *const tcols[] = {"platform", "image", "kind", "bytes", "shared_bytes"};
    const char *title = "Image sizes on disk (figure 25)";
    rp_table *d = rp_table_new("images", title, 5, dcols);
    rp_table *t = rp_table_new("images", title, 5, tcols);
    char label[80], size[32];
    for (int p = 0; p < r->nplat; p++) {
        int rows = 0;
        for (int i = 0; i < r->nimg; i++) {
            const rp_irow *im = &r->img[i];
            if (im->plat != p || rp_image_is_total(im))
                continue;
            int row = rp_table_add_row(d), trow = rp_table_add_row(t);
            rp_set_text(d, row, 0, "%s", plat_label(r, p, label, sizeof label));
            rp_set_text(d, row, 1, "%s", im->service);
            rp_set_text(d, row, 2, "%s", im->kind);
            human_bytes(im->bytes, size, sizeof size);
            rp_set_text(d, row, 3, "%s", size);
            human_bytes(isnan(im->shared) ? 0 : im->shared, size, sizeof size);
            rp_set_text(d, row, 4, "%s", size);
            rp_set_text(t, trow, 0, "%s", r->plat[p].name);
            rp_set_text(t, trow, 1, "%s", im->service);
            rp_set_text(t, trow, 2, "%s", im->kind);
            rp_set_num(t, trow, 3, im->bytes, -1);
            rp_set_num(t, trow, 4, im->shared, -1);
            rows++;
        }
        double *v = NULL;
        if (rows && rp_metric_values(r, RP_M_IMAGE_BYTES, p, NULL, &v) == 1) {
            int row = rp_table_add_row(d);
            rp_set_text(d, row, 0, "%s", plat_label(r, p, label, sizeof label));
            rp_set_text(d, row, 1, "All images on disk");
            rp_set_text(d, row, 2, "total");
            human_bytes(v[0], size, sizeof size);
            rp_set_text(d, row, 3, "%s", size);
            int trow = rp_table_add_row(t);
            rp_set_text(t, trow, 0, "%s", r->plat[p].name);
            rp_set_text(t, trow, 1, "all_images");
            rp_set_text(t, trow, 2, "total");
            rp_set_num(t, trow, 3, v[0], -1);
        }
        free(v);
    }
    rp_table_note(
        d,
        r->nimg
            ? "Bytes: the whole image; shared: its layers another image also uses. Total: the disk "
              "all images use together, every layer counted once."
            : "Not measured: the run has no image_sizes rows.");
    add_table(rep->display, &rep->ndisplay, d);
    add_table(rep->data, &rep->ndata, t);
}

/* ---- table 6 and the tests behind it ------------------------------------ */

static const rp_metric summary_metrics[] = {RP_M_CPU,         RP_M_MEM,        RP_M_TOTAL_MEM,
                                            RP_M_IMAGE_BYTES, RP_M_THROUGHPUT, RP_M_AVG_MS,
                                            RP_M_P99_MS,      RP_M_ERROR_PCT,  RP_M_READY_MS};

static bool better(rp_metric m, double a, double b)
{
    return rp_metric_get(m)->better == RP_HIGHER_BETTER ? a > b : a < b;
}

typedef struct verdict {
    int best;       /* platform index, -1 when undecided */
    char text[160]; /* the Best Platform cell */
    char why[256];  /* the evidence */
    double worst_p; /* largest p of best vs the others */
} verdict;

/* One row of the tests table, in its display and tidy forms. */
static void add_test_row(rp_table *const tables[2], rp_metric m, const char *a, const char *b,
                         double mean_a, double mean_b, const rp_mwu *t)
{
    for (int k = 0; k < 2; k++) {
        rp_table *tb = tables[k];
        bool tidy = k == 1;
        int row = rp_table_add_row(tb);
        rp_set_text(tb, row, 0, "%s", tidy ? rp_metric_get(m)->name : rp_metric_get(m)->title);
        rp_set_text(tb, row, 1, "%s", a);
        rp_set_text(tb, row, 2, "%s", b);
        rp_set_num(tb, row, 3, mean_a, tidy ? -1 : 2);
        rp_set_num(tb, row, 4, mean_b, tidy ? -1 : 2);
        rp_set_num(tb, row, 5, t->u, tidy ? -1 : 1);
        rp_set_num(tb, row, 6, t->p, tidy ? -1 : 4);
        rp_set_text(tb, row, 7, "%s", t->exact ? "exact" : "normal approx.");
    }
}

typedef struct metric_values {
    double *vals[RP_MAX_PLATFORMS], mean[RP_MAX_PLATFORMS];
    int n[RP_MAX_PLATFORMS], measured, lead;
} metric_values;

/* The leading platform tested against every other: best only when every
 * difference is significant. */
static void judge(const rp_run *r, rp_metric m, const metric_values *mv, rp_table *const tests[2],
                  verdict *v)
{
    bool all_sig = true;
    double min_p = 0;
    int lead = mv->lead;
    for (int q = 0; q < r->nplat; q++) {
        if (q == lead || mv->n[q] == 0)
            continue;
        rp_mwu t = rp_mann_whitney(mv->vals[lead], mv->n[lead], mv->vals[q], mv->n[q]);
        v->worst_p = isnan(v->worst_p) ? t.p : fmax(v->worst_p, t.p);
        min_p = fmax(min_p, t.min_p);
        all_sig = all_sig && t.p < ALPHA;
        add_test_row(tests, m, r->plat[lead].name, r->plat[q].name, mv->mean[lead], mv->mean[q],
                     &t);
    }
    if (all_sig) {
        v->best = lead;
        snprintf(v->text, sizeof v->text, "%s", r->plat[lead].name);
        snprintf(v->why, sizeof v->why, "Mann-Whitney p = %.4g (largest vs the others)",
                 v->worst_p);
    } else {
        snprintf(v->text, sizeof v->text, "no significant difference");
        snprintf(v->why, sizeof v->why, "p = %.4g >= %.2f%s", v->worst_p, ALPHA,
                 min_p >= ALPHA ? "; too few iterations to ever reach it (run 4 or more)" : "");
    }
}

static verdict decide(const rp_run *r, rp_metric m, rp_table *const tests[2])
{
    verdict v = {.best = -1, .worst_p = NAN};
    metric_values mv = {.lead = -1};
    for (int p = 0; p < r->nplat; p++) {
        mv.n[p] = rp_metric_values(r, m, p, NULL, &mv.vals[p]);
        mv.mean[p] = rp_summarize(mv.vals[p], mv.n[p]).mean;
        if (mv.n[p] == 0)
            continue;
        mv.measured++;
        if (mv.lead < 0 || better(m, mv.mean[p], mv.mean[mv.lead]))
            mv.lead = p;
    }
    if (mv.measured < 2) {
        snprintf(v.text, sizeof v.text, "not compared");
        snprintf(v.why, sizeof v.why, "%s",
                 mv.measured ? "only one platform measured" : "not measured");
    } else if (m == RP_M_IMAGE_BYTES) {
        v.best = mv.lead;
        snprintf(v.text, sizeof v.text, "%s", r->plat[mv.lead].name);
        snprintf(v.why, sizeof v.why, "measured once, exactly (no sampling error to test)");
    } else {
        judge(r, m, &mv, tests, &v);
    }
    for (int p = 0; p < r->nplat; p++)
        free(mv.vals[p]);
    return v;
}

static void summary_tables(const rp_run *r, rp_report *rep)
{
    static const char *const dcols[] = {"Metric", "Best platform", "Evidence"};
    static const char *const tcols[] = {"metric", "best_platform", "significant", "p_value",
                                        "evidence"};
    static const char *const pcols[] = {"Metric", "Platform A", "Platform B", "Mean A",
                                        "Mean B", "U",          "p",          "Test"};
    static const char *const ptcols[] = {"metric", "platform_a", "platform_b", "mean_a",
                                         "mean_b", "u",          "p_value",    "test"};
    rp_table *d = rp_table_new("summary", "Results summary (table 6)", 3, dcols);
    rp_table *t = rp_table_new("summary", "Results summary (table 6)", 5, tcols);
    const char *ptitle = "Mann-Whitney U tests over per-iteration values (best vs the others)";
    rp_table *pd = rp_table_new("tests", ptitle, 8, pcols);
    rp_table *pt = rp_table_new("tests", ptitle, 8, ptcols);
    for (size_t i = 0; i < sizeof summary_metrics / sizeof *summary_metrics; i++) {
        rp_metric m = summary_metrics[i];
        verdict v = decide(r, m, (rp_table *const[2]){pd, pt});
        int row = rp_table_add_row(d), trow = rp_table_add_row(t);
        rp_set_text(d, row, 0, "%s", rp_metric_get(m)->title);
        rp_set_text(d, row, 1, "%s", v.text);
        rp_set_text(d, row, 2, "%s", v.why);
        rp_set_text(t, trow, 0, "%s", rp_metric_get(m)->name);
        rp_set_text(t, trow, 1, "%s", v.best >= 0 ? r->plat[v.best].name : "");
        rp_set_num(t, trow, 2, v.best >= 0, 0);
        rp_set_num(t, trow, 3, v.worst_p, -1);
        rp_set_text(t, trow, 4, "%s", v.why);
    }
    rp_table_note(d,
                  "A platform is best only where it beats every other platform with "
                  "p < %.2f (two-sided Mann-Whitney U over per-iteration values).",
                  ALPHA);
    add_table(rep->display, &rep->ndisplay, d);
    add_table(rep->data, &rep->ndata, t);
    if (pd->nrows == 0)
        rp_table_note(pd, "No tests: %s.",
                      r->nplat < 2 ? "only one platform was measured, there is nothing to compare"
                                   : "no metric was measured on two platforms");
    add_table(rep->display, &rep->ndisplay, pd);
    add_table(rep->data, &rep->ndata, pt);
}

void rp_report_build(const rp_run *r, rp_report *rep)
{
    memset(rep, 0, sizeof *rep);
    per_service_table(r, rep, RP_M_CPU, "cpu", "CPU usage per microservice (table 3)", "%");
    per_service_table(r, rep, RP_M_MEM, "memory", "Memory usage per microservice, RSS (table 4)",
                      "MiB");
    total_memory_table(r, rep);
    add_table(rep->display, &rep->ndisplay, requests_table(r, false));
    add_table(rep->data, &rep->ndata, requests_table(r, true));
    add_table(rep->display, &rep->ndisplay, label_table(r, false));
    add_table(rep->data, &rep->ndata, label_table(r, true));
    if (r->nerrs)
        add_table(rep->display, &rep->ndisplay, errors_table(r, false));
    add_table(rep->data, &rep->ndata, errors_table(r, true));
    iteration_table(r, rep);
    boot_table(r, rep);
    image_table(r, rep);
    summary_tables(r, rep);
}

void rp_report_free(rp_report *rep)
{
    for (int i = 0; i < rep->ndisplay; i++)
        rp_table_free(rep->display[i]);
    for (int i = 0; i < rep->ndata; i++)
        rp_table_free(rep->data[i]);
    memset(rep, 0, sizeof *rep);
}

void rp_utc(double ms, char *buf, size_t len)
{
    if (isnan(ms) || ms <= 0) {
        snprintf(buf, len, "unknown");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void rp_print_header(const rp_run *r, FILE *out, bool markdown)
{
    char started[40], finished[40];
    rp_utc(r->started_ms, started, sizeof started);
    rp_utc(r->finished_ms, finished, sizeof finished);
    fprintf(out, "%sjungbench report: run %s%s%s\n", markdown ? "# " : "", r->run_id,
            r->name[0] ? " - " : "", r->name);
    fprintf(out, "%sstatus %s, started %s, finished %s\n", markdown ? "\n" : "",
            r->status[0] ? r->status : "unknown", started, finished);
    for (int p = 0; p < r->nplat; p++) {
        const rp_platform *pl = &r->plat[p];
        const char *build = pl->build[0] ? pl->build : "unknown";
        if (pl->iters_total)
            fprintf(out, "%s%s: %d iterations recorded, %d left out, accel %s, build %s\n",
                    markdown ? "- " : "  ", pl->name, pl->iters_total, pl->iters_bad,
                    pl->accel[0] ? pl->accel : "unknown", build);
        else /* the load generator run alone writes no iterations rows */
            fprintf(out,
                    "%s%s: no iterations rows; %d iterations with samples, accel %s, build %s\n",
                    markdown ? "- " : "  ", pl->name, pl->niters,
                    pl->accel[0] ? pl->accel : "unknown", build);
    }
    if (r->warnings[0]) {
        const char *s = r->warnings;
        while (*s) {
            const char *nl = strchr(s, '\n');
            int len = nl ? (int)(nl - s) : (int)strlen(s);
            fprintf(out, "%sWARNING: %.*s\n", markdown ? "> " : "", len, s);
            s += len + (nl != NULL);
        }
    }
    fputc('\n', out);
}
