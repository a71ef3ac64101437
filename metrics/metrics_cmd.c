/* metrics_cmd.c - `jungbench metrics`: sample processes, cgroups or runtime daemons
 * from the command line, print a table, optionally store the series. */
#include "cli/cli.h"
#include "metrics/metrics.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD "metrics"
#define MAX_GROUPS 64
#define MAX_ITEMS 256

typedef enum { DEF_PIDS, DEF_CGROUP, DEF_CONTAINER, DEF_PROCESS } def_type;

/* A group as the command line describes it, added once parsing succeeded. */
typedef struct group_def {
    def_type type;
    char name[64];
    const char *arg;
    pid_t pids[MAX_ITEMS];
    size_t npids;
} group_def;

typedef struct options {
    group_def groups[MAX_GROUPS];
    size_t ngroups;
    unsigned daemons;
    double interval_ms, pss_interval_ms, duration_s;
    const char *db, *run_id, *platform;
    long iteration;
    bool quiet;
    jb_proc_reader_kind reader;
} options;

static void usage(FILE *out)
{
    fprintf(out, "Usage: jungbench metrics GROUP... [OPTIONS]\n\n"
                 "Samples CPU and memory of groups of processes and prints a table: a row per\n"
                 "group per interval, then a summary per group.\n\n"
                 "Groups (each option starts a new group; repeat as needed):\n"
                 "  --pid P[,P...]        these processes (all their threads count)\n"
                 "  --cgroup PATH         a cgroup's processes and its own memory/CPU figures\n"
                 "                        (PATH as in /proc/PID/cgroup, e.g. /docker/<id>)\n"
                 "  --container PID       the cgroup of process PID (a container's init PID)\n"
                 "  --process PAT[,PAT...] processes whose name matches a fnmatch pattern, or\n"
                 "                        whose command line matches 'cmdline:PATTERN'\n"
                 "  --name NAME           names the group defined just before (default pid-P,\n"
                 "                        the cgroup's last path part, or the first pattern)\n"
                 "  --runtime LIST        runtime daemons as groups: docker (dockerd, containerd,\n"
                 "                        containerd-shim), libvirt (libvirtd, virtlogd,\n"
                 "                        virtqemud), broker (a local Kafka), comma separated\n\n"
                 "Options:\n"
                 "  --interval MS         sampling period (default 500)\n"
                 "  --pss-interval MS     read PSS at most this often, 0 = every sample\n"
                 "                        (default 5000; PSS costs CPU in proportion to the\n"
                 "                        process's mapped memory)\n"
                 "  --duration S          stop after S seconds (default 0: until Ctrl-C, or\n"
                 "                        until every PID or cgroup group has exited)\n"
                 "  --db FILE             also store samples and summaries in this results\n"
                 "                        database (metric_samples, metric_summaries)\n"
                 "  --run-id ID           run key for --db (default standalone)\n"
                 "  --platform NAME       platform key for --db (default native)\n"
                 "  --iteration N         iteration key for --db (default 1)\n"
                 "  --reader KIND         statfd (default: /proc/PID/stat kept open, cheapest)\n"
                 "                        or libproc2 (procps_pids_select at every reading)\n"
                 "  --quiet               print only the summary\n"
                 "  -h, --help            show this help\n\n"
                 "Figures: cpu%% = user+system time over wall time (100 = one core); rss and\n"
                 "pss in MiB; cg_MiB = cgroup memory minus inactive file (as docker stats);\n"
                 "'-' = not measured at that sample. Exit status: 0 ok, 1 failure, 2 usage.\n");
}

static int parse_pid_list(const char *arg, group_def *d)
{
    char *copy = strdup(arg);
    if (!copy)
        return jb_fail(CMD, "out of memory");
    int rc = JB_EXIT_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == JB_EXIT_OK;
         tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (d->npids == MAX_ITEMS)
            rc = jb_usage_error(CMD, "--pid: at most %d PIDs per group", MAX_ITEMS);
        else if (!jb_parse_long(CMD, "--pid", tok, 1, 4194304, &v))
            rc = JB_EXIT_USAGE;
        else
            d->pids[d->npids++] = (pid_t)v;
    }
    if (rc == JB_EXIT_OK && d->npids == 0)
        rc = jb_usage_error(CMD, "--pid expects a comma-separated list of PIDs, got '%s'", arg);
    free(copy);
    return rc;
}

