/* internal.h - shared between the report module's files; not public. */
#ifndef JB_REPORT_INTERNAL_H
#define JB_REPORT_INTERNAL_H

#include "store/store.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ---- statistics (stats.c) --------------------------------------------- */

typedef struct rp_summary {
    int n;
    double mean, sd, ci_lo, ci_hi, cv_pct, min, max, median;
} rp_summary;

/* Mean, sample SD (n-1), 95% CI of the mean (Student t), CV = SD/mean.
 * With n == 1 the SD and CI are NaN (unknown), never zero. */
rp_summary rp_summarize(const double *v, int n);
/* Two-sided 97.5% quantile of Student's t with df degrees of freedom. */
double rp_t975(int df);
/* Percentile p in [0,100] of sorted values by nearest rank (as loadgen's
 * load_summaries and JMeter's aggregate report: always an observed value). */
double rp_percentile_sorted(const double *sorted, int n, double p);
void rp_sort(double *v, int n);

typedef struct rp_mwu {
    double u;     /* U of the first sample */
    double p;     /* two-sided p-value; NaN when a sample is empty */
    bool exact;   /* exact distribution (no ties, small n) vs normal approximation */
    double min_p; /* smallest p these sample sizes can reach (exact test) */
} rp_mwu;
rp_mwu rp_mann_whitney(const double *x, int nx, const double *y, int ny);
/* The fewest iterations per side with which the exact test can reach
 * p < alpha at all. */
int rp_mwu_iterations_needed(double alpha);

/* ---- tables (table.c) ------------------------------------------------- */

typedef enum { RP_EMPTY, RP_TEXT, RP_NUM } rp_cell_kind;

typedef struct rp_cell {
    rp_cell_kind kind;
    double num; /* RP_NUM: the unformatted value (CSV, JSON) */
    char *text; /* display text (RP_TEXT, RP_NUM) */
} rp_cell;

/* A table is either for display (text, md, html: formatted, may pivot
 * platforms into columns) or tidy data (csv, json: one observation a row). */
typedef struct rp_table {
    char id[48]; /* file stem for CSV, key in JSON */
    char title[160];
    char note[1024];
    int ncols, nrows, caprows;
    char **cols;
    rp_cell *cells;
} rp_table;

