/* compare_cmd.c - `jungbench compare BASE NEW`: the CI regression gate. */
#include "report/report.h"
#include "report/internal.h"
#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ALPHA 0.05

static const char compare_usage[] =
    "Usage: jungbench compare BASE NEW [--threshold PCT] [--metrics LIST] [--format text|json|md]\n"
    "                         [--allow-different-workload]\n\n"
    "Compares two runs (run folders or results databases) metric by metric and platform by\n"
    "platform: base and new means, relative change, and a two-sided Mann-Whitney U test over\n"
    "the per-iteration values. A metric regressed when it got worse by more than the threshold\n"
    "AND the difference is significant (p < 0.05); image sizes are exact measurements and\n"
    "need no test. Worse means higher, except for throughput (lower is worse).\n\n"
    "  --threshold PCT  relative change that counts (default 5)\n"
    "  --metrics LIST   comma-separated metric names (default: all):\n"
    "                   cpu, cpu_per_1k_req, memory, runtime_memory, total_memory,\n"
    "                   throughput, avg_ms, p50_ms, p90_ms, p95_ms, p99_ms, error_pct,\n"
    "                   boot_ms, ready_ms, image_bytes\n"
    "  --format F       text (default), json or md; each gives the verdict per metric and\n"
    "                   the decision\n"
    "  --allow-different-workload   compare runs whose workloads differ (refused otherwise)\n"
    "  --base-run ID, --new-run ID   pick runs in databases holding several\n"
    "  -h, --help       this help\n\n"
    "The gate fails closed: a metric that got worse by more than the threshold with too few\n"
    "iterations for the test to ever reach p < 0.05 (4 per side are needed) is CANNOT DECIDE,\n"
    "never a pass.\n"
    "NEW's thresholds (the 'thresholds' of the config it ran, docs/config.md) are checked too\n"
    "and printed as pass or FAIL.\n"
    "Exit status: 0 pass (no regression, no threshold breached), 1 a metric regressed or a\n"
    "threshold of NEW was breached (named on stderr), 2 usage error, 3 cannot decide: a run\n"
    "missing or unreadable, workloads that differ, or a change beyond the threshold that\n"
    "these iterations cannot test (the reason on stderr).\n";

typedef struct compare_opts {
    const char *base, *new_, *base_run, *new_run;
    double threshold;
    enum { OUT_TEXT, OUT_JSON, OUT_MD } format;
    bool allow_different_workload;
    bool want[RP_M_COUNT];
} compare_opts;

static int parse_metrics(const char *list, compare_opts *o)
{
    char *copy = strdup(list), *save = NULL;
    int rc = -1;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int m = rp_metric_by_name(tok);
        if (m < 0) {
            rc = jb_usage_error("compare",
                                "unknown metric '%s' in --metrics (see --help for "
                                "the names)",
                                tok);
            break;
        }
        o->want[m] = true;
    }
    free(copy);
    return rc;
}

