/* html.c - one self-contained HTML page: inline SVG charts (the
 * dissertation's figures 22-27 and boot times) beside readable tables. No
 * scripts, fonts or images from the network. */
#include "report/internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 640
#define H 330
#define ML 70 /* left margin: y tick labels */
#define MR 16
#define MT 34 /* top: legend */
#define MB 78 /* bottom: rotated category labels */
#define MAX_CATS 64

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                      "#76b7b2", "#edc948", "#b07aa1", "#9c755f"};

static const char *color(int i)
{
    return palette[i % (int)(sizeof palette / sizeof *palette)];
}

/* The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 or 10 times a
 * power of ten) >= v: an axis top that divides into five readable ticks. */
static double nice_ceil(double v)
{
    static const double steps[] = {1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10};
    if (!(v > 0))
        return 1;
    double p = pow(10, floor(log10(v)));
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        if (v <= steps[i] * p * (1 + 1e-12))
            return steps[i] * p;
    return 10 * p;
}

typedef struct chart {
    const char *id, *title, *unit;
    int ncat, nser;
    const char *cat[MAX_CATS];
    const char *ser[RP_MAX_PLATFORMS];
    double val[MAX_CATS][RP_MAX_PLATFORMS], err[MAX_CATS][RP_MAX_PLATFORMS];
} chart;

static void svg_text(FILE *out, double x, double y, const char *anchor, const char *extra,
                     const char *s)
{
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>", x, y, anchor, extra);
    rp_html_escape(out, s);
    fputs("</text>\n", out);
}

static void legend(FILE *out, const chart *c)
{
    double x = ML;
    for (int s = 0; s < c->nser; s++) {
        fprintf(out, "<rect x=\"%.1f\" y=\"8\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", x,
                color(s));
        svg_text(out, x + 16, 18, "start", "", c->ser[s]);
        x += 28 + 7.5 * (double)strlen(c->ser[s]);
    }
}

/* y axis with 5 gridlines from 0 to top; returns the scale in px per unit. */
static double y_axis(FILE *out, double top, const char *unit)
{
    double plot_h = H - MT - MB, scale = plot_h / top;
    for (int i = 0; i <= 5; i++) {
        double v = top * i / 5, y = H - MB - v * scale;
        char label[32];
        snprintf(label, sizeof label, "%g", v);
        fprintf(out, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n", ML,
                W - MR, y, y);
        svg_text(out, ML - 6, y + 4, "end", "", label);
    }
    char rot[64];
    snprintf(rot, sizeof rot, " transform=\"rotate(-90 14 %d)\"", (H - MB + MT) / 2);
    svg_text(out, 14, (H - MB + MT) / 2.0, "middle", rot, unit);
    return scale;
}

/* height: H for a chart, less for the one-line "not measured" notice. */
static void svg_open(FILE *out, const chart *c, int height)
{
    fprintf(out,
            "<figure><svg class=\"chart\" data-chart=\"%s\" viewBox=\"0 0 %d %d\" width=\"%d\" "
            "height=\"%d\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">\n<title>",
            c->id, W, height, W, height);
    rp_html_escape(out, c->title);
    fputs("</title>\n", out);
}

static void svg_close(FILE *out, const chart *c)
{
    fputs("</svg><figcaption>", out);
    rp_html_escape(out, c->title);
    fputs("</figcaption></figure>\n", out);
}

/* Bars that span this many times from the smallest to the largest get a
 * logarithmic axis: on a linear one a native bar beside an emulated
 * guest's 100x taller one is a line of a pixel. */
#define LOG_RATIO 100.0

typedef struct bar_scale {
    bool log;
    double lo, hi; /* the axis in data units; lo is 0 on a linear axis */
} bar_scale;

/* The pixel row of value v, clamped to the plot: a whisker reaching below
 * zero (a mean of 6,045 ± 6,706 ms) stops at the axis. */
static double bar_y(const bar_scale *s, double v)
{
    double f = s->log ? (v <= s->lo ? 0 : (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo)))
                      : v / s->hi;
    return H - MB - fmin(fmax(f, 0), 1) * (H - MT - MB);
}

static bar_scale choose_scale(const chart *c, int *bars)
{
    double top = 0, smallest = INFINITY;
    *bars = 0;
    for (int k = 0; k < c->ncat; k++)
        for (int s = 0; s < c->nser; s++) {
            double v = c->val[k][s], e = c->err[k][s];
            if (isnan(v))
                continue;
            top = fmax(top, v + (isnan(e) ? 0 : e));
            if (v > 0)
                smallest = fmin(smallest, v);
            (*bars)++;
        }
    bar_scale sc = {.hi = nice_ceil(top)};
    if (isfinite(smallest) && top / smallest >= LOG_RATIO)
        sc = (bar_scale){
            .log = true, .lo = pow(10, floor(log10(smallest))), .hi = pow(10, ceil(log10(top)))};
    return sc;
}

