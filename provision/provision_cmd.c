/* provision_cmd.c - `jungbench provision CONFIG --instances 10,20,30`: the
 * dissertation's figure 13 experiment. On each platform of the config, N
 * instances of one service are started at once and timed until all are
 * ready; then they are stopped and the teardown is timed too. */
#include "provision/provision.h"

#include "platforms/platform.h"

#include "broker/broker.h"
#include "cli/cli.h"
#include "config/config.h"
#include "store/store.h"
#include "platforms/launch.h"

#include <getopt.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CMD "provision"
#define MAX_COUNTS 16
#define MAX_INSTANCES 200

typedef struct provision {
    jb_config *cfg;
    const char *service, *platform_name, *db_path;
    long counts[MAX_COUNTS];
    size_t ncounts;
    long repeat;
    double timeout_ms;
    const char *brokers;
    char run_id[JB_RUN_ID_SIZE];
    jb_store store;
    bool have_store;
} provision;

typedef struct round_result {
    double all_ready_ms, ready_median_ms, ready_max_ms, stop_ms;
    double rss_median_kb;  /* resident set of each instance's processes, once all are ready */
    double harness_cpu_ms; /* CPU the harness itself used for the round: the driver's overhead */
    char accel[16];
} round_result;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: jungbench provision CONFIG [OPTIONS]\n\n"
            "Starts N instances of one service at once on each platform of CONFIG and times\n"
            "until all are ready (the dissertation's figure 13), then stops them (timed).\n"
            "Guest timings say 'emulated' when libvirt ran without KVM.\n\n"
            "Options:\n"
            "  --instances LIST  comma-separated counts (default 10,20,30; each 1-%d)\n"
            "  --service NAME    the service to start (default user_registry)\n"
            "  --platform NAME   only this platform of the config\n"
            "  --repeat N        rounds per count (default 1); medians are printed\n"
            "  --timeout-ms MS   per round, until all are ready (default: the platform's\n"
            "                    ready_timeout_ms, at least 120000)\n"
            "  --db PATH         also write provision_times and boot_times rows there\n"
            "  -h, --help        this help\n",
            MAX_INSTANCES);
}

static bool parse_counts(provision *pv, const char *list)
{
    char copy[256], *save = NULL;
    jb_strlcpy(copy, list, sizeof copy);
    pv->ncounts = 0;
    for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        if (pv->ncounts == MAX_COUNTS) {
            jb_usage_error(CMD, "--instances: at most %d counts", MAX_COUNTS);
            return false;
        }
        if (!jb_parse_long(CMD, "--instances", s, 1, MAX_INSTANCES, &pv->counts[pv->ncounts]))
            return false;
        pv->ncounts++;
    }
    if (pv->ncounts == 0)
        jb_usage_error(CMD, "--instances: give at least one count, e.g. 10,20,30");
    return pv->ncounts > 0;
}

