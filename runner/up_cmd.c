/* up_cmd.c - `jungbench up CONFIG`: Jung on native processes (runner.h).
 *
 * The broker is either librdkafka's mock cluster inside this process
 * (`broker: embedded`) or an external cluster. The services run through the
 * platform layer's process driver (platforms/platform.h), which keeps each
 * one's output in a log file, watches for the readiness lines and stops
 * them with SIGTERM then SIGKILL; up only decides what to start and when to
 * stop. Stop signals only set a flag (cli/cli.h) that the loops here poll.
 */
#include "runner/runner.h"

#include "broker/broker.h"
#include "cli/cli.h"
#include "config/config.h"
#include "platforms/launch.h"
#include "platforms/platform.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UP_CMD "up"
#define UP_MAX_INSTANCES 64

/* ---- what to start ------------------------------------------------------ */

/* The config and the command line's overrides; what each instance gets
 * comes from the launch plan (platforms/launch.h), as for `run`. */
typedef struct up_plan {
    jb_config *cfg;        /* gateway port overridden by --port */
    jb_config_platform pl; /* the config's process platform, with --bin-dir, --dynamic */
    char brokers[512];     /* bootstrap servers (the embedded broker's once started) */
    double ready_timeout_s;
} up_plan;

/* ---- the services -------------------------------------------------------- */

typedef struct jung_up {
    up_plan plan;
    jb_platform *platform;
    jb_instance *inst[UP_MAX_INSTANCES];
    size_t n;
    char gateway[256];
} jung_up;

static bool open_platform(jung_up *up)
{
    jb_platform_config cfg;
    jb_launch_platform_config(&up->plan.pl, &cfg);
    char run_id[32];
    snprintf(run_id, sizeof run_id, "up-%d", (int)getpid()); /* several `up` may run at once */
    cfg.run_id = run_id;
    cfg.brokers = up->plan.brokers;
    char err[512];
    up->platform = jb_platform_open(&cfg, err, sizeof err);
    if (!up->platform)
        return jb_fail(UP_CMD, "%s", err), false;
    return true;
}

/* Starts every service at once (the broker buffers tasks for late
 * starters), then waits for all readiness lines. */
static bool start_all(jung_up *up)
{
    if (!open_platform(up))
        return false;
    char err[1024];
    const jb_config *cfg = up->plan.cfg;
    jb_launch_plan *plans = calloc(UP_MAX_INSTANCES, sizeof *plans);
    const jb_instance_spec *specs[UP_MAX_INSTANCES];
    if (!plans)
        return jb_fail(UP_CMD, "out of memory"), false;
    size_t n = 0;
    for (size_t i = 0; i < cfg->nservices; i++) {
        long replicas = cfg->services[i].replicas > 0 ? cfg->services[i].replicas : 1;
        for (long r = 1; r <= replicas; r++, n++) {
            if (n == UP_MAX_INSTANCES) {
                free(plans);
                return jb_fail(UP_CMD, "more than %d service instances", UP_MAX_INSTANCES), false;
            }
            jb_launch_plan_make(cfg, &up->plan.pl, cfg->services[i].name, (int)r, &plans[n]);
            specs[n] = &plans[n].spec;
        }
    }
    bool started = jb_platform_start_many(up->platform, specs, n, up->inst, err, sizeof err);
    free(plans);
    for (size_t i = 0; i < n; i++) /* keep what started, for the stop */
        if (up->inst[i])
            up->inst[up->n++] = up->inst[i];
    if (!started)
        return jb_fail(UP_CMD, "%s", err), false;
    if (!jb_instances_wait_ready(up->inst, up->n, up->plan.ready_timeout_s * 1000, err,
                                 sizeof err)) {
        if (jb_stop_requested())
            return false;
        return jb_fail(UP_CMD, "%s (is the broker %s reachable?)", err, up->plan.brokers), false;
    }
    for (size_t i = 0; i < up->n; i++) {
        const jb_instance_info *info = jb_instance_get_info(up->inst[i]);
        printf("service %s pid=%d ready_ms=%.0f log=%s\n", info->service,
               info->npids ? (int)info->pids[0] : -1, info->ready_ms, info->log_path);
    }
    const char *http = NULL;
    for (size_t i = 0; i < up->n && !http; i++)
        if (strcmp(jb_instance_get_info(up->inst[i])->service, "api_gateway") == 0)
            http = jb_instance_ready_value(up->inst[i], "http");
    if (!http)
        return jb_fail(UP_CMD, "no api_gateway readiness line with http=URL"), false;
    snprintf(up->gateway, sizeof up->gateway, "%s", http);
    return true;
}