/* Gridlines: five on a linear axis, one per power of ten on a log one. */
static void bar_axis(FILE *out, const bar_scale *sc, const char *unit)
{
    int lines = sc->log ? (int)lround(log10(sc->hi / sc->lo)) : 5;
    for (int i = 0; i <= lines; i++) {
        double v = sc->log ? sc->lo * pow(10, i) : sc->hi * i / 5, y = bar_y(sc, v);
        char label[32];
        snprintf(label, sizeof label, "%g", v);
        fprintf(out, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n", ML,
                W - MR, y, y);
        svg_text(out, ML - 6, y + 4, "end", "", label);
    }
    char rot[64], text[64];
    snprintf(rot, sizeof rot, " transform=\"rotate(-90 14 %d)\"", (H - MB + MT) / 2);
    snprintf(text, sizeof text, "%s%s", unit, sc->log ? " (log scale)" : "");
    svg_text(out, 14, (H - MB + MT) / 2.0, "middle", rot, text);
}

static void bar(FILE *out, const chart *c, const bar_scale *sc, int k, int s, double x, double bw)
{
    double v = c->val[k][s], e = c->err[k][s], y = bar_y(sc, v), base = bar_y(sc, sc->lo);
    fprintf(out,
            "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"%s\"><title>",
            x, y, fmax(bw - 1, 1), base - y, color(s));
    rp_html_escape(out, c->ser[s]);
    fprintf(out, " %s: %g %s%s", c->cat[k], v, c->unit, isnan(e) ? "" : " ±");
    if (!isnan(e))
        fprintf(out, " %g", e);
    fputs("</title></rect>\n", out);
    if (isnan(e) || e <= 0)
        return;
    double hi = bar_y(sc, v + e), lo = bar_y(sc, fmax(v - e, sc->lo)), mid = x + bw / 2;
    fprintf(out, "<path class=\"err\" d=\"M%.1f %.1fV%.1fM%.1f %.1fh6M%.1f %.1fh6\"/>\n", mid, hi,
            lo, mid - 3, hi, mid - 3, lo);
}

/* Grouped bars: categories along x, one bar per series, SD whiskers. */
static void bar_chart(FILE *out, const chart *c)
{
    int bars;
    bar_scale sc = choose_scale(c, &bars);
    svg_open(out, c, bars ? H : 40);
    if (bars == 0) {
        svg_text(out, W / 2.0, 24, "middle", " class=\"empty\"", "not measured in this run");
        svg_close(out, c);
        return;
    }
    fprintf(out, "<desc class=\"scale\">%s</desc>\n", sc.log ? "log" : "linear");
    bar_axis(out, &sc, c->unit);
    double slot = (double)(W - ML - MR) / c->ncat, bw = slot * 0.8 / c->nser;
    for (int k = 0; k < c->ncat; k++) {
        double x0 = ML + k * slot + slot * 0.1;
        for (int s = 0; s < c->nser; s++)
            if (!isnan(c->val[k][s]))
                bar(out, c, &sc, k, s, x0 + s * bw, bw);
        char rot[96];
        double lx = x0 + slot * 0.4, ly = H - MB + 14;
        snprintf(rot, sizeof rot, " transform=\"rotate(-30 %.1f %.1f)\"", lx, ly);
        svg_text(out, lx, ly, c->ncat > 4 ? "end" : "middle", c->ncat > 4 ? rot : "", c->cat[k]);
    }
    fprintf(out, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"axis\"/>\n", ML, W - MR,
            H - MB, H - MB);
    legend(out, c);
    svg_close(out, c);
}

static void chart_init(chart *c, const rp_run *r, const char *id, const char *title,
                       const char *unit)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->title = title;
    c->unit = unit;
    c->nser = r->nplat;
    for (int p = 0; p < r->nplat; p++)
        c->ser[p] = r->plat[p].name;
    for (int k = 0; k < MAX_CATS; k++)
        for (int s = 0; s < RP_MAX_PLATFORMS; s++)
            c->val[k][s] = c->err[k][s] = NAN;
}

static void fill_metric(chart *c, const rp_run *r, int cat, rp_metric m, const char *service,
                        double div)
{
    for (int p = 0; p < r->nplat; p++) {
        double *v = NULL;
        int n = rp_metric_values(r, m, p, service, &v);
        rp_summary s = rp_summarize(v, n);
        free(v);
        c->val[cat][p] = s.mean / div;
        c->err[cat][p] = s.sd / div;
    }
}

static void per_service_chart(FILE *out, const rp_run *r, rp_metric m, const char *id,
                              const char *title, const char *unit, char names[][RP_NAME])
{
    chart *c = malloc(sizeof *c);
    if (!c)
        return;
    chart_init(c, r, id, title, unit);
    for (int s = 0; s < r->nsvc && s < MAX_CATS; s++) {
        c->cat[c->ncat] = rp_pretty_service(r->svc[s], names[s], RP_NAME);
        fill_metric(c, r, c->ncat++, m, r->svc[s], 1);
    }
    bar_chart(out, c);
    free(c);
}