static void default_name(group_def *d)
{
    if (d->type == DEF_PIDS || d->type == DEF_CONTAINER) {
        snprintf(d->name, sizeof d->name, "%s-%d", d->type == DEF_PIDS ? "pid" : "container",
                 (int)(d->type == DEF_PIDS ? d->pids[0] : d->pids[0]));
        return;
    }
    const char *base = d->arg;
    if (d->type == DEF_CGROUP && strrchr(d->arg, '/') && strrchr(d->arg, '/')[1])
        base = strrchr(d->arg, '/') + 1;
    snprintf(d->name, sizeof d->name, "%.63s", base);
    if (d->type == DEF_PROCESS)
        d->name[strcspn(d->name, ",")] = '\0';
}

static int add_def(options *o, def_type type, const char *arg)
{
    if (o->ngroups == MAX_GROUPS)
        return jb_usage_error(CMD, "at most %d groups", MAX_GROUPS);
    group_def *d = &o->groups[o->ngroups];
    memset(d, 0, sizeof *d);
    d->type = type;
    d->arg = arg;
    int rc = JB_EXIT_OK;
    if (type == DEF_PIDS)
        rc = parse_pid_list(arg, d);
    if (type == DEF_CONTAINER) {
        long v;
        if (!jb_parse_long(CMD, "--container", arg, 1, 4194304, &v))
            return JB_EXIT_USAGE;
        d->pids[d->npids++] = (pid_t)v;
    }
    if ((type == DEF_CGROUP || type == DEF_PROCESS) && !arg[0])
        rc = jb_usage_error(CMD, "--%s needs a value", type == DEF_CGROUP ? "cgroup" : "process");
    if (rc == JB_EXIT_OK) {
        default_name(d);
        o->ngroups++;
    }
    return rc;
}

static int parse_runtime(options *o, const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    int rc = copy ? JB_EXIT_OK : jb_fail(CMD, "out of memory");
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && rc == JB_EXIT_OK;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "docker") == 0)
            o->daemons |= JB_DAEMONS_DOCKER;
        else if (strcmp(tok, "libvirt") == 0)
            o->daemons |= JB_DAEMONS_LIBVIRT;
        else if (strcmp(tok, "broker") == 0)
            o->daemons |= JB_DAEMONS_BROKER;
        else
            rc = jb_usage_error(CMD, "--runtime: unknown '%s' (use docker, libvirt, broker)", tok);
    }
    free(copy);
    return rc;
}

enum {
    OPT_PID = 256,
    OPT_CGROUP,
    OPT_CONTAINER,
    OPT_PROCESS,
    OPT_NAME,
    OPT_RUNTIME,
    OPT_INTERVAL,
    OPT_PSS,
    OPT_DURATION,
    OPT_DB,
    OPT_RUN,
    OPT_PLATFORM,
    OPT_ITER,
    OPT_QUIET,
    OPT_READER,
};

static int parse_one(options *o, int opt, const char *val)
{
    switch (opt) {
    case OPT_PID:
        return add_def(o, DEF_PIDS, val);
    case OPT_CGROUP:
        return add_def(o, DEF_CGROUP, val);
    case OPT_CONTAINER:
        return add_def(o, DEF_CONTAINER, val);
    case OPT_PROCESS:
        return add_def(o, DEF_PROCESS, val);
    case OPT_NAME:
        if (o->ngroups == 0)
            return jb_usage_error(CMD, "--name must follow the group it names (--pid, ...)");
        if (!val[0] || strlen(val) > 63)
            return jb_usage_error(CMD, "--name expects 1 to 63 characters, got '%s'", val);
        snprintf(o->groups[o->ngroups - 1].name, 64, "%s", val);
        return JB_EXIT_OK;
    case OPT_RUNTIME:
        return parse_runtime(o, val);
    case OPT_INTERVAL:
        return jb_parse_double(CMD, "--interval", val, 10, 3600e3, &o->interval_ms) ? JB_EXIT_OK
                                                                                    : JB_EXIT_USAGE;
    case OPT_PSS:
        return jb_parse_double(CMD, "--pss-interval", val, 0, 3600e3, &o->pss_interval_ms)
                   ? JB_EXIT_OK
                   : JB_EXIT_USAGE;
    case OPT_DURATION:
        return jb_parse_double(CMD, "--duration", val, 0, 365 * 86400.0, &o->duration_s)
                   ? JB_EXIT_OK
                   : JB_EXIT_USAGE;
    case OPT_ITER:
        return jb_parse_long(CMD, "--iteration", val, 0, 1000000, &o->iteration) ? JB_EXIT_OK
                                                                                 : JB_EXIT_USAGE;
    case OPT_DB:
        o->db = val;
        return JB_EXIT_OK;
    case OPT_RUN:
        o->run_id = val;
        return JB_EXIT_OK;
    case OPT_PLATFORM:
        o->platform = val;
        return JB_EXIT_OK;
    case OPT_QUIET:
        o->quiet = true;
        return JB_EXIT_OK;
    case OPT_READER:
        if (strcmp(val, "statfd") == 0)
            o->reader = JB_READER_STATFD;
        else if (strcmp(val, "libproc2") == 0)
            o->reader = JB_READER_LIBPROC2;
        else
            return jb_usage_error(CMD, "--reader expects statfd or libproc2, got '%s'", val);
        return JB_EXIT_OK;
    default:
        return jb_usage_error(CMD, "unknown option");
    }
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"pid", required_argument, NULL, OPT_PID},
        {"cgroup", required_argument, NULL, OPT_CGROUP},
        {"container", required_argument, NULL, OPT_CONTAINER},
        {"process", required_argument, NULL, OPT_PROCESS},
        {"name", required_argument, NULL, OPT_NAME},
        {"runtime", required_argument, NULL, OPT_RUNTIME},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"pss-interval", required_argument, NULL, OPT_PSS},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"db", required_argument, NULL, OPT_DB},
        {"run-id", required_argument, NULL, OPT_RUN},
        {"platform", required_argument, NULL, OPT_PLATFORM},
        {"iteration", required_argument, NULL, OPT_ITER},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"reader", required_argument, NULL, OPT_READER},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->interval_ms = 500;
    o->pss_interval_ms = 5000;
    o->iteration = 1;
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (opt == '?')
            return jb_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        if (opt == ':')
            return jb_usage_error(CMD, "option '%s' needs a value", argv[optind - 1]);
        int rc = parse_one(o, opt, optarg);
        if (rc != JB_EXIT_OK)
            return rc;
    }
    if (optind < argc)
        return jb_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (o->ngroups == 0 && o->daemons == 0)
        return jb_usage_error(CMD, "nothing to sample: give --pid, --cgroup, --container, "
                                   "--process or --runtime");
    if (!o->db && (o->run_id || o->platform))
        return jb_usage_error(CMD, "--run-id and --platform only make sense with --db");
    return JB_EXIT_OK;
}