static int parse(int argc, char **argv, provision *pv, const char **config_path)
{
    static const struct option longopts[] = {{"instances", required_argument, NULL, 'n'},
                                             {"service", required_argument, NULL, 's'},
                                             {"platform", required_argument, NULL, 'p'},
                                             {"repeat", required_argument, NULL, 'r'},
                                             {"timeout-ms", required_argument, NULL, 't'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    pv->service = "user_registry";
    pv->repeat = 1;
    parse_counts(pv, "10,20,30");
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        double ms;
        switch (c) {
        case 'n':
            if (!parse_counts(pv, optarg))
                return JB_EXIT_USAGE;
            break;
        case 's':
            pv->service = optarg;
            break;
        case 'p':
            pv->platform_name = optarg;
            break;
        case 'r':
            if (!jb_parse_long(CMD, "--repeat", optarg, 1, 100, &pv->repeat))
                return JB_EXIT_USAGE;
            break;
        case 't':
            if (!jb_parse_double(CMD, "--timeout-ms", optarg, 1000, 3600000, &ms))
                return JB_EXIT_USAGE;
            pv->timeout_ms = ms;
            break;
        case 'd':
            pv->db_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return jb_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return jb_usage_error(CMD, "expected one CONFIG file");
    *config_path = argv[optind];
    return 0;
}

/* The launch plan's driver settings, named per count and round. */
static void platform_config(const provision *pv, const jb_config_platform *pl, long n, long rep,
                            jb_platform_config *pc, char *run_id, size_t idlen, char *work_dir,
                            size_t dirlen)
{
    jb_launch_platform_config(pl, pc);
    snprintf(run_id, idlen, "%s-%s-%ld-%ld", pv->run_id, pl->name, n, rep);
    pc->run_id = run_id;
    pc->brokers = pv->brokers;
    snprintf(work_dir, dirlen, "/tmp/jungbench-%s/%s-%ld-%ld", pv->run_id, pl->name, n, rep);
    pc->work_dir = work_dir;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void store_round(provision *pv, const jb_config_platform *pl, long n, long rep,
                        const round_result *r)
{
    if (!pv->have_store)
        return;
    const jb_store_provision_time row = {.run_id = pv->run_id,
                                         .platform = pl->name,
                                         .service = pv->service,
                                         .accel = r->accel,
                                         .instances = n,
                                         .repeat = rep,
                                         .all_ready_ms = r->all_ready_ms,
                                         .ready_median_ms = r->ready_median_ms,
                                         .ready_max_ms = r->ready_max_ms,
                                         .stop_ms = r->stop_ms};
    if (!jb_store_put_provision_time(&pv->store, &row))
        fprintf(stderr, "jungbench provision: %s\n", jb_store_errmsg(&pv->store));
}

/* Per instance: run_id "<run>-x<N>" keeps the rounds of one count together;
 * iteration is the round. */
static void store_instances(provision *pv, const jb_config_platform *pl, long n, long rep,
                            jb_instance *const *insts)
{
    if (!pv->have_store)
        return;
    char run[96];
    snprintf(run, sizeof run, "%s-x%ld", pv->run_id, n);
    for (long i = 0; i < n; i++) {
        const jb_instance_info *info = jb_instance_get_info(insts[i]);
        jb_store_boot_time bt = {.run_id = run,
                                 .platform = pl->name,
                                 .iteration = rep,
                                 .service = info->service,
                                 .instance = info->instance,
                                 .boot_ms = info->boot_ms,
                                 .ready_ms = info->ready_ms,
                                 .process_ready_ms = info->process_ready_ms,
                                 .accel = info->accel};
        jb_store_add_boot_time(&pv->store, &bt);
    }
}

/* VmRSS of a process in kB; 0 when it is gone. A container's process or a
 * guest's QEMU process counts as the instance. */
static double rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lf", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static double instances_rss_median(jb_instance *const *insts, long n)
{
    double rss[MAX_INSTANCES];
    for (long i = 0; i < n; i++) {
        const jb_instance_info *info = jb_instance_get_info(insts[i]);
        rss[i] = 0;
        for (size_t k = 0; k < info->npids; k++)
            rss[i] += rss_kb(info->pids[k]);
    }
    return median(rss, (size_t)n);
}

static double cpu_ms_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* Every instance as `run` would start it (launch.h): options, environment,
 * executable of the platform's build; all at once, as run starts them. */
static bool start_all(provision *pv, const jb_config_platform *pl, jb_platform *p, long n,
                      jb_instance **insts, char *err, size_t errlen)
{
    jb_launch_plan *plans = calloc((size_t)n, sizeof *plans);
    const jb_instance_spec **specs = calloc((size_t)n, sizeof *specs);
    bool ok = plans && specs;
    if (!ok)
        snprintf(err, errlen, "out of memory");
    for (long i = 0; ok && i < n; i++) {
        jb_launch_plan_make(pv->cfg, pl, pv->service, (int)i + 1, &plans[i]);
        specs[i] = &plans[i].spec;
    }
    ok = ok && jb_platform_start_many(p, specs, (size_t)n, insts, err, errlen);
    if (ok && jb_stop_requested()) {
        snprintf(err, errlen, "interrupted");
        ok = false;
    }
    free(specs);
    free(plans);
    return ok;
}

/* One round: N instances at once, until all are ready, then teardown. */
static bool boot_round(provision *pv, const jb_config_platform *pl, long n, long rep,
                       round_result *r);

/* An embedded broker lives for one round: a consumer group a killed
 * instance did not leave would otherwise delay the next round's joins by
 * the session timeout. */
static bool run_round(provision *pv, const jb_config_platform *pl, long n, long rep,
                      round_result *r)
{
    if (!pv->cfg->broker.embedded)
        return boot_round(pv, pl, n, rep, r);
    char err[1024];
    jb_broker_options bo = {0};
    jb_broker *broker = jb_broker_start(&bo, err, sizeof err);
    if (!broker)
        return jb_fail(CMD, "embedded broker: %s", err), false;
    pv->brokers = jb_broker_bootstrap(broker);
    bool ok = boot_round(pv, pl, n, rep, r);
    jb_broker_stop(broker);
    pv->brokers = NULL;
    return ok;
}

static bool boot_round(provision *pv, const jb_config_platform *pl, long n, long rep,
                       round_result *r)
{
    jb_platform_config pc;
    char run_id[256], err[2048], work_dir[512];
    platform_config(pv, pl, n, rep, &pc, run_id, sizeof run_id, work_dir, sizeof work_dir);
    jb_platform *p = jb_platform_open(&pc, err, sizeof err);
    if (!p)
        return jb_fail(CMD, "%s: %s", pl->name, err), false;
    jb_strlcpy(r->accel, jb_platform_accel(p), sizeof r->accel);
    jb_instance *insts[MAX_INSTANCES] = {0};
    double timeout = pv->timeout_ms > 0              ? pv->timeout_ms
                     : pl->ready_timeout_ms > 120000 ? (double)pl->ready_timeout_ms
                                                     : 120000;
    double cpu0 = cpu_ms_self();
    double t0 = jb_now_ms();
    bool ok = jb_platform_prepare(p, &pv->service, 1, err, sizeof err) &&
              start_all(pv, pl, p, n, insts, err, sizeof err) &&
              jb_instances_wait_ready(insts, (size_t)n, timeout, err, sizeof err);
    r->all_ready_ms = jb_now_ms() - t0;
    if (ok) {
        double ready[MAX_INSTANCES];
        for (long i = 0; i < n; i++)
            ready[i] = jb_instance_get_info(insts[i])->ready_ms;
        r->ready_median_ms = median(ready, (size_t)n);
        r->ready_max_ms = ready[n - 1];
        r->rss_median_kb = instances_rss_median(insts, n);
        store_instances(pv, pl, n, rep, insts);
    } else {
        jb_fail(CMD, "%s with %ld instances: %s", pl->name, n, err);
    }
    double t1 = jb_now_ms();
    size_t started = 0; /* a failed start leaves holes: stop the others */
    for (long i = 0; i < n; i++)
        if (insts[i])
            insts[started++] = insts[i];
    if (!jb_instances_stop(insts, started, err, sizeof err))
        fprintf(stderr, "jungbench provision: %s\n", err);
    r->stop_ms = jb_now_ms() - t1;
    r->harness_cpu_ms = cpu_ms_self() - cpu0;
    if (ok)
        store_round(pv, pl, n, rep, r);
    jb_platform_close(p);
    return ok;
}

static bool run_platform(provision *pv, const jb_config_platform *pl)
{
    for (size_t c = 0; c < pv->ncounts && !jb_stop_requested(); c++) {
        long n = pv->counts[c];
        double all[100], med[100], stop[100], rss[100], cpu[100];
        char accel[16] = "";
        for (long rep = 1; rep <= pv->repeat; rep++) {
            round_result r = {0};
            if (!run_round(pv, pl, n, rep, &r))
                return false;
            all[rep - 1] = r.all_ready_ms;
            med[rep - 1] = r.ready_median_ms;
            stop[rep - 1] = r.stop_ms;
            rss[rep - 1] = r.rss_median_kb;
            cpu[rep - 1] = r.harness_cpu_ms;
            jb_strlcpy(accel, r.accel, sizeof accel);
        }
        size_t reps = (size_t)pv->repeat;
        printf("%-10s %-9s %4ld x %-14s all ready %8.0f ms  ready/instance %8.0f ms  "
               "rss/instance %7.1f MB  stop %6.0f ms  harness cpu %6.0f ms%s\n",
               pl->name, accel, n, pv->service, median(all, reps), median(med, reps),
               median(rss, reps) / 1024.0, median(stop, reps), median(cpu, reps),
               strcmp(accel, "emulated") == 0 ? "  (EMULATED guests, no KVM)" : "");
        fflush(stdout);
    }
    return !jb_stop_requested();
}

static int run(provision *pv)
{
    char err[1024];
    if (!pv->cfg->broker.embedded)
        pv->brokers = pv->cfg->broker.bootstrap;
    if (pv->db_path) {
        pv->have_store = jb_store_open(&pv->store, pv->db_path, err, sizeof err);
        if (!pv->have_store)
            return jb_fail(CMD, "%s", err);
    }
    int rc = JB_EXIT_OK;
    size_t matched = 0;
    for (size_t i = 0; i < pv->cfg->nplatforms && rc == JB_EXIT_OK; i++) {
        const jb_config_platform *pl = &pv->cfg->platforms[i];
        if (pv->platform_name && strcmp(pv->platform_name, pl->name) != 0)
            continue;
        matched++;
        if (!run_platform(pv, pl))
            rc = JB_EXIT_FAIL;
    }
    if (pv->have_store)
        jb_store_close(&pv->store);
    if (matched == 0)
        return jb_usage_error(CMD, "--platform: the config has no platform named '%s'",
                              pv->platform_name);
    return rc;
}

int provision_main(int argc, char **argv)
{
    provision pv = {0};
    const char *path = NULL;
    int rc = parse(argc, argv, &pv, &path);
    if (rc != 0)
        return rc < 0 ? JB_EXIT_OK : rc;
    char err[2048];
    const char *one[1] = {pv.service};
    char store[128];
    size_t n = 0;
    if (!jb_parse_services(pv.service, store, sizeof store, one, &n, 1, err, sizeof err))
        return jb_usage_error(CMD, "--service: %s", err);
    pv.cfg = calloc(1, sizeof *pv.cfg);
    if (!pv.cfg)
        return jb_fail(CMD, "out of memory");
    if (!jb_config_load(path, 0, pv.cfg, err, sizeof err)) {
        free(pv.cfg);
        return jb_fail(CMD, "%s", err);
    }
    snprintf(pv.run_id, sizeof pv.run_id, "provision-%ld-%d", (long)time(NULL), (int)getpid());
    /* Where each round's logs and launch plans (plan.jsonl) go. */
    printf("logs=/tmp/jungbench-%s\n", pv.run_id);
    fflush(stdout);
    jb_install_stop_handlers();
    rc = run(&pv);
    free(pv.cfg);
    return rc;
}