static void total_memory_chart(FILE *out, const rp_run *r)
{
    chart *c = malloc(sizeof *c);
    if (!c)
        return;
    chart_init(c, r, "total_memory", "Figure 24: total memory including the runtime (MiB)", "MiB");
    static const char *const cats[] = {"Services", "Runtime", "Total"};
    static const rp_metric ms[] = {RP_M_MEM, RP_M_RUNTIME_MEM, RP_M_TOTAL_MEM};
    for (int k = 0; k < 3; k++) {
        c->cat[k] = cats[k];
        fill_metric(c, r, k, ms[k], NULL, 1);
    }
    c->ncat = 3;
    bar_chart(out, c);
    free(c);
}

static void image_chart(FILE *out, const rp_run *r)
{
    chart *c = malloc(sizeof *c);
    if (!c)
        return;
    chart_init(c, r, "images", "Figure 25: image sizes on disk (MiB)", "MiB");
    for (int i = 0; i < r->nimg; i++) {
        if (rp_image_is_total(&r->img[i]))
            continue;
        int k = 0;
        while (k < c->ncat && strcmp(c->cat[k], r->img[i].service) != 0)
            k++;
        if (k == c->ncat && c->ncat < MAX_CATS - 1)
            c->cat[c->ncat++] = r->img[i].service;
        if (k < c->ncat)
            c->val[k][r->img[i].plat] = r->img[i].bytes / (1024.0 * 1024);
    }
    if (c->ncat) {
        c->cat[c->ncat] = "All images (shared once)";
        fill_metric(c, r, c->ncat++, RP_M_IMAGE_BYTES, NULL, 1024.0 * 1024);
    }
    bar_chart(out, c);
    free(c);
}

static void boot_chart(FILE *out, const rp_run *r, char names[][RP_NAME])
{
    chart *c = malloc(sizeof *c);
    if (!c)
        return;
    chart_init(c, r, "boot", "Ready time per service: start call to readiness (ms)", "ms");
    /* names[k]: the service as stored; names[half + k]: its display name */
    const int half = MAX_CATS / 2;
    for (int i = 0; i < r->nb && c->ncat < half; i++) {
        int k = 0;
        while (k < c->ncat && strcmp(names[k], r->b[i].service) != 0)
            k++;
        if (k < c->ncat)
            continue;
        snprintf(names[k], RP_NAME, "%s", r->b[i].service);
        c->cat[c->ncat] = rp_pretty_service(names[k], names[half + k], RP_NAME);
        fill_metric(c, r, c->ncat++, RP_M_READY_MS, names[k], 1);
    }
    bar_chart(out, c);
    free(c);
}

/* Figure 26: how many responses fell in each response-time bin. Bins are
 * a round width sized so 20 of them reach the slowest platform's p95 (a
 * p99 bound lets a heavy tail squeeze the bulk into one bin); the last bin
 * holds everything slower. */
static void histogram_chart(FILE *out, const rp_run *r, char labels[][RP_NAME])
{
    chart *c = malloc(sizeof *c);
    if (!c)
        return;
    chart_init(c, r, "histogram", "Figure 26: response-time distribution (responses per bin)",
               "responses");
    double p95 = 0;
    for (int p = 0; p < r->nplat; p++)
        if (r->plat[p].all.n)
            p95 = fmax(p95, r->plat[p].all.p95);
    double width = nice_ceil(fmax(p95, 1) / 20);
    const int nbins = 21;
    for (int k = 0; k < nbins; k++) {
        if (k < nbins - 1)
            snprintf(labels[k], RP_NAME, "%g-%g ms", k * width, (k + 1) * width);
        else
            snprintf(labels[k], RP_NAME, ">= %g ms", k * width);
        c->cat[k] = labels[k];
    }
    c->ncat = nbins;
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT min(CAST(coalesce(elapsed_us / 1000.0, elapsed) / ?3 AS INTEGER), %d),"
             " count(*) FROM samples x"
             " WHERE run_id=?1 AND platform=?2 AND coalesce(phase,'measure')='measure' AND %s"
             " GROUP BY 1",
             nbins - 1, rp_iter_ok_sql());
    for (int p = 0; p < r->nplat; p++) {
        sqlite3_stmt *st = NULL;
        if (!r->plat[p].all.n || sqlite3_prepare_v2(r->store.db, sql, -1, &st, NULL) != SQLITE_OK)
            continue;
        sqlite3_bind_text(st, 1, r->run_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, r->plat[p].name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 3, width);
        for (int k = 0; k < nbins; k++)
            c->val[k][p] = 0; /* measured: an empty bin is a true zero */
        while (sqlite3_step(st) == SQLITE_ROW) {
            int k = sqlite3_column_int(st, 0);
            if (k >= 0 && k < nbins)
                c->val[k][p] = sqlite3_column_double(st, 1);
        }
        sqlite3_finalize(st);
    }
    bar_chart(out, c);
    free(c);
}

