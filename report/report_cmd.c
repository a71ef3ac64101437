/* report_cmd.c - `jungbench report`: one run's tables in the asked format. */
#include "report/report.h"
#include "report/internal.h"
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

static const char report_usage[] =
    "Usage: jungbench report RUN_DIR|DB [--format text|md|csv|jtl|html|json] [--out PATH]\n"
    "                       [--run RUN_ID] [--iteration N]\n"
    "       jungbench report RUN_DIR|DB --check [--run RUN_ID]\n\n"
    "Tables of one run, like the dissertation's: CPU (table 3) and memory (table 4) per\n"
    "microservice, total memory with the runtime, requests summary (table 5), requests per\n"
    "iteration, boot/ready times, image sizes, and the results summary (table 6) decided by\n"
    "Mann-Whitney U tests over per-iteration values.\n\n"
    "  --format F  text (default), md, json: to stdout or --out FILE;\n"
    "              csv: one tidy file per table in folder --out (default RUN_DIR/report-csv);\n"
    "              jtl: one JMeter JTL per platform in folder --out (default RUN_DIR/jtl);\n"
    "              with --iteration N only that iteration, in PLATFORM.iteration-N.jtl, so\n"
    "              JMeter's throughput (first start to last end) is the iteration's\n"
    "              (the requests per iteration table's)\n"
    "              html: one self-contained page with SVG charts, --out FILE (default\n"
    "              RUN_DIR/report.html)\n"
    "  --out PATH  where to write (see --format)\n"
    "  --run ID    the run to report when the database holds several (default: latest)\n"
    "  --iteration N  with --format jtl: only iteration N's samples\n"
    "  --check     evaluate the thresholds of the run's config ('thresholds', docs/config.md)\n"
    "              and print each as pass or FAIL, as `jungbench run` does at its end\n"
    "  -h, --help  this help\n\n"
    "Exit status: 0 written, 1 the database could not be read or written to, 2 usage error.\n"
    "With --check: 0 every threshold passed, 1 a threshold was breached (named on stderr),\n"
    "2 usage error, 3 cannot decide: the run is missing or unreadable, or its config sets\n"
    "no thresholds.\n";

typedef enum { FMT_TEXT, FMT_MD, FMT_CSV, FMT_JTL, FMT_HTML, FMT_JSON } report_format;

typedef struct report_opts {
    const char *input, *out, *run_id;
    report_format format;
    bool format_given, check;
    long iteration; /* --iteration N (jtl); 0: all */
} report_opts;

static int parse_format(const char *s, report_format *f)
{
    static const char *const names[] = {"text", "md", "csv", "jtl", "html", "json"};
    for (int i = 0; i < 6; i++)
        if (strcmp(s, names[i]) == 0) {
            *f = (report_format)i;
            return 0;
        }
    return -1;
}