/* Runs until a stop signal (true) or a service dies on its own (false). */
static bool stay_up(jung_up *up)
{
    while (!jb_stop_requested()) {
        for (size_t i = 0; i < up->n; i++) {
            if (jb_instance_alive(up->inst[i]))
                continue;
            const jb_instance_info *info = jb_instance_get_info(up->inst[i]);
            jb_fail(UP_CMD, "service %s stopped unexpectedly (log: %s); stopping Jung",
                    info->service, info->log_path);
            return false;
        }
        usleep(200 * 1000);
    }
    return true;
}

/* Stops the services in reverse start order (the gateway first, so no
 * request meets a half-stopped platform). A service that needed SIGKILL
 * after stop_grace_ms is stopped all the same: a warning naming it, not a
 * failure. False when one could not be stopped or cleaned up. */
static bool stop_all(jung_up *up)
{
    bool clean = true;
    char err[512];
    while (up->n > 0) {
        jb_instance *inst = up->inst[--up->n];
        jb_stop_record rec;
        if (jb_instances_stop_recorded(&inst, 1, &rec, err, sizeof err))
            continue;
        if (rec.killed)
            fprintf(stderr,
                    "jungbench up: warning: %s did not exit within stop_grace_ms of SIGTERM and "
                    "was killed (SIGKILL)\n",
                    rec.instance[0] ? rec.instance : rec.service);
        else {
            fprintf(stderr, "jungbench up: %s\n", err);
            clean = false;
        }
    }
    if (up->platform)
        jb_platform_close(up->platform);
    up->platform = NULL;
    return clean;
}

/* ---- the broker ----------------------------------------------------------------- */

static bool ensure_topics(const up_plan *plan);

static bool broker_start(jb_broker **broker, up_plan *plan)
{
    if (!plan->cfg->broker.embedded)
        return ensure_topics(plan);
    jb_broker_options opts = {0};
    char err[512];
    *broker = jb_broker_start(&opts, err, sizeof err);
    if (!*broker)
        return jb_fail(UP_CMD, "cannot start the embedded broker: %s", err), false;
    snprintf(plan->brokers, sizeof plan->brokers, "%s", jb_broker_bootstrap(*broker));
    printf("bootstrap=%s\n", plan->brokers);
    fflush(stdout);
    return true;
}

/* A real cluster: Jung's topics, and every group at the end of its topic
 * (nothing of an earlier Jung is delivered to this one), as for `run`. */
static bool ensure_topics(const up_plan *plan)
{
    char err[1024];
    long long skipped = 0;
    if (!jb_launch_prepare_bus(plan->cfg, plan->brokers, "", &skipped, err, sizeof err))
        return jb_fail(UP_CMD, "%s", err), false;
    if (skipped > 0)
        fprintf(stderr, "jungbench up: %lld task(s) an earlier Jung left undelivered are skipped\n",
                skipped);
    return true;
}

/* ---- configuration --------------------------------------------------------------- */

static void plan_from_config(jb_config *cfg, up_plan *plan)
{
    plan->cfg = cfg;
    snprintf(plan->brokers, sizeof plan->brokers, "%s", cfg->broker.bootstrap);
    jb_launch_process_platform(cfg, &plan->pl);
    plan->ready_timeout_s = plan->pl.ready_timeout_ms > 0 ? plan->pl.ready_timeout_ms / 1000.0 : 30;
}

static int load_plan(const char *path, up_plan *plan)
{
    jb_config *cfg = calloc(1, sizeof *cfg); /* ~100 KB: not for the stack */
    if (!cfg)
        return jb_fail(UP_CMD, "out of memory");
    char err[8192]; /* every error of the file, one a line */
    if (!jb_config_load(path, 0, cfg, err, sizeof err)) {
        free(cfg);
        return jb_usage_error(UP_CMD, "%s", err); /* an invalid CONFIG, as for `run` */
    }
    plan_from_config(cfg, plan);
    bool has_gateway = false;
    for (size_t i = 0; i < cfg->nservices; i++)
        has_gateway |= strcmp(cfg->services[i].name, "api_gateway") == 0;
    if (!has_gateway)
        return jb_usage_error(UP_CMD, "%s: services must include api_gateway (up prints its URL)",
                              path);
    return JB_EXIT_OK;
}