/* Figure 27: mean response time at each request index of the per-user
 * dataset, one line per platform over a faint mean ± SD band (the
 * dissertation's "deviation values in the background"). Long runs are
 * averaged into MAX_POINTS buckets. */
enum { MAX_POINTS = 500 };

typedef struct line_series {
    double x[MAX_POINTS], mean[MAX_POINTS], sd[MAX_POINTS];
    int n;
    bool dashed; /* a second line of the same platform (p99 beside p50) */
} line_series;

static void line_points(const rp_run *r, int p, line_series *ls)
{
    char sql[1200];
    snprintf(sql, sizeof sql,
             "WITH s AS (SELECT seq, coalesce(elapsed_us / 1000.0, elapsed) AS e FROM samples x"
             " WHERE run_id=?1 AND platform=?2 AND coalesce(phase,'measure')='measure'"
             " AND seq IS NOT NULL AND %s), m AS (SELECT max(seq) + 1 AS top FROM s)"
             " SELECT CAST(seq * %d / max(m.top, %d) AS INTEGER) AS b, avg(seq), avg(e),"
             " avg(e * e), count(*) FROM s, m GROUP BY b ORDER BY b",
             rp_iter_ok_sql(), MAX_POINTS, MAX_POINTS);
    sqlite3_stmt *st = NULL;
    ls->n = 0;
    if (sqlite3_prepare_v2(r->store.db, sql, -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, r->run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->plat[p].name, -1, SQLITE_TRANSIENT);
    while (ls->n < MAX_POINTS && sqlite3_step(st) == SQLITE_ROW) {
        double mean = sqlite3_column_double(st, 2), sq = sqlite3_column_double(st, 3);
        double k = sqlite3_column_double(st, 4);
        ls->x[ls->n] = sqlite3_column_double(st, 1);
        ls->mean[ls->n] = mean;
        /* sample SD from the sums; rounding can make the variance -0 */
        ls->sd[ls->n++] = k > 1 ? sqrt(fmax(0, (sq - mean * mean) * k / (k - 1))) : 0;
    }
    sqlite3_finalize(st);
}

typedef struct plot_area {
    double xscale, yscale, top;
} plot_area;

static double px_x(const plot_area *a, double x)
{
    return ML + x * a->xscale;
}

static double px_y(const plot_area *a, double y)
{
    return H - MB - fmin(fmax(y, 0), a->top) * a->yscale;
}

static void draw_series(FILE *out, const line_series *ls, const plot_area *a, int p)
{
    fprintf(out, "<polygon class=\"band\" fill=\"%s\" fill-opacity=\"0.15\" points=\"", color(p));
    for (int i = 0; i < ls->n; i++)
        fprintf(out, "%.1f,%.1f ", px_x(a, ls->x[i]), px_y(a, ls->mean[i] + ls->sd[i]));
    for (int i = ls->n - 1; i >= 0; i--)
        fprintf(out, "%.1f,%.1f ", px_x(a, ls->x[i]), px_y(a, ls->mean[i] - ls->sd[i]));
    fprintf(out, "\"/>\n<polyline class=\"line\" fill=\"none\" stroke=\"%s\"%s points=\"", color(p),
            ls->dashed ? " stroke-dasharray=\"6 4\"" : "");
    for (int i = 0; i < ls->n; i++)
        fprintf(out, "%.1f,%.1f ", px_x(a, ls->x[i]), px_y(a, ls->mean[i]));
    fputs("\"/>\n", out);
}

static void x_axis(FILE *out, const plot_area *a, double xmax, const char *label)
{
    for (int i = 0; i <= 5; i++) {
        char tick[32];
        snprintf(tick, sizeof tick, "%g", xmax * i / 5);
        svg_text(out, px_x(a, xmax * i / 5), H - MB + 16, "middle", "", tick);
    }
    svg_text(out, (ML + W - MR) / 2.0, H - MB + 36, "middle", "", label);
    fprintf(out, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"axis\"/>\n", ML, W - MR,
            H - MB, H - MB);
}

static void line_chart(FILE *out, const rp_run *r)
{
    chart *c = malloc(sizeof *c);
    line_series *ls = calloc(RP_MAX_PLATFORMS, sizeof *ls);
    if (!c || !ls)
        goto done;
    chart_init(c, r, "by_index", "Figure 27: mean response time by request index, band: ± SD (ms)",
               "ms");
    double xmax = 1, ymax = 0;
    for (int p = 0; p < r->nplat; p++) {
        line_points(r, p, &ls[p]);
        for (int i = 0; i < ls[p].n; i++) {
            xmax = fmax(xmax, ls[p].x[i]);
            ymax = fmax(ymax, ls[p].mean[i]);
        }
    }
    svg_open(out, c, ymax > 0 ? H : 40);
    if (ymax <= 0) {
        svg_text(out, W / 2.0, 24, "middle", " class=\"empty\"",
                 "no request index (seq) recorded in this run");
        svg_close(out, c);
        goto done;
    }
    xmax = nice_ceil(xmax);
    plot_area a = {.top = nice_ceil(ymax)};
    a.yscale = y_axis(out, a.top, "ms");
    a.xscale = (W - ML - MR) / xmax;
    for (int p = 0; p < r->nplat; p++)
        if (ls[p].n)
            draw_series(out, &ls[p], &a, p);
    x_axis(out, &a, xmax, "request index in the per-user dataset");
    legend(out, c);
    svg_close(out, c);
done:
    free(c);
    free(ls);
}

/* ---- over time: the load as it went, second by second -------------------
 * Requests by the second since each iteration's first measured request;
 * CPU and memory by the second since its sampling started. A value per
 * second and iteration, drawn as the mean over iterations with a ± SD band
 * (latency percentiles pool the iterations' requests of that second). A
 * second in which no request started has no point. Runs longer than
 * MAX_POINTS seconds show their first MAX_POINTS. */
typedef struct per_second {
    double sum[MAX_POINTS], sq[MAX_POINTS];
    int n[MAX_POINTS];
} per_second;

static void per_second_add(per_second *ps, long sec, double v)
{
    if (sec < 0 || sec >= MAX_POINTS || isnan(v))
        return;
    ps->sum[sec] += v;
    ps->sq[sec] += v * v;
    ps->n[sec]++;
}

static void per_second_series(const per_second *ps, line_series *ls)
{
    ls->n = 0;
    for (int i = 0; i < MAX_POINTS; i++) {
        if (!ps->n[i])
            continue;
        double k = ps->n[i], mean = ps->sum[i] / k;
        ls->x[ls->n] = i;
        ls->mean[ls->n] = mean;
        ls->sd[ls->n++] = k > 1 ? sqrt(fmax(0, (ps->sq[i] - k * mean * mean) / (k - 1))) : 0;
    }
}

static sqlite3_stmt *platform_query(const rp_run *r, int p, const char *fmt)
{
    char sql[1400];
    snprintf(sql, sizeof sql, fmt, rp_iter_ok_sql());
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->store.db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, r->run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->plat[p].name, -1, SQLITE_TRANSIENT);
    return st;
}

