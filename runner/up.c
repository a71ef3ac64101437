/* up.c - `jungbench up CONFIG`: Jung on native processes (runner.h).
 *
 * The broker is either librdkafka's mock cluster inside this process
 * (`broker: embedded`) or an external cluster. The services run through the
 * platform layer's process driver (platforms/platform.h), which keeps each
 * one's output in a log file, watches for the readiness lines and stops
 * them with SIGTERM then SIGKILL; up only decides what to start and when to
 * stop. Stop signals only set a flag (core/cli.h) that the loops here poll.
 */
#include "runner/runner.h"

#include "core/broker.h"
#include "core/cli.h"
#include "core/config.h"
#include "platforms/platform.h"

#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UP_CMD "up"
#define UP_MAX_INSTANCES 64
/* fetch.wait.max.ms the services get on Kafka (see plan_from_config). */
#define UP_KAFKA_FETCH_WAIT_MS 100

/* ---- what to start ------------------------------------------------------ */

/* Everything `up` needs from the configuration file. */
typedef struct up_plan {
    char brokers[512];        /* bootstrap servers (the embedded broker's once started) */
    bool embedded_broker;     /* start librdkafka's mock cluster in-process */
    char kafka_props[4096];   /* extra librdkafka properties, "k=v,k=v" */
    long gateway_port;        /* 0 picks a free port */
    long reading_interval_ms; /* device gateway's WRITE period, 0 = its default */
    long rule_interval_ms;    /* rule engine's sweep period, 0 = its default */
    long call_timeout_ms;     /* request/reply timeout, 0 = the default */
    char bin_dir[PATH_MAX];   /* where the jung-* executables are, "" = build tree */
    bool dynamic;             /* run jung-<service> even where jung-<service>-static exists */
    double ready_timeout_s;
    double stop_grace_ms;
    struct {
        char name[64];
        long replicas;
    } services[JB_CFG_MAX_SERVICES];
    size_t nservices;
} up_plan;

/* ---- the services -------------------------------------------------------- */

typedef struct jung_up {
    up_plan plan;
    jb_platform *platform;
    jb_instance *inst[UP_MAX_INSTANCES];
    size_t n;
    char gateway[256];
} jung_up;

/* Service-specific options and the JUNG_* settings beyond the brokers
 * (which the platform passes itself). */
typedef struct service_argv {
    const char *args[8];
    const char *env[4];
    char num[2][32];
    char env_store[2][4200];
} service_argv;

static void build_service_argv(const up_plan *plan, const char *service, service_argv *a)
{
    int n = 0, e = 0;
    const char *opt = NULL;
    long interval = 0;
    if (strcmp(service, "api_gateway") == 0) {
        opt = "--port";
        interval = plan->gateway_port;
    } else if (strcmp(service, "device_gateway") == 0 && plan->reading_interval_ms > 0) {
        opt = "--interval-ms";
        interval = plan->reading_interval_ms;
    } else if (strcmp(service, "rule_engine") == 0 && plan->rule_interval_ms > 0) {
        opt = "--interval-ms";
        interval = plan->rule_interval_ms;
    }
    if (opt) {
        snprintf(a->num[0], sizeof a->num[0], "%ld", interval);
        a->args[n++] = opt;
        a->args[n++] = a->num[0];
    }
    a->args[n] = NULL;
    if (plan->kafka_props[0]) {
        snprintf(a->env_store[0], sizeof a->env_store[0], "JUNG_KAFKA_PROPS=%s", plan->kafka_props);
        a->env[e++] = a->env_store[0];
    }
    if (plan->call_timeout_ms > 0) {
        snprintf(a->env_store[1], sizeof a->env_store[1], "JUNG_TIMEOUT_MS=%ld",
                 plan->call_timeout_ms);
        a->env[e++] = a->env_store[1];
    }
    a->env[e] = NULL;
}

/* The folder of the jung-* executables: --bin-dir, else the platform's
 * default (the jung/ folder next to this executable). */
static void services_dir(const up_plan *plan, char *out, size_t outlen)
{
    if (plan->bin_dir[0]) {
        snprintf(out, outlen, "%s", plan->bin_dir);
        return;
    }
    char self[PATH_MAX - 8]; /* room for "/jung" in out */
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, outlen, "%s/jung", self);
}

/* The static build of a service (jung-<service>-static, '_' as '-') when it
 * exists: it maps no shared libraries, whose resident pages RSS counts in
 * full (libc, librdkafka, libcrypto: ~5 MB per service), so it keeps a
 * service under the 8 MB RSS budget. Returns false to run the dynamic one. */
static bool static_executable(const up_plan *plan, const char *service, char *out, size_t outlen)
{
    if (plan->dynamic)
        return false;
    char dir[PATH_MAX];
    services_dir(plan, dir, sizeof dir);
    char name[96];
    snprintf(name, sizeof name, "jung-%s-static", service);
    for (char *c = name; *c; c++)
        if (*c == '_')
            *c = '-';
    int n = snprintf(out, outlen, "%s/%s", dir, name);
    return n > 0 && (size_t)n < outlen && access(out, X_OK) == 0;
}

