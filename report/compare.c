/* compare.c - `jungbench compare BASE NEW`: the CI regression gate. */
#include "report/report.h"
#include "report/internal.h"
#include "core/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ALPHA 0.05

static const char compare_usage[] =
    "Usage: jungbench compare BASE NEW [--threshold PCT] [--metrics LIST] [--format text|json]\n\n"
    "Compares two runs (run folders or results databases) metric by metric and platform by\n"
    "platform: base and new means, relative change, and a two-sided Mann-Whitney U test over\n"
    "the per-iteration values. A metric regressed when it got worse by more than the threshold\n"
    "AND the difference is significant (p < 0.05); image sizes are exact measurements and\n"
    "need no test. Worse means higher, except for throughput (lower is worse).\n\n"
    "  --threshold PCT  relative change that counts (default 5)\n"
    "  --metrics LIST   comma-separated metric names (default: all):\n"
    "                   cpu, memory, runtime_memory, total_memory, throughput, avg_ms,\n"
    "                   p50_ms, p90_ms, p99_ms, error_pct, boot_ms, ready_ms, image_bytes\n"
    "  --format F       text (default) or json\n"
    "  --base-run ID, --new-run ID   pick runs in databases holding several\n"
    "  -h, --help       this help\n\n"
    "Note: with fewer than 4 iterations per side no difference can reach p < 0.05.\n"
    "Exit status: 0 no regression, 1 a metric regressed (named on stderr) or a run could not\n"
    "be read, 2 usage error.\n";