#define MEASURED_SECONDS                                                                           \
    "WITH s AS (SELECT iteration, time_stamp, success, coalesce(elapsed_us / 1000.0, elapsed)"     \
    " AS e FROM samples x WHERE run_id=?1 AND platform=?2"                                         \
    " AND coalesce(phase,'measure')='measure' AND %s),"                                            \
    " f AS (SELECT iteration, min(time_stamp) AS t0 FROM s GROUP BY iteration)"

/* Runs sql (platform_query's form; rows: second, value a, value b) and
 * folds each value into its series, mean ± SD over the iterations. */
static void two_per_second(const rp_run *r, int p, const char *sql, line_series *a_out,
                           line_series *b_out)
{
    sqlite3_stmt *st = platform_query(r, p, sql);
    per_second *a = calloc(2, sizeof *a);
    while (st && a && sqlite3_step(st) == SQLITE_ROW) {
        long sec = sqlite3_column_int64(st, 0);
        per_second_add(&a[0], sec, sqlite3_column_double(st, 1));
        per_second_add(&a[1], sec, sqlite3_column_double(st, 2));
    }
    sqlite3_finalize(st);
    if (a) {
        per_second_series(&a[0], a_out);
        per_second_series(&a[1], b_out);
    }
    free(a);
}

/* Requests and failures started in each second, per iteration. */
static void load_per_second(const rp_run *r, int p, line_series *rate, line_series *errors)
{
    two_per_second(r, p,
                   MEASURED_SECONDS " SELECT CAST((s.time_stamp - f.t0) / 1000 AS INTEGER),"
                                    " count(*), sum(1 - s.success) FROM s JOIN f USING (iteration)"
                                    " GROUP BY s.iteration, 1",
                   rate, errors);
}