/* ---- output ---- */

typedef struct printer {
    double start_wall_ms;
    bool quiet;
} printer;

static void print_mib(int64_t kb)
{
    if (kb < 0)
        printf(" %9s", "-");
    else
        printf(" %9.1f", (double)kb / 1024.0);
}

static void print_pct(double pct)
{
    if (isnan(pct))
        printf(" %7s", "-");
    else
        printf(" %7.1f", pct);
}

static void on_sample(void *ctx, const char *grp, const jb_metric_sample *m)
{
    const printer *p = ctx;
    if (p->quiet)
        return;
    printf("%8.2f  %-20s", (m->t_ms - p->start_wall_ms) / 1e3, grp);
    print_pct(m->cpu_pct);
    print_mib(m->rss_kb);
    print_mib(m->pss_kb);
    print_mib(m->cgroup_mem_kb);
    print_pct(m->cgroup_cpu_pct);
    printf(" %5d  %s\n", m->nprocs, m->source);
    fflush(stdout);
}

static void print_summaries(jb_sampler *s)
{
    jb_metric_summary sums[MAX_GROUPS + 8];
    size_t n = jb_sampler_summaries(s, sums, MAX_GROUPS + 8);
    printf("\n%-20s %-7s %7s %7s %7s %8s %9s %9s %9s %9s %9s  %s\n", "group", "kind", "samples",
           "cpu%", "cpu_sd", "cpu_s", "rss_mean", "rss_peak", "pss_mean", "pss_peak", "cg_mean",
           "source");
    for (size_t i = 0; i < n && i < MAX_GROUPS + 8; i++) {
        const jb_metric_summary *m = &sums[i];
        printf("%-20s %-7s %7ld", m->grp, jb_group_kind_name(m->kind), m->samples);
        print_pct(m->cpu_mean);
        print_pct(m->cpu_sd);
        printf(" %8.2f", m->cpu_seconds);
        print_mib(isnan(m->rss_mean_kb) ? -1 : (int64_t)m->rss_mean_kb);
        print_mib(m->rss_peak_kb);
        print_mib(isnan(m->pss_mean_kb) ? -1 : (int64_t)m->pss_mean_kb);
        print_mib(m->pss_peak_kb);
        print_mib(isnan(m->cgroup_mem_mean_kb) ? -1 : (int64_t)m->cgroup_mem_mean_kb);
        printf("  %s\n", m->source);
    }
    if (n == 0)
        printf("(no samples: the processes exited before the first interval)\n");
    double cpu_s, wall_s;
    jb_sampler_overhead(s, &cpu_s, &wall_s);
    printf("\nsampler thread: %.4f s CPU over %.2f s wall = %.3f%% of one core\n", cpu_s, wall_s,
           wall_s > 0 ? cpu_s / wall_s * 100.0 : 0.0);
}

/* ---- running ---- */

