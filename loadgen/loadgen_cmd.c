/* loadgen_cmd.c - `jungbench loadgen`: options, progress bar, results database. */
#include "loadgen/loadgen.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static const char *const CMD = "loadgen";

typedef struct loadgen_cli {
    jb_loadgen_config cfg;
    const char *db_path;
    const char *run_name;
    char run_id[JB_RUN_ID_SIZE];
    char default_db[512];
    bool quiet;
    const char *shown_phase; /* the phase the progress line shows */
} loadgen_cli;

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: jungbench loadgen --target URL [OPTIONS]\n\n"
        "Drives Jung's REST API with the dissertation's request mix (table 2) and\n"
        "records every request in the results database.\n\n"
        "  --target URL             Jung's API gateway, e.g. http://127.0.0.1:8080 (required)\n"
        "  --users N                concurrent users, one keep-alive connection each (30)\n"
        "  --requests-per-user N    measured requests per user (500)\n"
        "  --devices-per-user N     devices created per user in set-up (30)\n"
        "  --rules-per-device N     rules created per device in set-up (1)\n"
        "  --mix SPEC               kinds in order with counts per user (default\n"
        "                           get_user=25,get_device=25,get_readings=225,post_command=225;\n"
        "                           scaled when it does not add up to --requests-per-user)\n"
        "  --seed N                 picks devices and command values (1)\n"
        "  --shuffle                shuffle each user's requests (seeded) instead of in order\n"
        "  --model closed|open      closed: next request when the previous answered (default);\n"
        "                           open: constant --rate, times measured from intended send\n"
        "  --rate R                 open model: requests per second, all users together\n"
        "  --timeout-ms N           per-request timeout; a timeout is a failed sample (30000)\n"
        "  --duration S             run S seconds, cycling over the dataset, instead of once\n"
        "  --static                 no set-up; every request GETs --target itself (calibration)\n"
        "  --threads N              sending threads, each with its own event loop and a block\n"
        "                           of the users, as wrk -t (1: Jung's few hundred requests/s\n"
        "                           need no more; raise it to drive a fast static server)\n"
        "  --transport raw|curl     raw: libcurl connects, requests are sent and parsed\n"
        "                           directly, ~6x cheaper per request (default); curl: every\n"
        "                           request a libcurl transfer\n"
        "  --user-prefix P          user names P-u1..P-uN (default: unique per run)\n"
        "  --page-size N            size= of GET readings (10)\n"
        "  --db FILE                results database (results/RUN-ID/results.db)\n"
        "  --run-id ID              run id for the rows (loadgen-DATE-TIME)\n"
        "  --platform NAME          platform for the rows (unknown)\n"
        "  --iteration N            iteration for the rows (1)\n"
        "  --label NAME             a name for the run, stored in runs.name\n"
        "  --quiet                  no progress bar, no summary\n"
        "  -h, --help               this help\n\n"
        "Exit status: 0 done, 1 failed or interrupted (samples so far are kept), 2 usage.\n");
}

enum {
    OPT_TARGET = 256,
    OPT_USERS,
    OPT_RPU,
    OPT_DPU,
    OPT_RPD,
    OPT_MIX,
    OPT_SEED,
    OPT_SHUFFLE,
    OPT_MODEL,
    OPT_RATE,
    OPT_TIMEOUT,
    OPT_DURATION,
    OPT_STATIC,
    OPT_PREFIX,
    OPT_PAGE,
    OPT_DB,
    OPT_RUN_ID,
    OPT_PLATFORM,
    OPT_ITERATION,
    OPT_LABEL,
    OPT_QUIET,
    OPT_THREADS,
    OPT_TRANSPORT,
};