/* p50 and p99 (nearest rank) of the requests started in each second. */
static void latency_per_second(const rp_run *r, int p, line_series *p50, line_series *p99)
{
    sqlite3_stmt *st = platform_query(
        r, p,
        MEASURED_SECONDS " SELECT CAST((s.time_stamp - f.t0) / 1000 AS INTEGER) AS"
                         " sec, s.e FROM s JOIN f USING (iteration) ORDER BY sec, s.e");
    p50->n = p99->n = 0;
    p99->dashed = true;
    double *v = NULL;
    int n = 0, cap = 0;
    long cur = -1;
    for (bool more = st != NULL;;) {
        int rc = more ? sqlite3_step(st) : SQLITE_DONE;
        long sec = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -2;
        if ((sec != cur || rc != SQLITE_ROW) && n > 0 && cur >= 0 && p50->n < MAX_POINTS) {
            p50->x[p50->n] = p99->x[p99->n] = (double)cur;
            p50->sd[p50->n] = p99->sd[p99->n] = 0;
            p50->mean[p50->n++] = rp_percentile_sorted(v, n, 50);
            p99->mean[p99->n++] = rp_percentile_sorted(v, n, 99);
            n = 0;
        }
        if (rc != SQLITE_ROW)
            break;
        cur = sec;
        if (n == cap) {
            double *grown = realloc(v, sizeof *v * (size_t)(cap = cap ? 2 * cap : 256));
            if (!grown)
                break;
            v = grown;
        }
        v[n++] = sqlite3_column_double(st, 1);
    }
    free(v);
    sqlite3_finalize(st);
}

/* All services' CPU (percent of a core) and RSS (MiB), per second of the
 * sampling and iteration: each instance's mean within the second, summed. */
static void resources_per_second(const rp_run *r, int p, line_series *cpu, line_series *rss)
{
    two_per_second(
        r, p,
        "SELECT sec, sum(c), sum(m) FROM (SELECT CAST(t_ms / 1000 AS INTEGER) AS sec, iteration,"
        " grp, avg(cpu_pct) AS c, avg(rss_kb) / 1024.0 AS m FROM metric_samples x"
        " WHERE run_id=?1 AND platform=?2 AND kind='service' AND %s GROUP BY 1, 2, 3)"
        " GROUP BY sec, iteration",
        cpu, rss);
}

/* Draws lines[p * per_platform + k] for every platform p. */
static void time_chart(FILE *out, const rp_run *r, const char *id, const char *title,
                       const char *unit, const char *xlabel, const line_series *lines,
                       int per_platform)
{
    chart *c = malloc(sizeof *c);
    if (!c)
        return;
    chart_init(c, r, id, title, unit);
    double xmax = 1, ymax = 0;
    for (int i = 0; i < r->nplat * per_platform; i++)
        for (int k = 0; k < lines[i].n; k++) {
            xmax = fmax(xmax, lines[i].x[k]);
            ymax = fmax(ymax, lines[i].mean[k] + lines[i].sd[k]);
        }
    svg_open(out, c, ymax > 0 ? H : 40);
    if (ymax <= 0) {
        svg_text(out, W / 2.0, 24, "middle", " class=\"empty\"", "nothing recorded over time");
    } else {
        xmax = nice_ceil(xmax);
        plot_area a = {.top = nice_ceil(ymax)};
        a.yscale = y_axis(out, a.top, unit);
        a.xscale = (W - ML - MR) / xmax;
        for (int i = 0; i < r->nplat * per_platform; i++)
            if (lines[i].n)
                draw_series(out, &lines[i], &a, i / per_platform);
        x_axis(out, &a, xmax, xlabel);
        legend(out, c);
    }
    svg_close(out, c);
    free(c);
}

static void over_time_charts(FILE *out, const rp_run *r)
{
    int np = r->nplat;
    line_series *rate = calloc((size_t)np + 1, sizeof *rate);
    line_series *errors = calloc((size_t)np + 1, sizeof *errors);
    line_series *lat = calloc(2 * (size_t)np + 1, sizeof *lat);
    line_series *cpu = calloc((size_t)np + 1, sizeof *cpu);
    line_series *rss = calloc((size_t)np + 1, sizeof *rss);
    if (rate && errors && lat && cpu && rss) {
        for (int p = 0; p < np; p++) {
            load_per_second(r, p, &rate[p], &errors[p]);
            latency_per_second(r, p, &lat[2 * p], &lat[2 * p + 1]);
            resources_per_second(r, p, &cpu[p], &rss[p]);
        }
        const char *since_load = "seconds since the iteration's first measured request";
        const char *since_boot = "seconds since the iteration's sampling started";
        time_chart(out, r, "over_time_throughput",
                   "Throughput over time, mean over iterations, band: ± SD (requests/s)", "req/s",
                   since_load, rate, 1);
        time_chart(out, r, "over_time_latency",
                   "Response time over time: p50 (solid) and p99 (dashed) (ms)", "ms", since_load,
                   lat, 2);
        time_chart(out, r, "over_time_errors", "Failed requests over time (per second)", "/s",
                   since_load, errors, 1);
        time_chart(out, r, "over_time_cpu", "CPU of all services over time (%)", "%", since_boot,
                   cpu, 1);
        time_chart(out, r, "over_time_rss", "Memory (RSS) of all services over time (MiB)", "MiB",
                   since_boot, rss, 1);
    }
    free(rate);
    free(errors);
    free(lat);
    free(cpu);
    free(rss);
}