rp_table *rp_table_new(const char *id, const char *title, int ncols, const char *const *cols);
void rp_table_free(rp_table *t);
int rp_table_add_row(rp_table *t);
void rp_set_text(rp_table *t, int row, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* decimals < 0: print with %g. NaN becomes an empty cell (never a zero). */
void rp_set_num(rp_table *t, int row, int col, double v, int decimals);
void rp_table_note(rp_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void rp_render_text(const rp_table *t, FILE *out);
void rp_render_md(const rp_table *t, FILE *out);
void rp_render_csv(const rp_table *t, FILE *out);
void rp_render_html_table(const rp_table *t, FILE *out);
/* The rows as a JSON array of objects keyed by column (NaN/empty: null);
 * a new reference. */
json_t *rp_table_json(const rp_table *t);
void rp_html_escape(FILE *out, const char *s);
/* CSV field with JMeter's/RFC 4180 quoting: quoted when it holds the
 * delimiter, a quote, CR or LF; quotes doubled. */
void rp_csv_field(FILE *out, const char *s);

/* ---- the run's data (data.c) ------------------------------------------ */

#define RP_MAX_PLATFORMS 16
#define RP_MAX_SERVICES 32
#define RP_NAME 64
#define RP_MAX_LABELS 16
#define RP_MAX_ERROR_ROWS 100

typedef struct rp_mrow { /* one metric summary: service instance or runtime */
    int plat;
    long iter;
    char service[RP_NAME]; /* instance name without its -N replica suffix */
    bool runtime;
    double cpu, rss_mb;
} rp_mrow;

typedef struct rp_brow {
    int plat;
    long iter;
    char service[RP_NAME];
    double boot_ms, ready_ms, process_ready_ms; /* process_ready_ms NAN when not recorded */
} rp_brow;

typedef struct rp_irow {
    int plat;
    char service[RP_NAME], kind[RP_NAME];
    double bytes, shared;
} rp_irow;

typedef struct rp_load { /* requests of one platform: one iteration or all */
    long iter;           /* -1 for all iterations */
    long n, ko;
    double avg, min, max, p50, p90, p95, p99, dur_ms, bytes, sent;
} rp_load;

typedef struct rp_erow { /* failed measured requests of one kind */
    int plat;
    char code[16];     /* response code, or "" when no response came */
    char message[160]; /* failure_message (or the reason phrase), newlines as spaces */
    char label[RP_NAME];
    long count;
    double first_ms, last_ms; /* time_stamp of the first and the last */
} rp_erow;

typedef struct rp_platform {
    char name[RP_NAME];
    char accel[16]; /* native | kvm | emulated | "" */
    char build[16]; /* static | dynamic: the executables it ran; "" unknown */
    int iters_total, iters_bad;
    rp_load all;
    rp_load *iters;
    int niters;
    /* per request label (get_user, ...), like JMeter's aggregate report;
     * labels beyond RP_MAX_LABELS are counted in `all` only */
    rp_load labels[RP_MAX_LABELS];
    char label[RP_MAX_LABELS][RP_NAME];
    int nlabels, labels_dropped;
} rp_platform;

typedef struct rp_run {
    jb_store store;
    char run_id[128], name[128], status[32];
    char *config;      /* runs.config: the experiment as JSON, NULL when not recorded */
    char *environment; /* runs.environment: the machine as JSON, NULL when not recorded */
    double started_ms, finished_ms;
    int nplat;
    rp_platform plat[RP_MAX_PLATFORMS];
    int nsvc;
    char svc[RP_MAX_SERVICES][RP_NAME];
    rp_mrow *m;
    int nm;
    rp_brow *b;
    int nb;
    rp_irow *img;
    int nimg;
    rp_erow *errs; /* most frequent first, at most RP_MAX_ERROR_ROWS */
    int nerrs;
    int nbusy;       /* iterations started on a busy machine (iteration_load.busy) */
    char busy[1024]; /* "docker #1, osv #3" */
    char warnings[2048];
} rp_run;

/* Resolves a run folder (holding results.db) or a database file. */
void rp_db_path(const char *arg, char *out, size_t outlen);
/* Opens read-only and loads everything the tables need. run_id NULL: the
 * latest run. False with a reason in err. */
bool rp_run_load(rp_run *r, const char *path, const char *run_id, char *err, size_t errlen);
void rp_run_free(rp_run *r);
/* SQL condition excluding iterations that did not finish; alias x must
 * name a table with run_id, platform, iteration columns. */
const char *rp_iter_ok_sql(void);

/* ---- metrics: per-iteration values (metrics.c) ------------------------- */

typedef enum { RP_LOWER_BETTER, RP_HIGHER_BETTER } rp_better;

typedef enum {
    RP_M_CPU,
    RP_M_CPU_PER_KREQ,
    RP_M_MEM,
    RP_M_RUNTIME_MEM,
    RP_M_TOTAL_MEM,
    RP_M_THROUGHPUT,
    RP_M_AVG_MS,
    RP_M_P50_MS,
    RP_M_P90_MS,
    RP_M_P95_MS,
    RP_M_P99_MS,
    RP_M_ERROR_PCT,
    RP_M_BOOT_MS,
    RP_M_READY_MS,
    RP_M_PROCESS_READY_MS,
    RP_M_IMAGE_BYTES,
    RP_M_COUNT
} rp_metric;

typedef struct rp_metric_info {
    const char *name, *title, *unit;
    rp_better better;
} rp_metric_info;

const rp_metric_info *rp_metric_get(rp_metric m);
/* The metrics layer's row for all of a platform's images together. */
bool rp_image_is_total(const rp_irow *im);
int rp_metric_by_name(const char *name); /* -1 when unknown */

/* Per-iteration values of metric m on platform p, for one service (NULL:
 * the whole platform). Returns the count; *out is malloc'd (free it). */
int rp_metric_values(const rp_run *r, rp_metric m, int p, const char *service, double **out);

/* ---- the report (build.c) --------------------------------------------- */

typedef struct rp_report {
    rp_table *display[24];
    int ndisplay;
    rp_table *data[24];
    int ndata;
} rp_report;

void rp_report_build(const rp_run *r, rp_report *rep);
void rp_report_free(rp_report *rep);
void rp_print_header(const rp_run *r, FILE *out, bool markdown);
/* "2026-11-26 23:15:00 UTC" of a wall-clock time in ms; "unknown" when unset. */
void rp_utc(double ms, char *buf, size_t len);

/* ---- thresholds (thresholds.c) ---------------------------------------- */

/* One result per threshold of the run's recorded config and platform it
 * applies to: {metric, op, value, unit, platform, label, actual, pass,
 * reason?}. A limit on something not measured fails. A new reference. */
json_t *rp_thresholds_eval(const rp_run *r);
int rp_thresholds_breached(const json_t *results);
/* The pass/fail summary, one line per result, as k6 prints it. */
void rp_thresholds_print(const json_t *results, FILE *out, bool markdown);
/* "jungbench CMD: threshold breached: ..." on stderr for each failed one. */
void rp_thresholds_report_breaches(const json_t *results, const char *cmd);

/* ---- exports ---------------------------------------------------------- */

/* JTL: one <platform>.jtl per platform in dir; iteration > 0: only that
 * iteration's samples, in <platform>.iteration-N.jtl (false when it has
 * none anywhere). */
bool rp_write_jtl(const rp_run *r, const char *dir, long iteration, char *err, size_t errlen);
bool rp_write_html(const rp_run *r, const rp_report *rep, FILE *out, char *err, size_t errlen);
char *rp_pretty_service(const char *service, char *buf, size_t len);

#endif