static const struct option long_options[] = {
    {"target", required_argument, NULL, OPT_TARGET},
    {"users", required_argument, NULL, OPT_USERS},
    {"requests-per-user", required_argument, NULL, OPT_RPU},
    {"devices-per-user", required_argument, NULL, OPT_DPU},
    {"rules-per-device", required_argument, NULL, OPT_RPD},
    {"mix", required_argument, NULL, OPT_MIX},
    {"seed", required_argument, NULL, OPT_SEED},
    {"shuffle", no_argument, NULL, OPT_SHUFFLE},
    {"model", required_argument, NULL, OPT_MODEL},
    {"rate", required_argument, NULL, OPT_RATE},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"static", no_argument, NULL, OPT_STATIC},
    {"user-prefix", required_argument, NULL, OPT_PREFIX},
    {"page-size", required_argument, NULL, OPT_PAGE},
    {"db", required_argument, NULL, OPT_DB},
    {"run-id", required_argument, NULL, OPT_RUN_ID},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"iteration", required_argument, NULL, OPT_ITERATION},
    {"label", required_argument, NULL, OPT_LABEL},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"transport", required_argument, NULL, OPT_TRANSPORT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static bool parse_text(const char *opt, const char *val, const char **out)
{
    if (!val[0]) {
        jb_usage_error(CMD, "%s needs a non-empty value", opt);
        return false;
    }
    *out = val;
    return true;
}

/* User names end up in URL paths: keep them to characters needing no escaping. */
static bool parse_prefix(const char *val, const char **out)
{
    size_t n = strlen(val);
    if (n == 0 || n > 40 ||
        strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_-.") != n) {
        jb_usage_error(CMD, "--user-prefix expects 1-40 letters, digits, '_', '-' or '.', got '%s'",
                       val);
        return false;
    }
    *out = val;
    return true;
}

static bool parse_option(loadgen_cli *cli, int opt, const char *val)
{
    jb_loadgen_config *cfg = &cli->cfg;
    long n = 0;
    char err[256];
    switch (opt) {
    case OPT_TARGET:
        if (strncmp(val, "http://", 7) != 0 || !val[7]) {
            jb_usage_error(CMD, "--target expects an http:// URL, got '%s'", val);
            return false;
        }
        cfg->target = val;
        return true;
    case OPT_USERS:
        return jb_parse_long(CMD, "--users", val, 1, 10000, &cfg->users);
    case OPT_RPU:
        return jb_parse_long(CMD, "--requests-per-user", val, 1, 100000000,
                             &cfg->requests_per_user);
    case OPT_DPU:
        return jb_parse_long(CMD, "--devices-per-user", val, 1, 100000, &cfg->devices_per_user);
    case OPT_RPD:
        return jb_parse_long(CMD, "--rules-per-device", val, 0, 1000, &cfg->rules_per_device);
    case OPT_MIX:
        if (!jb_loadgen_parse_mix(val, &cfg->mix, err, sizeof err)) {
            jb_usage_error(CMD, "--mix: %s", err);
            return false;
        }
        return true;
    case OPT_SEED:
        if (!jb_parse_long(CMD, "--seed", val, 0, INT64_MAX, &n))
            return false;
        cfg->seed = (uint64_t)n;
        return true;
    case OPT_SHUFFLE:
        cfg->shuffle = true;
        return true;
    case OPT_MODEL:
        if (strcmp(val, "closed") == 0 || strcmp(val, "open") == 0) {
            cfg->model = val[0] == 'o' ? JB_LOAD_OPEN : JB_LOAD_CLOSED;
            return true;
        }
        jb_usage_error(CMD, "--model expects 'closed' or 'open', got '%s'", val);
        return false;
    case OPT_RATE:
        return jb_parse_double(CMD, "--rate", val, 0.001, 10000000, &cfg->rate);
    case OPT_TIMEOUT:
        return jb_parse_long(CMD, "--timeout-ms", val, 1, 86400000, &cfg->timeout_ms);
    case OPT_DURATION:
        return jb_parse_double(CMD, "--duration", val, 0.001, 86400 * 7, &cfg->duration_s);
    case OPT_STATIC:
        cfg->static_target = true;
        return true;
    case OPT_PREFIX:
        return parse_prefix(val, &cfg->user_prefix);
    case OPT_PAGE:
        return jb_parse_long(CMD, "--page-size", val, 1, 1000, &cfg->readings_page_size);
    case OPT_DB:
        return parse_text("--db", val, &cli->db_path);
    case OPT_RUN_ID:
        return parse_text("--run-id", val, &cfg->run_id);
    case OPT_PLATFORM:
        return parse_text("--platform", val, &cfg->platform);
    case OPT_ITERATION:
        return jb_parse_long(CMD, "--iteration", val, 0, 1000000, &cfg->iteration);
    case OPT_LABEL:
        return parse_text("--label", val, &cli->run_name);
    case OPT_QUIET:
        cli->quiet = true;
        return true;
    case OPT_THREADS:
        return jb_parse_long(CMD, "--threads", val, 1, JB_LOADGEN_MAX_THREADS, &cfg->threads);
    case OPT_TRANSPORT:
        if (strcmp(val, "raw") == 0 || strcmp(val, "curl") == 0) {
            cfg->transport = val[0] == 'r' ? JB_TRANSPORT_RAW : JB_TRANSPORT_CURL;
            return true;
        }
        jb_usage_error(CMD, "--transport expects 'raw' or 'curl', got '%s'", val);
        return false;
    default:
        return false;
    }
}