static const rp_table *find_table(const rp_report *rep, const char *id)
{
    for (int i = 0; i < rep->ndisplay; i++)
        if (strcmp(rep->display[i]->id, id) == 0)
            return rep->display[i];
    return NULL;
}

static void section_open(FILE *out, const char *heading)
{
    fputs("<section><h2>", out);
    rp_html_escape(out, heading);
    fputs("</h2><div class=\"row\">\n", out);
}

static void section_close(FILE *out, const rp_report *rep, const char *table_id)
{
    const rp_table *t = table_id ? find_table(rep, table_id) : NULL;
    if (t) {
        fputs("<div class=\"tbl\">", out);
        rp_render_html_table(t, out);
        fputs("</div>", out);
    }
    fputs("</div></section>\n", out);
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}"
    "h1{font-size:22px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}"
    ".row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}"
    "figure{margin:0}figcaption{font-size:12px;color:#555}"
    "svg text{font-size:11px;fill:#333}.grid{stroke:#e5e5e5}.axis{stroke:#333}"
    ".err{stroke:#222;stroke-width:1.2}.line{stroke-width:1.6}.empty{fill:#999;font-size:14px}"
    "table{border-collapse:collapse;font-size:13px}caption{text-align:left;font-weight:600;"
    "padding:4px 0}th,td{border:1px solid #ddd;padding:3px 8px}th{background:#f4f4f4}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".note{font-size:12px;color:#555;max-width:640px}.warn{background:#fff4d6;padding:6px 10px;"
    "border-left:4px solid #e0a800}table.meta th{text-align:left;white-space:nowrap}"
    "table.meta td{max-width:900px}";

/* ---- the run's header: what was run, where, with what ------------------ */

static void meta_row(FILE *out, const char *id, const char *key, const char *value)
{
    fprintf(out, "<tr id=\"run_%s\"><th>", id);
    rp_html_escape(out, key);
    fputs("</th><td>", out);
    rp_html_escape(out, value && value[0] ? value : "unknown");
    fputs("</td></tr>\n", out);
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void config_text(const json_t *cfg, char *out, size_t len)
{
    const json_t *w = json_object_get(cfg, "workload");
    if (!cfg) {
        snprintf(out, len, "not recorded");
        return;
    }
    snprintf(out, len,
             "%s: %lld iteration(s) per platform; %lld users x %lld requests, %s model, "
             "seed %lld%s%s",
             jstr(cfg, "file")[0] ? jstr(cfg, "file") : "(file not recorded)",
             json_integer_value(json_object_get(cfg, "iterations")),
             json_integer_value(json_object_get(w, "users")),
             json_integer_value(json_object_get(w, "requests_per_user")),
             jstr(w, "model")[0] ? jstr(w, "model") : "?",
             json_integer_value(json_object_get(w, "seed")),
             jstr(cfg, "description")[0] ? "; " : "", jstr(cfg, "description"));
}

static void environment_text(const json_t *env, char *out, size_t len)
{
    if (!env || !json_object_size(env)) {
        snprintf(out, len, "not recorded");
        return;
    }
    snprintf(out, len,
             "%s: Linux %s %s, %s x %lld cores, %.1f GiB; Docker %s, %s, libvirt %s, "
             "librdkafka %s, broker %s, /dev/kvm %s",
             jstr(env, "hostname"), jstr(env, "kernel"), jstr(env, "machine"),
             jstr(env, "cpu_model"), json_integer_value(json_object_get(env, "cores")),
             (double)json_integer_value(json_object_get(env, "mem_total_kb")) / 1048576.0,
             jstr(env, "docker"), jstr(env, "qemu"), jstr(env, "libvirt"), jstr(env, "librdkafka"),
             jstr(env, "broker"), jstr(env, "kvm_device"));
}

/* "docker: static, osv: static" of a per-platform field */
static void per_platform(const rp_run *r, bool accel, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int p = 0; p < r->nplat && used < len; p++) {
        const char *v = accel ? r->plat[p].accel : r->plat[p].build;
        int n = snprintf(out + used, len - used, "%s%s: %s", p ? ", " : "", r->plat[p].name,
                         v[0] ? v : "unknown");
        used += n > 0 ? (size_t)n : 0;
    }
}

static void run_info(FILE *out, const rp_run *r)
{
    json_t *cfg = r->config ? json_loads(r->config, 0, NULL) : NULL;
    json_t *env = r->environment ? json_loads(r->environment, 0, NULL) : NULL;
    char text[2048], builds[512];
    fputs("<section id=\"run_info\"><h2>Run</h2><table class=\"meta\"><tbody>\n", out);
    meta_row(out, "id", "Run id", r->run_id);
    meta_row(out, "status", "Status", r->status);
    rp_utc(r->started_ms, text, sizeof text);
    meta_row(out, "started", "Started", text);
    rp_utc(r->finished_ms, text, sizeof text);
    meta_row(out, "finished", "Finished", text);
    config_text(cfg, text, sizeof text);
    meta_row(out, "config", "Config", text);
    environment_text(env, text, sizeof text);
    meta_row(out, "environment", "Environment", text);
    per_platform(r, false, builds, sizeof builds);
    snprintf(text, sizeof text, "%s (%s); Jung executables per platform: %s",
             jstr(env, "jungbench")[0] ? jstr(env, "jungbench") : "version not recorded",
             jstr(env, "jungbench_build")[0] ? jstr(env, "jungbench_build") : "build not recorded",
             builds[0] ? builds : "none");
    meta_row(out, "jungbench", "jungbench version and build", text);
    per_platform(r, true, text, sizeof text);
    meta_row(out, "accel", "Accel (kvm, emulated or native)", text);
    if (r->nbusy)
        snprintf(text, sizeof text,
                 "%d iteration(s) started on a busy machine: %s (table iteration_load)", r->nbusy,
                 r->busy);
    else
        snprintf(text, sizeof text, "no iteration flagged busy (table iteration_load)");
    meta_row(out, "noise", "Noise", text);
    fputs("</tbody></table></section>\n", out);
    json_decref(cfg);
    json_decref(env);
}

static void html_head(FILE *out, const rp_run *r)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>jungbench "
          "report ",
          out);
    rp_html_escape(out, r->run_id);
    fprintf(out, "</title><style>%s</style></head><body>\n<h1>jungbench report: run ", css);
    rp_html_escape(out, r->run_id);
    fputs("</h1>\n<p>Status ", out);
    rp_html_escape(out, r->status[0] ? r->status : "unknown");
    fputs(". Platforms:", out);
    for (int p = 0; p < r->nplat; p++) {
        fputs(p ? ", " : " ", out);
        rp_html_escape(out, r->plat[p].name);
        /* without iterations rows (a load generator run alone) count the samples' */
        fprintf(out, " (%d iterations, accel ",
                r->plat[p].iters_total ? r->plat[p].iters_total : r->plat[p].niters);
        rp_html_escape(out, r->plat[p].accel[0] ? r->plat[p].accel : "unknown");
        fputs(")", out);
    }
    fputs(".</p>\n", out);
    for (const char *s = r->warnings; *s;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)len, s);
        fputs("<p class=\"warn\">", out);
        rp_html_escape(out, line);
        fputs("</p>\n", out);
        s += len + (nl != NULL);
    }
    run_info(out, r);
}