static int parse_report_args(int argc, char **argv, report_opts *o)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, 'f'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"run", required_argument, NULL, 'r'},
                                             {"check", no_argument, NULL, 'c'},
                                             {"iteration", required_argument, NULL, 'i'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":ho:f:", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (parse_format(optarg, &o->format) < 0)
                return jb_usage_error("report",
                                      "--format must be text, md, csv, jtl, html or "
                                      "json, got '%s'",
                                      optarg);
            o->format_given = true;
            break;
        case 'c':
            o->check = true;
            break;
        case 'i':
            if (!jb_parse_long("report", "--iteration", optarg, 1, 100000, &o->iteration))
                return JB_EXIT_USAGE;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'r':
            o->run_id = optarg;
            break;
        case ':':
            return jb_usage_error("report", "option '%s' needs a value", argv[optind - 1]);
        default:
            return jb_usage_error("report", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return jb_usage_error("report", optind == argc ? "give a run folder or results database"
                                                       : "give exactly one run folder or database");
    o->input = argv[optind];
    if (o->iteration && o->format != FMT_JTL)
        return jb_usage_error("report", "--iteration applies to --format jtl only");
    if (o->check && (o->format_given || o->out))
        return jb_usage_error("report", "--check prints the threshold results only: drop %s",
                              o->out ? "--out" : "--format");
    return -1;
}

/* The folder holding the database: default home for exported files. */
static void run_dir(const char *input, char *out, size_t len)
{
    char db[4096];
    rp_db_path(input, db, sizeof db);
    snprintf(out, len, "%s", dirname(db));
}

static bool ensure_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(dir, 0777) == 0 || (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return true;
    snprintf(err, errlen, "cannot create folder %s: %s", dir,
             errno == EEXIST ? "a file has that name" : strerror(errno));
    return false;
}

json_t *rp_table_json(const rp_table *t)
{
    json_t *rows = json_array();
    for (int r = 0; r < t->nrows; r++) {
        json_t *row = json_object();
        for (int c = 0; c < t->ncols; c++) {
            const rp_cell *x = &t->cells[r * t->ncols + c];
            json_t *v = x->kind == RP_NUM    ? json_real(x->num)
                        : x->kind == RP_TEXT ? json_string(x->text)
                                             : json_null();
            json_object_set_new(row, t->cols[c], v);
        }
        json_array_append_new(rows, row);
    }
    return rows;
}

static bool write_json(const rp_run *r, const rp_report *rep, FILE *out)
{
    json_t *root = json_object(), *run = json_object(), *tables = json_object();
    json_object_set_new(run, "run_id", json_string(r->run_id));
    json_object_set_new(run, "name", json_string(r->name));
    json_object_set_new(run, "status", json_string(r->status));
    json_object_set_new(run, "started_ms",
                        isnan(r->started_ms) ? json_null() : json_real(r->started_ms));
    json_object_set_new(run, "finished_ms",
                        isnan(r->finished_ms) ? json_null() : json_real(r->finished_ms));
    json_t *plats = json_array();
    for (int p = 0; p < r->nplat; p++)
        json_array_append_new(plats,
                              json_pack("{s:s, s:s, s:i, s:i}", "name", r->plat[p].name, "accel",
                                        r->plat[p].accel, "iterations", r->plat[p].iters_total,
                                        "left_out", r->plat[p].iters_bad));
    json_object_set_new(run, "platforms", plats);
    json_t *warnings = json_array();
    for (const char *s = r->warnings; *s;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        json_array_append_new(warnings, json_stringn(s, len));
        s += len + (nl != NULL);
    }
    json_object_set_new(root, "run", run);
    json_object_set_new(root, "warnings", warnings);
    for (int i = 0; i < rep->ndata; i++)
        json_object_set_new(tables, rep->data[i]->id, rp_table_json(rep->data[i]));
    json_object_set_new(root, "tables", tables);
    /* what `report --check` decides, for a CI job reading one file */
    json_object_set_new(root, "thresholds", rp_thresholds_eval(r));
    bool ok = json_dumpf(root, out, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) == 0;
    fputc('\n', out);
    json_decref(root);
    return ok;
}

static bool write_csv(const rp_report *rep, const char *dir, char *err, size_t errlen)
{
    if (strlen(dir) > 4096) {
        snprintf(err, errlen, "folder name too long: %.64s...", dir);
        return false;
    }
    if (!ensure_dir(dir, err, errlen))
        return false;
    for (int i = 0; i < rep->ndata; i++) {
        char path[4500];
        snprintf(path, sizeof path, "%s/%s.csv", dir, rep->data[i]->id);
        FILE *f = fopen(path, "w");
        if (!f) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            return false;
        }
        rp_render_csv(rep->data[i], f);
        if (fclose(f) != 0) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            return false;
        }
    }
    return true;
}

static void write_text(const rp_run *r, const rp_report *rep, FILE *out, bool markdown)
{
    rp_print_header(r, out, markdown);
    for (int i = 0; i < rep->ndisplay; i++)
        (markdown ? rp_render_md : rp_render_text)(rep->display[i], out);
}