static int parse_args(loadgen_cli *cli, int argc, char **argv)
{
    jb_loadgen_config_defaults(&cli->cfg);
    cli->cfg.iteration = 1;
    cli->cfg.run_id = NULL;
    bool rate_given = false;
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        if (opt == '?')
            return jb_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        if (opt == ':')
            return jb_usage_error(CMD, "option '%s' needs a value", argv[optind - 1]);
        if (opt == OPT_RATE)
            rate_given = true;
        if (!parse_option(cli, opt, optarg))
            return JB_EXIT_USAGE;
    }
    if (optind < argc)
        return jb_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!cli->cfg.target)
        return jb_usage_error(CMD, "--target URL is required");
    if (cli->cfg.model == JB_LOAD_OPEN && !rate_given)
        return jb_usage_error(CMD, "--model open needs --rate R (requests per second)");
    if (cli->cfg.model == JB_LOAD_CLOSED && rate_given)
        return jb_usage_error(CMD, "--rate only applies to --model open");
    if (cli->cfg.threads > cli->cfg.users)
        return jb_usage_error(CMD,
                              "--threads %ld exceeds --users %ld: each thread needs a user;"
                              " lower --threads or raise --users",
                              cli->cfg.threads, cli->cfg.users);
    return JB_EXIT_OK;
}

/* ---- progress bar ---------------------------------------------------------- */

static void show_progress(const jb_load_progress *p, void *ctx)
{
    loadgen_cli *cli = ctx;
    if (cli->shown_phase && strcmp(cli->shown_phase, p->phase) != 0)
        printf("\n"); /* keep the finished set-up line, start the measured one */
    cli->shown_phase = p->phase;
    double fraction = p->total > 0        ? (double)p->done / (double)p->total
                      : p->duration_s > 0 ? p->elapsed_s / p->duration_s
                                          : 0;
    if (fraction > 1)
        fraction = 1;
    double eta = fraction > 0 ? p->elapsed_s * (1 - fraction) / fraction : 0;
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    int filled = (int)(fraction * WIDTH);
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    printf("\r%-7s [%s] %ld", p->phase, bar, p->done);
    if (p->total > 0)
        printf("/%ld", p->total);
    printf(" req  %.0f req/s  %ld errors  ETA %.0fs   ", p->rate, p->errors, eta);
    fflush(stdout);
}

/* ---- results database -------------------------------------------------------- */

/* mkdir -p for the directory part of path. */
static bool make_parent_dirs(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return true;
}