typedef struct compare_opts {
    const char *base, *new_, *base_run, *new_run;
    double threshold;
    bool json;
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
    static const struct option longopts[] = {
        {"threshold", required_argument, NULL, 't'}, {"metrics", required_argument, NULL, 'm'},
        {"format", required_argument, NULL, 'f'},    {"base-run", required_argument, NULL, 'b'},
        {"new-run", required_argument, NULL, 'n'},   {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->threshold = 5;
    bool any_metric = false;
    optind = 1;
    opterr = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
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
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0)
                return jb_usage_error("compare", "--format must be text or json, got '%s'", optarg);
            o->json = strcmp(optarg, "json") == 0;
            break;
        case 'b':
            o->base_run = optarg;
            break;
        case 'n':
            o->new_run = optarg;
            break;
        default:
            return jb_usage_error("compare", "unknown option or missing value: '%s'",
                                  argv[optind - 1]);
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
        if (fabs(worse) <= threshold)
            c.verdict = "ok";
        else if (!significant)
            c.verdict = t.min_p >= ALPHA ? "too few iterations to test" : "not significant";
        else
            c.verdict = worse > 0 ? "REGRESSION" : "improved";
        c.regression = significant && worse > threshold;
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

static int run_compare(const compare_opts *o, const rp_run *b, const rp_run *n)
{
    static const char *const cols[] = {"metric", "unit", "platform",   "n_base",  "n_new",
                                       "base",   "new",  "change_pct", "p_value", "verdict"};
    rp_table *t = rp_table_new("compare", "Base vs new (mean of per-iteration values)", 10, cols);
    json_t *regressions = json_array();
    for (int m = 0; m < RP_M_COUNT; m++) {
        for (int pb = 0; o->want[m] && pb < b->nplat; pb++) {
            int pn = platform_named(n, b->plat[pb].name);
            if (pn < 0)
                continue;
            comparison c = compare_one(b, pb, n, pn, (rp_metric)m, o->threshold);
            if (c.nb == 0 && c.nn == 0)
                continue; /* measured in neither: nothing to say */
            int row = rp_table_add_row(t);
            rp_set_text(t, row, 0, "%s", rp_metric_get((rp_metric)m)->name);
            rp_set_text(t, row, 1, "%s", rp_metric_get((rp_metric)m)->unit);
            rp_set_text(t, row, 2, "%s", b->plat[pb].name);
            rp_set_num(t, row, 3, c.nb, 0);
            rp_set_num(t, row, 4, c.nn, 0);
            rp_set_num(t, row, 5, c.base, o->json ? -1 : 3);
            rp_set_num(t, row, 6, c.new_, o->json ? -1 : 3);
            rp_set_num(t, row, 7, c.change_pct, o->json ? -1 : 1);
            rp_set_num(t, row, 8, c.p, o->json ? -1 : 4);
            rp_set_text(t, row, 9, "%s", c.verdict);
            if (!c.regression)
                continue;
            json_array_append_new(
                regressions,
                json_sprintf("%s on %s", rp_metric_get((rp_metric)m)->name, b->plat[pb].name));
            fprintf(stderr,
                    "jungbench compare: regression: %s on %s: %.3f -> %.3f %s (%+.1f%%%s)\n",
                    rp_metric_get((rp_metric)m)->name, b->plat[pb].name, c.base, c.new_,
                    rp_metric_get((rp_metric)m)->unit, c.change_pct,
                    isnan(c.p) ? ", exact measurement" : "");
            if (!isnan(c.p))
                fprintf(stderr, "  Mann-Whitney p = %.4g over %d vs %d iterations\n", c.p, c.nb,
                        c.nn);
        }
    }
    for (int pn = 0; pn < n->nplat; pn++)
        if (platform_named(b, n->plat[pn].name) < 0)
            rp_table_note(t, "platform %s is only in NEW: not compared", n->plat[pn].name);
    for (int pb = 0; pb < b->nplat; pb++)
        if (platform_named(n, b->plat[pb].name) < 0)
            rp_table_note(t, "platform %s is only in BASE: not compared", b->plat[pb].name);
    size_t nreg = json_array_size(regressions);
    if (o->json) {
        json_t *rows = json_array();
        for (int r = 0; r < t->nrows; r++) {
            json_t *row = json_object();
            for (int c = 0; c < t->ncols; c++) {
                const rp_cell *x = &t->cells[r * t->ncols + c];
                json_object_set_new(row, t->cols[c],
                                    x->kind == RP_NUM    ? json_real(x->num)
                                    : x->kind == RP_TEXT ? json_string(x->text)
                                                         : json_null());
            }
            json_array_append_new(rows, row);
        }
        json_t *root = json_pack("{s:s, s:s, s:f, s:f, s:o, s:o}", "base", b->run_id, "new",
                                 n->run_id, "threshold_pct", o->threshold, "alpha", ALPHA,
                                 "regressions", regressions, "comparisons", rows);
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
        fputc('\n', stdout);
        json_decref(root);
    } else {
        printf("base %s (%s), new %s (%s), threshold %g%%, alpha %.2f\n\n", b->run_id,
               b->store.path, n->run_id, n->store.path, o->threshold, ALPHA);
        rp_render_text(t, stdout);
        printf("%zu regression%s\n", nreg, nreg == 1 ? "" : "s");
        json_decref(regressions);
    }
    rp_table_free(t);
    return nreg ? JB_EXIT_FAIL : JB_EXIT_OK;
}

static void print_warnings(const char *which, const rp_run *r)
{
    if (r->warnings[0])
        fprintf(stderr, "jungbench compare: %s: %s", which, r->warnings);
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
    char err[4600] = "";
    rp_run *b = calloc(1, sizeof *b), *n = calloc(1, sizeof *n);
    if (!b || !n) {
        free(b);
        free(n);
        return jb_fail("compare", "out of memory");
    }
    rc = JB_EXIT_FAIL;
    if (!rp_run_load(b, o.base, o.base_run, err, sizeof err))
        jb_fail("compare", "BASE: %s", err);
    else if (!rp_run_load(n, o.new_, o.new_run, err, sizeof err))
        jb_fail("compare", "NEW: %s", err);
    else {
        print_warnings("BASE", b);
        print_warnings("NEW", n);
        rc = run_compare(&o, b, n);
    }
    rp_run_free(b);
    rp_run_free(n);
    free(b);
    free(n);
    return rc;
}