static bool open_platform(jung_up *up)
{
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.driver = "process";
    char run_id[32];
    snprintf(run_id, sizeof run_id, "up-%d", (int)getpid()); /* several `up` may run at once */
    cfg.run_id = run_id;
    cfg.brokers = up->plan.brokers;
    if (up->plan.stop_grace_ms > 0)
        cfg.stop_grace_ms = up->plan.stop_grace_ms;
    if (up->plan.bin_dir[0])
        cfg.bin_dir = up->plan.bin_dir;
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
    for (size_t i = 0; i < up->plan.nservices; i++) {
        const char *service = up->plan.services[i].name;
        for (long r = 1; r <= up->plan.services[i].replicas; r++) {
            if (up->n == UP_MAX_INSTANCES)
                return jb_fail(UP_CMD, "more than %d service instances", UP_MAX_INSTANCES), false;
            service_argv a;
            build_service_argv(&up->plan, service, &a);
            jb_instance_spec spec = {
                .service = service, .index = (int)r, .args = a.args, .env = a.env};
            char exe[PATH_MAX + 96];
            if (static_executable(&up->plan, service, exe, sizeof exe))
                spec.executable = exe;
            up->inst[up->n] = jb_platform_start(up->platform, &spec, err, sizeof err);
            if (!up->inst[up->n])
                return jb_fail(UP_CMD, "cannot start %s: %s", service, err), false;
            up->n++;
        }
    }
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
 * request meets a half-stopped platform); false when one needed SIGKILL
 * or could not be cleaned up. */
static bool stop_all(jung_up *up)
{
    bool clean = true;
    char err[512];
    while (up->n > 0) {
        jb_instance *inst = up->inst[--up->n];
        if (!jb_instance_stop(inst, err, sizeof err)) {
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
    if (!plan->embedded_broker)
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

/* An external cluster may not have Jung's topics yet, and the services
 * expect them (as the embedded broker provides them): create the missing
 * ones with the broker's default partitions and replication. */
static bool apply_props(rd_kafka_conf_t *conf, const char *props, char *err, size_t errlen)
{
    char copy[sizeof((up_plan *)0)->kafka_props];
    snprintf(copy, sizeof copy, "%s", props);
    for (char *save, *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (rd_kafka_conf_set(conf, kv, eq + 1, err, errlen) != RD_KAFKA_CONF_OK)
            return false;
    }
    return true;
}

static bool create_topics(rd_kafka_t *rk, char *err, size_t errlen)
{
    const char *const *names = jb_broker_jung_topic_names();
    size_t n = 0;
    while (names[n])
        n++;
    rd_kafka_NewTopic_t **topics = calloc(n, sizeof *topics);
    for (size_t i = 0; i < n; i++)
        topics[i] = rd_kafka_NewTopic_new(names[i], -1, -1, NULL, 0);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, topics, n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    bool ok = ev != NULL;
    if (!ev)
        snprintf(err, errlen, "no answer to CreateTopics within 30 s");
    else if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "CreateTopics: %s", rd_kafka_event_error_string(ev));
        ok = false;
    } else {
        size_t nres;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nres);
        for (size_t i = 0; i < nres && ok; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(err, errlen, "cannot create topic %s: %s",
                         rd_kafka_topic_result_name(res[i]),
                         rd_kafka_topic_result_error_string(res[i]));
                ok = false;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy_array(topics, n);
    free(topics);
    return ok;
}

/* True when every Jung topic has a leader for each partition. */
static bool topics_led(rd_kafka_t *rk)
{
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    size_t found = 0, wanted = 0;
    for (const char *const *name = jb_broker_jung_topic_names(); *name; name++) {
        wanted++;
        for (int t = 0; t < md->topic_cnt; t++) {
            const rd_kafka_metadata_topic_t *mt = &md->topics[t];
            if (strcmp(mt->topic, *name) != 0 || mt->err || mt->partition_cnt == 0)
                continue;
            bool led = true;
            for (int p = 0; p < mt->partition_cnt; p++)
                led &= mt->partitions[p].leader >= 0 && !mt->partitions[p].err;
            found += led;
        }
    }
    rd_kafka_metadata_destroy(md);
    return found == wanted;
}

/* A new topic answers "not leader" until its partitions have leaders. */
static bool wait_for_leaders(rd_kafka_t *rk, char *err, size_t errlen)
{
    double deadline = jb_now_ms() + 30000;
    while (!topics_led(rk)) {
        if (jb_now_ms() > deadline) {
            snprintf(err, errlen, "Jung's topics have no partition leaders after 30 s");
            return false;
        }
        if (jb_stop_requested()) {
            snprintf(err, errlen, "interrupted");
            return false;
        }
        usleep(100 * 1000);
    }
    return true;
}

static bool ensure_topics(const up_plan *plan)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, NULL);
    bool ok = rd_kafka_conf_set(conf, "bootstrap.servers", plan->brokers, err, sizeof err) ==
                  RD_KAFKA_CONF_OK &&
              apply_props(conf, plan->kafka_props, err, sizeof err);
    rd_kafka_t *rk = ok ? rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err) : NULL;
    if (!rk) {
        if (!ok)
            rd_kafka_conf_destroy(conf);
        return jb_fail(UP_CMD, "cannot reach Kafka at %s: %s", plan->brokers, err), false;
    }
    ok = create_topics(rk, err, sizeof err) && wait_for_leaders(rk, err, sizeof err);
    rd_kafka_destroy(rk);
    if (!ok)
        return jb_fail(UP_CMD, "Kafka at %s: %s", plan->brokers, err), false;
    return true;
}