static bool add_process_group(jb_sampler *s, const group_def *d, char *err, size_t errlen)
{
    char *copy = strdup(d->arg), *save = NULL;
    const char *patterns[MAX_ITEMS];
    size_t n = 0;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && n < MAX_ITEMS;
         tok = strtok_r(NULL, ",", &save))
        patterns[n++] = tok;
    bool ok = jb_sampler_add_process_name(s, d->name, JB_GROUP_SERVICE, patterns, n, err, errlen);
    free(copy);
    return ok;
}

static bool add_groups(jb_sampler *s, const options *o, char *err, size_t errlen)
{
    for (size_t i = 0; i < o->ngroups; i++) {
        const group_def *d = &o->groups[i];
        bool ok = true;
        if (d->type == DEF_PIDS)
            ok = jb_sampler_add_pids(s, d->name, JB_GROUP_SERVICE, d->pids, d->npids, err, errlen);
        else if (d->type == DEF_CGROUP)
            ok = jb_sampler_add_cgroup(s, d->name, JB_GROUP_SERVICE, d->arg, err, errlen);
        else if (d->type == DEF_CONTAINER)
            ok = jb_sampler_add_container(s, d->name, JB_GROUP_SERVICE, d->pids[0], err, errlen);
        else
            ok = add_process_group(s, d, err, errlen);
        if (!ok)
            return false;
    }
    return jb_sampler_add_runtime_daemons(s, o->daemons, err, errlen);
}

/* Stops early when every fixed group has ended and nothing else can appear. */
static bool all_ended(jb_sampler *s, const options *o)
{
    if (o->daemons)
        return false;
    for (size_t i = 0; i < o->ngroups; i++)
        if (o->groups[i].type == DEF_PROCESS || !jb_sampler_group_ended(s, o->groups[i].name))
            return false;
    return true;
}

static void wait_until_done(jb_sampler *s, const options *o)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        /* a signal cuts the nap short, so Ctrl-C stays prompt */
        struct timespec now, nap = {0, 250 * 1000000L};
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed =
            (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
        if (jb_stop_requested() || (o->duration_s > 0 && elapsed >= o->duration_s) ||
            all_ended(s, o))
            return;
        double left = o->duration_s > 0 ? o->duration_s - elapsed : 1.0;
        if (left < 0.25) /* end on time, not up to a nap late */
            nap.tv_nsec = (long)(left * 1e9);
        nanosleep(&nap, NULL);
    }
}

static int run(const options *o)
{
    char err[512];
    printer pr = {.quiet = o->quiet};
    jb_sampler_config cfg;
    jb_sampler_config_init(&cfg);
    cfg.interval_ms = o->interval_ms;
    cfg.pss_interval_ms = o->pss_interval_ms;
    cfg.reader = o->reader;
    cfg.db_path = o->db;
    cfg.run_id = o->run_id ? o->run_id : "standalone";
    cfg.platform = o->platform ? o->platform : "native";
    cfg.iteration = (int)o->iteration;
    cfg.on_sample = on_sample;
    cfg.on_sample_ctx = &pr;
    jb_sampler *s = jb_sampler_new(&cfg, err, sizeof err);
    if (!s)
        return jb_fail(CMD, "%s", err);
    int rc = JB_EXIT_OK;
    if (!add_groups(s, o, err, sizeof err)) {
        rc = jb_fail(CMD, "%s", err);
    } else {
        jb_install_stop_handlers();
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        pr.start_wall_ms = (double)wall.tv_sec * 1e3 + (double)wall.tv_nsec / 1e6;
        if (!o->quiet)
            printf("%8s  %-20s %7s %9s %9s %9s %7s %5s  %s\n", "t_s", "group", "cpu%", "rss_MiB",
                   "pss_MiB", "cg_MiB", "cg_cpu%", "procs", "source");
        if (!jb_sampler_start(s, err, sizeof err)) {
            rc = jb_fail(CMD, "%s", err);
        } else {
            wait_until_done(s, o);
            if (!jb_sampler_stop(s, err, sizeof err))
                rc = jb_fail(CMD, "%s", err);
            print_summaries(s);
            if (o->db && !jb_sampler_write_summaries(s, err, sizeof err))
                rc = jb_fail(CMD, "%s", err);
        }
    }
    jb_sampler_free(s);
    return rc;
}

int metrics_main(int argc, char **argv)
{
    if (jb_wants_help(argc, argv)) {
        usage(stdout);
        return JB_EXIT_OK;
    }
    options *o = malloc(sizeof *o);
    if (!o)
        return jb_fail(CMD, "out of memory");
    int rc = parse_options(argc, argv, o);
    if (rc == JB_EXIT_OK)
        rc = run(o);
    free(o);
    return rc;
}