bool rp_write_html(const rp_run *r, const rp_report *rep, FILE *out, char *err, size_t errlen)
{
    /* Category labels must live until each chart is drawn. */
    char(*labels)[RP_NAME] = calloc(MAX_CATS, RP_NAME);
    if (!labels) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    html_head(out, r);
    section_open(out, "CPU usage per microservice (figure 22, table 3)");
    per_service_chart(out, r, RP_M_CPU, "cpu",
                      "Figure 22: CPU usage per microservice (%), less is better", "%", labels);
    section_close(out, rep, "cpu");
    section_open(out, "Memory usage per microservice (figure 23, table 4)");
    per_service_chart(out, r, RP_M_MEM, "memory", "Figure 23: memory (RSS) per microservice (MiB)",
                      "MiB", labels);
    section_close(out, rep, "memory");
    section_open(out, "Total memory including the runtime (figure 24)");
    total_memory_chart(out, r);
    section_close(out, rep, "total_memory");
    section_open(out, "Image sizes (figure 25)");
    image_chart(out, r);
    section_close(out, rep, "images");
    section_open(out, "Response times (figures 26 and 27, table 5)");
    histogram_chart(out, r, labels);
    line_chart(out, r);
    section_close(out, rep, "requests");
    if (find_table(rep, "errors")) { /* only when a request failed */
        fputs("<div id=\"errors\">", out);
        section_open(out, "Failed requests by kind");
        section_close(out, rep, "errors");
        fputs("</div>", out);
    }
    fputs("<div id=\"over_time\">", out);
    section_open(out, "Over time (all iterations)");
    over_time_charts(out, r);
    section_close(out, rep, NULL);
    fputs("</div>", out);
    section_open(out, "Boot and ready times");
    boot_chart(out, r, labels);
    section_close(out, rep, "boot");
    static const char *const rest[] = {"requests_by_label", "requests_per_iteration", "summary",
                                       "tests"};
    section_open(out, "Statistics and results summary (table 6)");
    for (size_t i = 0; i < sizeof rest / sizeof *rest; i++) {
        const rp_table *t = find_table(rep, rest[i]);
        if (t) {
            fputs("<div class=\"tbl\">", out);
            rp_render_html_table(t, out);
            fputs("</div>", out);
        }
    }
    fputs("</div></section>\n</body></html>\n", out);
    free(labels);
    return true;
}