/* Formats that write one stream: to --out FILE or stdout. */
static bool write_stream(const report_opts *o, const char *default_path, const rp_run *r,
                         const rp_report *rep, char *err, size_t errlen)
{
    const char *path = o->out ? o->out : default_path;
    FILE *out = path ? fopen(path, "w") : stdout;
    if (!out) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return false;
    }
    bool ok = true;
    if (o->format == FMT_JSON)
        ok = write_json(r, rep, out);
    else if (o->format == FMT_HTML)
        ok = rp_write_html(r, rep, out, err, errlen);
    else
        write_text(r, rep, out, o->format == FMT_MD);
    if (ferror(out))
        ok = false;
    if (path && fclose(out) != 0)
        ok = false;
    if (!ok && !err[0])
        snprintf(err, errlen, "cannot write %s", path ? path : "standard output");
    if (ok && path && o->format == FMT_HTML)
        fprintf(stderr, "jungbench report: wrote %s\n", path);
    return ok;
}

static bool write_report(const report_opts *o, const rp_run *r, char *err, size_t errlen)
{
    char dir[4096], path[4400];
    run_dir(o->input, dir, sizeof dir);
    rp_report rep;
    rp_report_build(r, &rep);
    bool ok;
    switch (o->format) {
    case FMT_CSV:
        snprintf(path, sizeof path, "%s/report-csv", dir);
        ok = write_csv(&rep, o->out ? o->out : path, err, errlen);
        break;
    case FMT_JTL:
        snprintf(path, sizeof path, "%s/jtl", dir);
        ok = ensure_dir(o->out ? o->out : path, err, errlen) &&
             rp_write_jtl(r, o->out ? o->out : path, o->iteration, err, errlen);
        break;
    case FMT_HTML:
        snprintf(path, sizeof path, "%s/report.html", dir);
        ok = write_stream(o, path, r, &rep, err, errlen);
        break;
    default:
        ok = write_stream(o, NULL, r, &rep, err, errlen);
    }
    rp_report_free(&rep);
    return ok;
}

/* --check: a gate, so a run it cannot read is "cannot decide" (3), not 1. */
static int check_thresholds(const report_opts *o)
{
    char err[4600] = "";
    int checked = 0;
    int breached = jb_report_check_thresholds(o->input, o->run_id, "report", stdout, &checked, err,
                                              sizeof err);
    if (breached < 0) {
        fprintf(stderr, "jungbench report: cannot decide: %s\n", err);
        return JB_EXIT_UNDECIDED;
    }
    if (checked == 0) {
        fprintf(stderr, "jungbench report: cannot decide: the run's config sets no thresholds (add "
                        "'thresholds:' to the config, docs/config.md)\n");
        return JB_EXIT_UNDECIDED;
    }
    return breached ? JB_EXIT_FAIL : JB_EXIT_OK;
}

int report_main(int argc, char **argv)
{
    if (jb_wants_help(argc, argv)) {
        fputs(report_usage, stdout);
        return JB_EXIT_OK;
    }
    report_opts o;
    int rc = parse_report_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.check)
        return check_thresholds(&o);
    char err[4600] = "";
    rp_run r;
    if (!rp_run_load(&r, o.input, o.run_id, err, sizeof err))
        return jb_fail("report", "%s", err);
    bool ok = write_report(&o, &r, err, sizeof err);
    rp_run_free(&r);
    return ok ? JB_EXIT_OK : jb_fail("report", "%s", err);
}

bool jb_report_print_text(const char *path, const char *run_id, FILE *out, char *err, size_t errlen)
{
    rp_run r;
    if (!rp_run_load(&r, path, run_id, err, errlen))
        return false;
    rp_report rep;
    rp_report_build(&r, &rep);
    write_text(&r, &rep, out, false);
    rp_report_free(&rep);
    rp_run_free(&r);
    return true;
}