/* Standalone runs record themselves in `runs` so a report can find them; a
 * run the controller already registered is left alone. */
static bool register_run(jb_store *store, const loadgen_cli *cli)
{
    const jb_store_run run = {.run_id = cli->cfg.run_id,
                              .name = cli->run_name ? cli->run_name : "loadgen",
                              .config = "jungbench loadgen",
                              .started_ms = jb_wall_ms()};
    bool inserted = false;
    return jb_store_add_run(store, &run, &inserted) && inserted;
}

static void close_run(jb_store *store, const char *run_id, const char *status)
{
    jb_store_set_run_status(store, run_id, status, jb_wall_ms());
}

static void default_names(loadgen_cli *cli)
{
    if (!cli->cfg.run_id) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(cli->run_id, sizeof cli->run_id, "loadgen-%Y%m%d-%H%M%S", &tm);
        cli->cfg.run_id = cli->run_id;
    }
    if (!cli->db_path) {
        snprintf(cli->default_db, sizeof cli->default_db, "results/%s/results.db", cli->cfg.run_id);
        cli->db_path = cli->default_db;
    }
}

static void print_summary(const loadgen_cli *cli, const jb_load_summary *s)
{
    printf("loadgen %s: %ld samples, %ld errors (%.2f%%), %.1f req/s, received %.1f KB/s, "
           "sent %.1f KB/s over %.1f s\n",
           cli->cfg.run_id, s->samples, s->errors, s->error_pct, s->throughput, s->received_kbs,
           s->sent_kbs, s->duration_ms / 1000.0);
    printf("response time ms: avg %.3f min %.3f max %.3f p50 %.3f p90 %.3f p95 %.3f p99 %.3f "
           "p99.9 %.3f\n",
           s->avg_ms, s->min_ms, s->max_ms, s->p50_ms, s->p90_ms, s->p95_ms, s->p99_ms, s->p999_ms);
    printf("results: %s (set-up requests: %ld)\n", cli->db_path, s->setup_requests);
}

static int run(loadgen_cli *cli)
{
    default_names(cli);
    char err[1024];
    jb_store store;
    if (!make_parent_dirs(cli->db_path))
        return jb_fail(CMD, "cannot create the directory for %s: %s", cli->db_path,
                       strerror(errno));
    if (!jb_store_open(&store, cli->db_path, err, sizeof err))
        return jb_fail(CMD, "%s", err);
    bool own_run = register_run(&store, cli);
    cli->cfg.store = &store;
    if (!cli->quiet && isatty(STDOUT_FILENO))
        cli->cfg.progress = show_progress;
    cli->cfg.progress_ctx = cli;
    jb_install_stop_handlers();
    jb_load_summary sum;
    jb_load_result res = jb_loadgen_run(&cli->cfg, &sum, err, sizeof err);
    if (cli->cfg.progress)
        printf("\n");
    if (own_run)
        close_run(&store, cli->cfg.run_id,
                  res == JB_LOAD_OK        ? "done"
                  : res == JB_LOAD_STOPPED ? "interrupted"
                                           : "failed");
    jb_store_close(&store);
    if (res == JB_LOAD_FAILED)
        return jb_fail(CMD, "%s", err);
    if (!cli->quiet)
        print_summary(cli, &sum);
    if (res == JB_LOAD_STOPPED)
        return jb_fail(CMD,
                       "interrupted: stopped sending; %ld samples kept in %s (%ld in-flight "
                       "requests abandoned)",
                       sum.samples, cli->db_path, sum.abandoned);
    return JB_EXIT_OK;
}

int loadgen_main(int argc, char **argv)
{
    if (jb_wants_help(argc, argv)) {
        usage(stdout);
        return JB_EXIT_OK;
    }
    loadgen_cli cli;
    memset(&cli, 0, sizeof cli);
    int rc = parse_args(&cli, argc, argv);
    if (rc != JB_EXIT_OK)
        return rc;
    return run(&cli);
}