static int parse_compare_args(int argc, char **argv, compare_opts *o)
{
    static const struct option longopts[] = {{"threshold", required_argument, NULL, 't'},
                                             {"metrics", required_argument, NULL, 'm'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"base-run", required_argument, NULL, 'b'},
                                             {"new-run", required_argument, NULL, 'n'},
                                             {"allow-different-workload", no_argument, NULL, 'w'},
                                             {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->threshold = 5;
    bool any_metric = false;
    optind = 1;
    opterr = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (!jb_parse_double("compare", "--threshold", optarg, 0, 1e6, &o->threshold))
                return JB_EXIT_USAGE;
            break;
        case 'm':
            if ((rc = parse_metrics(optarg, o)) >= 0)
                return rc;
            any_metric = true;
            break;
        case 'f':
            if (strcmp(optarg, "json") == 0)
                o->format = OUT_JSON;
            else if (strcmp(optarg, "md") == 0)
                o->format = OUT_MD;
            else if (strcmp(optarg, "text") == 0)
                o->format = OUT_TEXT;
            else
                return jb_usage_error("compare", "--format must be text, json or md, got '%s'",
                                      optarg);
            break;
        case 'w':
            o->allow_different_workload = true;
            break;
        case 'b':
            o->base_run = optarg;
            break;
        case 'n':
            o->new_run = optarg;
            break;
        case ':':
            return jb_usage_error("compare", "option '%s' needs a value", argv[optind - 1]);
        default:
            return jb_usage_error("compare", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return jb_usage_error("compare", "give two runs: BASE and NEW (run folders or databases)");
    o->base = argv[optind];
    o->new_ = argv[optind + 1];
    for (int m = 0; !any_metric && m < RP_M_COUNT; m++)
        o->want[m] = true;
    return -1;
}

typedef struct comparison {
    double base, new_, change_pct, p;
    int nb, nn;
    bool regression;
    bool undecided; /* worse beyond the threshold, but these sizes cannot be tested */
    const char *verdict;
} comparison;

static comparison compare_one(const rp_run *b, int pb, const rp_run *n, int pn, rp_metric m,
                              double threshold)
{
    comparison c = {.p = NAN, .verdict = "ok"};
    double *vb = NULL, *vn = NULL;
    c.nb = rp_metric_values(b, m, pb, NULL, &vb);
    c.nn = rp_metric_values(n, m, pn, NULL, &vn);
    c.base = rp_summarize(vb, c.nb).mean;
    c.new_ = rp_summarize(vn, c.nn).mean;
    if (c.nb == 0 || c.nn == 0) {
        c.verdict = c.nb ? "not measured in new" : "not measured in base";
        c.change_pct = NAN;
    } else {
        c.change_pct = c.base != 0   ? 100.0 * (c.new_ - c.base) / fabs(c.base)
                       : c.new_ == 0 ? 0
                                     : copysign(INFINITY, c.new_);
        double worse = rp_metric_get(m)->better == RP_LOWER_BETTER ? c.change_pct : -c.change_pct;
        bool exact = m == RP_M_IMAGE_BYTES;
        rp_mwu t = rp_mann_whitney(vb, c.nb, vn, c.nn);
        c.p = exact ? NAN : t.p;
        bool significant = exact || c.p < ALPHA;
        /* Fails closed: a change for the worse that no test of these sizes
         * could confirm is undecided, never "ok". */
        bool untestable = !significant && t.min_p >= ALPHA;
        if (fabs(worse) <= threshold)
            c.verdict = "ok";
        else if (untestable && worse > 0)
            c.verdict = "CANNOT DECIDE";
        else if (untestable)
            c.verdict = "improved, untested";
        else if (!significant)
            c.verdict = "not significant";
        else
            c.verdict = worse > 0 ? "REGRESSION" : "improved";
        c.regression = significant && worse > threshold;
        c.undecided = untestable && worse > threshold;
    }
    free(vb);
    free(vn);
    return c;
}

static int platform_named(const rp_run *r, const char *name)
{
    for (int p = 0; p < r->nplat; p++)
        if (strcmp(r->plat[p].name, name) == 0)
            return p;
    return -1;
}

/* What the gate decided, and why when it could not. */
typedef struct decision {
    json_t *regressions; /* "metric on platform" */
    json_t *undecided;   /* reasons */
    json_t *thresholds;  /* NEW's thresholds, rp_thresholds_eval */
} decision;

/* A regression or a breached limit is a definite failure and outranks an
 * undecided metric. */
static const char *decision_word(const decision *d)
{
    return json_array_size(d->regressions)         ? "regression"
           : rp_thresholds_breached(d->thresholds) ? "threshold breached"
           : json_array_size(d->undecided)         ? "cannot decide"
                                                   : "pass";
}

static int decision_exit(const decision *d)
{
    return json_array_size(d->regressions) || rp_thresholds_breached(d->thresholds) ? JB_EXIT_FAIL
           : json_array_size(d->undecided) ? JB_EXIT_UNDECIDED
                                           : JB_EXIT_OK;
}

/* Sizes are shown in MiB, as the reports show them; JSON keeps bytes. */
static double shown(rp_metric m, double v, const char **unit)
{
    const char *u = rp_metric_get(m)->unit;
    bool bytes = strcmp(u, "bytes") == 0;
    *unit = bytes ? "MiB" : u;
    return bytes ? v / 1048576.0 : v;
}

static void report_regression(const comparison *c, rp_metric m, const char *platform, decision *d)
{
    const rp_metric_info *mi = rp_metric_get(m);
    const char *unit;
    double base = shown(m, c->base, &unit), new_ = shown(m, c->new_, &unit);
    json_array_append_new(d->regressions, json_sprintf("%s on %s", mi->name, platform));
    fprintf(stderr, "jungbench compare: regression: %s on %s: %.3f -> %.3f %s (%+.1f%%%s)\n",
            mi->name, platform, base, new_, unit, c->change_pct,
            isnan(c->p) ? ", exact measurement" : "");
    if (!isnan(c->p))
        fprintf(stderr, "  Mann-Whitney p = %.4g over %d vs %d iterations\n", c->p, c->nb, c->nn);
}

static void report_undecided(const comparison *c, rp_metric m, const char *platform, decision *d)
{
    const rp_metric_info *mi = rp_metric_get(m);
    json_t *why = json_sprintf("%s on %s: %+.1f%% worse, but %d vs %d iterations cannot reach "
                               "p < %.2f (run at least %d per side)",
                               mi->name, platform, c->change_pct, c->nb, c->nn, ALPHA,
                               rp_mwu_iterations_needed(ALPHA));
    fprintf(stderr, "jungbench compare: cannot decide: %s\n", json_string_value(why));
    json_array_append_new(d->undecided, why);
}

static void add_row(rp_table *t, const compare_opts *o, const comparison *c, rp_metric m,
                    const char *platform)
{
    bool raw = o->format == OUT_JSON;
    const char *unit = rp_metric_get(m)->unit;
    double base = raw ? c->base : shown(m, c->base, &unit);
    double new_ = raw ? c->new_ : shown(m, c->new_, &unit);
    int row = rp_table_add_row(t);
    rp_set_text(t, row, 0, "%s", rp_metric_get(m)->name);
    rp_set_text(t, row, 1, "%s", unit);
    rp_set_text(t, row, 2, "%s", platform);
    rp_set_num(t, row, 3, c->nb, 0);
    rp_set_num(t, row, 4, c->nn, 0);
    rp_set_num(t, row, 5, base, raw ? -1 : 3);
    rp_set_num(t, row, 6, new_, raw ? -1 : 3);
    rp_set_num(t, row, 7, c->change_pct, raw ? -1 : 1);
    rp_set_num(t, row, 8, c->p, raw ? -1 : 4);
    rp_set_text(t, row, 9, "%s", c->verdict);
}

static void compare_metrics(const compare_opts *o, const rp_run *b, const rp_run *n, rp_table *t,
                            decision *d)
{
    for (int m = 0; m < RP_M_COUNT; m++) {
        for (int pb = 0; o->want[m] && pb < b->nplat; pb++) {
            int pn = platform_named(n, b->plat[pb].name);
            if (pn < 0)
                continue;
            comparison c = compare_one(b, pb, n, pn, (rp_metric)m, o->threshold);
            if (c.nb == 0 && c.nn == 0)
                continue; /* measured in neither: nothing to say */
            add_row(t, o, &c, (rp_metric)m, b->plat[pb].name);
            if (c.regression)
                report_regression(&c, (rp_metric)m, b->plat[pb].name, d);
            else if (c.undecided)
                report_undecided(&c, (rp_metric)m, b->plat[pb].name, d);
        }
    }
    for (int pn = 0; pn < n->nplat; pn++)
        if (platform_named(b, n->plat[pn].name) < 0)
            rp_table_note(t, "platform %s is only in NEW: not compared", n->plat[pn].name);
    for (int pb = 0; pb < b->nplat; pb++)
        if (platform_named(n, b->plat[pb].name) < 0)
            rp_table_note(t, "platform %s is only in BASE: not compared", b->plat[pb].name);
}

static void print_decision_json(const compare_opts *o, const rp_run *b, const rp_run *n,
                                const rp_table *t, decision *d)
{
    json_t *root = json_pack("{s:s, s:s, s:f, s:f, s:s, s:i, s:O, s:O, s:O, s:o}", "base",
                             b->run_id, "new", n->run_id, "threshold_pct", o->threshold, "alpha",
                             ALPHA, "decision", decision_word(d), "exit_code", decision_exit(d),
                             "regressions", d->regressions, "undecided", d->undecided, "thresholds",
                             d->thresholds, "comparisons", rp_table_json(t));
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    fputc('\n', stdout);
    json_decref(root);
}

static void print_decision_lines(const decision *d, bool md)
{
    size_t nreg = json_array_size(d->regressions), nund = json_array_size(d->undecided);
    if (json_array_size(d->thresholds)) {
        printf("\n");
        rp_thresholds_print(d->thresholds, stdout, md);
    }
    printf("%s%zu regression%s, %zu undecided, %d threshold%s breached\n", md ? "\n" : "", nreg,
           nreg == 1 ? "" : "s", nund, rp_thresholds_breached(d->thresholds),
           rp_thresholds_breached(d->thresholds) == 1 ? "" : "s");
    printf("%sdecision: %s (exit %d)%s\n", md ? "**" : "", decision_word(d), decision_exit(d),
           md ? "**" : "");
    for (size_t i = 0; i < nund; i++)
        printf("%s%s\n", md ? "- " : "  ", json_string_value(json_array_get(d->undecided, i)));
}

static int run_compare(const compare_opts *o, const rp_run *b, const rp_run *n, decision *d)
{
    static const char *const cols[] = {"metric", "unit", "platform",   "n_base",  "n_new",
                                       "base",   "new",  "change_pct", "p_value", "verdict"};
    rp_table *t = rp_table_new("compare", "Base vs new (mean of per-iteration values)", 10, cols);
    compare_metrics(o, b, n, t, d);
    /* NEW is the run under the gate: its own config's limits apply */
    d->thresholds = rp_thresholds_eval(n);
    rp_thresholds_report_breaches(d->thresholds, "compare");
    if (o->format == OUT_JSON) {
        print_decision_json(o, b, n, t, d);
    } else {
        printf("%sbase %s (%s), new %s (%s), threshold %g%%, alpha %.2f\n\n",
               o->format == OUT_MD ? "# jungbench compare\n\n" : "", b->run_id, b->store.path,
               n->run_id, n->store.path, o->threshold, ALPHA);
        if (o->format == OUT_MD)
            rp_render_md(t, stdout);
        else
            rp_render_text(t, stdout);
        print_decision_lines(d, o->format == OUT_MD);
    }
    rp_table_free(t);
    return decision_exit(d);
}

/* Appends "key: BASE vs NEW" for each workload setting that differs. */
static int workload_differences(const rp_run *b, const rp_run *n, char *out, size_t cap)
{
    json_t *cb = b->config ? json_loads(b->config, 0, NULL) : NULL;
    json_t *cn = n->config ? json_loads(n->config, 0, NULL) : NULL;
    json_t *wb = json_object_get(cb, "workload"), *wn = json_object_get(cn, "workload");
    int diffs = 0;
    size_t len = 0;
    out[0] = '\0';
    const char *key;
    json_t *vb;
    json_object_foreach(wb, key, vb)
    {
        json_t *vn = json_object_get(wn, key);
        if (!wn || json_equal(vb, vn))
            continue;
        char *sb = json_dumps(vb, JSON_ENCODE_ANY | JSON_COMPACT);
        char *sn = vn ? json_dumps(vn, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("(unset)");
        int w = snprintf(out + len, len < cap ? cap - len : 0, "%s%s: %s vs %s", diffs ? "; " : "",
                         key, sb ? sb : "?", sn ? sn : "?");
        len += w > 0 ? (size_t)w : 0;
        diffs++;
        free(sb);
        free(sn);
    }
    json_decref(cb);
    json_decref(cn);
    return diffs;
}

static void print_warnings(const char *which, const rp_run *r)
{
    if (r->warnings[0])
        fprintf(stderr, "jungbench compare: %s: %s", which, r->warnings);
}

/* Loads both runs and checks that they did the same work; false (exit 3
 * in *rc) when the gate cannot decide. */
static bool load_comparable(const compare_opts *o, rp_run *b, rp_run *n, int *rc)
{
    char err[4600] = "";
    *rc = JB_EXIT_UNDECIDED;
    if (!rp_run_load(b, o->base, o->base_run, err, sizeof err)) {
        jb_fail("compare", "cannot decide: BASE: %s", err);
        return false;
    }
    if (!rp_run_load(n, o->new_, o->new_run, err, sizeof err)) {
        jb_fail("compare", "cannot decide: NEW: %s", err);
        return false;
    }
    print_warnings("BASE", b);
    print_warnings("NEW", n);
    if (workload_differences(b, n, err, sizeof err) > 0) {
        if (!o->allow_different_workload) {
            jb_fail("compare",
                    "cannot decide: the runs did different work (%s); compare runs of the "
                    "same workload, or pass --allow-different-workload",
                    err);
            return false;
        }
        fprintf(stderr, "jungbench compare: warning: the workloads differ (%s)\n", err);
    }
    return true;
}

int compare_main(int argc, char **argv)
{
    if (jb_wants_help(argc, argv)) {
        fputs(compare_usage, stdout);
        return JB_EXIT_OK;
    }
    compare_opts o;
    int rc = parse_compare_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    rp_run *b = calloc(1, sizeof *b), *n = calloc(1, sizeof *n);
    decision d = {json_array(), json_array(), NULL};
    if (!b || !n || !d.regressions || !d.undecided)
        rc = jb_fail("compare", "out of memory");
    else if (load_comparable(&o, b, n, &rc))
        rc = run_compare(&o, b, n, &d);
    json_decref(d.regressions);
    json_decref(d.undecided);
    json_decref(d.thresholds);
    if (b)
        rp_run_free(b);
    if (n)
        rp_run_free(n);
    free(b);
    free(n);
    return rc;
}