/* ---- command line ------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: jungbench up [OPTIONS] CONFIG\n\n"
            "Starts the broker (when CONFIG says 'broker: embedded') and every Jung service\n"
            "as a native process, prints 'service NAME pid=PID ready' per service and then\n"
            "'gateway=http://127.0.0.1:PORT', and runs until SIGINT/SIGTERM, when it stops\n"
            "them all. Each service's output goes to the log file its line names.\n\n"
            "Options:\n"
            "  --bin-dir DIR        where the jung-* executables are (default: the jung/\n"
            "                       folder next to this jungbench executable)\n"
            "  --dynamic            run the dynamic jung-SERVICE executables, as 'build: dynamic'\n"
            "                       on CONFIG's process platform would (default: its build,\n"
            "                       static in a normal build, as every other platform runs)\n"
            "  --port N             the gateway's HTTP port, overriding CONFIG (0: a free one)\n"
            "  --ready-timeout S    seconds the services may take to get ready, overriding\n"
            "                       the process platform's ready_timeout_ms (default 60)\n"
            "  -h, --help           this help\n\n"
            "Exit status: 0 when stopped by SIGINT/SIGTERM with every service stopped (one\n"
            "that needed SIGKILL after stop_grace_ms is a warning on stderr), 1 when a service\n"
            "failed (exited on its own, never got ready, could not be started or stopped) or\n"
            "the stop came before Jung was up, 2 on usage errors (including an invalid\n"
            "CONFIG).\n");
}

typedef struct up_args {
    const char *config;
    const char *bin_dir;
    long port; /* -1: from the config */
    double ready_timeout_s;
    bool dynamic;
} up_args;

static int parse_args(int argc, char **argv, up_args *a)
{
    static const struct option longopts[] = {
        {"bin-dir", required_argument, NULL, 'b'}, {"dynamic", no_argument, NULL, 'd'},
        {"port", required_argument, NULL, 'p'},    {"ready-timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    *a = (up_args){.port = -1};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            a->bin_dir = optarg;
            break;
        case 'd':
            a->dynamic = true;
            break;
        case 'p':
            if (!jb_parse_long(UP_CMD, "--port", optarg, 0, 65535, &a->port))
                return JB_EXIT_USAGE;
            break;
        case 't':
            if (!jb_parse_double(UP_CMD, "--ready-timeout", optarg, 0.1, 3600, &a->ready_timeout_s))
                return JB_EXIT_USAGE;
            break;
        case 'h':
            usage(stdout);
            return JB_EXIT_OK;
        case ':':
            return jb_usage_error(UP_CMD, "option '%s' needs a value", argv[optind - 1]);
        default:
            return jb_usage_error(UP_CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return jb_usage_error(UP_CMD,
                              optind == argc ? "missing CONFIG (e.g. configs/quickstart.yaml)"
                                             : "expected one CONFIG file, got %d arguments",
                              argc - optind);
    a->config = argv[optind];
    return -1;
}

int up_main(int argc, char **argv)
{
    up_args args;
    int rc = parse_args(argc, argv, &args);
    if (rc >= 0)
        return rc;
    jung_up *up = calloc(1, sizeof *up);
    if (!up)
        return jb_fail(UP_CMD, "out of memory");
    rc = load_plan(args.config, &up->plan);
    if (rc != JB_EXIT_OK) {
        free(up->plan.cfg);
        free(up);
        return rc;
    }
    if (args.port >= 0)
        up->plan.cfg->jung.gateway_port = args.port;
    if (args.ready_timeout_s > 0)
        up->plan.ready_timeout_s = args.ready_timeout_s;
    if (args.dynamic)
        snprintf(up->plan.pl.build, sizeof up->plan.pl.build, "dynamic");
    if (args.bin_dir)
        snprintf(up->plan.pl.bin_dir, sizeof up->plan.pl.bin_dir, "%s", args.bin_dir);
    jb_install_stop_handlers();
    jb_broker *broker = NULL;
    bool ok = broker_start(&broker, &up->plan);
    if (ok) {
        ok = start_all(up);
        if (ok) {
            printf("gateway=%s\n", up->gateway);
            fflush(stdout);
            ok = stay_up(up);
        }
        if (!stop_all(up))
            ok = false;
        jb_broker_stop(broker);
    }
    free(up->plan.cfg);
    free(up);
    if (!ok && jb_stop_requested())
        return JB_EXIT_FAIL; /* interrupted before Jung was up */
    return ok ? JB_EXIT_OK : JB_EXIT_FAIL;
}