/* ---- configuration --------------------------------------------------------------- */

/* The process platform of the config, or NULL when it names none. */
static const jb_config_platform *process_platform(const jb_config *cfg)
{
    for (size_t i = 0; i < cfg->nplatforms; i++)
        if (strcmp(cfg->platforms[i].driver, "process") == 0)
            return &cfg->platforms[i];
    return NULL;
}

static void plan_from_config(const jb_config *cfg, up_plan *plan)
{
    plan->embedded_broker = cfg->broker.embedded;
    snprintf(plan->brokers, sizeof plan->brokers, "%s", cfg->broker.bootstrap);
    /* On Kafka a consumer's Fetch is answered as soon as data arrives, so
     * a long fetch.wait.max.ms costs no latency and saves empty fetches
     * (docs/kafka-tuning.md). The embedded broker keeps libjung's mock
     * default (2 ms), since the mock answers a Fetch only when the wait
     * expires. The config's properties come after ours, so they win. */
    char props[sizeof plan->kafka_props - 64]; /* room for the default */
    jb_config_props_spec(&cfg->broker, props, sizeof props);
    if (cfg->broker.embedded)
        jb_broker_service_props(props, plan->kafka_props, sizeof plan->kafka_props);
    else
        snprintf(plan->kafka_props, sizeof plan->kafka_props, "fetch.wait.max.ms=%d%s%s",
                 UP_KAFKA_FETCH_WAIT_MS, props[0] ? "," : "", props);
    plan->gateway_port = cfg->jung.gateway_port;
    plan->rule_interval_ms = cfg->jung.rule_interval_ms;
    plan->call_timeout_ms = cfg->jung.call_timeout_ms;
    plan->reading_interval_ms = cfg->workload.reading_interval_ms;
    plan->ready_timeout_s = 30;
    const jb_config_platform *pf = process_platform(cfg);
    if (pf) {
        snprintf(plan->bin_dir, sizeof plan->bin_dir, "%s", pf->bin_dir);
        if (pf->ready_timeout_ms > 0)
            plan->ready_timeout_s = pf->ready_timeout_ms / 1000.0;
        plan->stop_grace_ms = pf->stop_grace_ms;
    }
    for (size_t i = 0; i < cfg->nservices && i < JB_CFG_MAX_SERVICES; i++) {
        snprintf(plan->services[i].name, sizeof plan->services[i].name, "%s",
                 cfg->services[i].name);
        plan->services[i].replicas = cfg->services[i].replicas > 0 ? cfg->services[i].replicas : 1;
        plan->nservices++;
    }
}

static int load_plan(const char *path, up_plan *plan)
{
    jb_config *cfg = calloc(1, sizeof *cfg); /* ~100 KB: not for the stack */
    if (!cfg)
        return jb_fail(UP_CMD, "out of memory");
    char err[1024];
    if (!jb_config_load(path, 0, cfg, err, sizeof err)) {
        free(cfg);
        return jb_fail(UP_CMD, "%s", err);
    }
    plan_from_config(cfg, plan);
    free(cfg);
    bool has_gateway = false;
    for (size_t i = 0; i < plan->nservices; i++)
        has_gateway |= strcmp(plan->services[i].name, "api_gateway") == 0;
    if (!has_gateway)
        return jb_fail(UP_CMD, "%s: services must include api_gateway (up prints its URL)", path);
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
            "  --dynamic            run jung-SERVICE even where jung-SERVICE-static was built\n"
            "                       (by default the static build is preferred: smaller RSS)\n"
            "  --port N             the gateway's HTTP port, overriding CONFIG (0: a free one)\n"
            "  --ready-timeout S    seconds the services may take to get ready, overriding\n"
            "                       CONFIG (default 30)\n"
            "  -h, --help           this help\n\n"
            "Exit status: 0 after a clean stop, 1 when a service failed, 2 on usage errors.\n");
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
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
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
        default:
            return jb_usage_error(UP_CMD, "unknown option");
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

int runner_up_main(int argc, char **argv)
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
        free(up);
        return rc;
    }
    if (args.port >= 0)
        up->plan.gateway_port = args.port;
    if (args.ready_timeout_s > 0)
        up->plan.ready_timeout_s = args.ready_timeout_s;
    up->plan.dynamic = args.dynamic;
    if (args.bin_dir)
        snprintf(up->plan.bin_dir, sizeof up->plan.bin_dir, "%s", args.bin_dir);
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
    free(up);
    if (!ok && jb_stop_requested())
        return JB_EXIT_FAIL; /* interrupted before Jung was up */
    return ok ? JB_EXIT_OK : JB_EXIT_FAIL;
}
