/* service.c - what every Jung service does the same way: options from argv
 * or JUNG_* environment variables, the readiness line, stopping on
 * SIGTERM/SIGINT. No getopt_long: OSv and FROM scratch images run these
 * binaries with whatever argv their launcher builds, and a small explicit
 * parser gives exact error messages. */
#include "jung/lib/jung.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#define DEFAULT_BROKERS "127.0.0.1:9092"
#define MAX_KAFKA_PROPS 31

typedef struct common_values {
    const char *brokers, *instance, *broker_map, *workers, *timeout_ms, *stop_timeout_ms;
    const char *topic_prefix;
} common_values;

static char *own(jung_service_opts *opts, const char *s, size_t n)
{
    if (opts->n_owned >= (int)(sizeof opts->owned / sizeof opts->owned[0]))
        return NULL;
    char *copy = strndup(s, n);
    if (copy)
        opts->owned[opts->n_owned++] = copy;
    return copy;
}

static bool add_kafka_prop(jung_service_opts *opts, int *n, const char *service, const char *prop)
{
    if (!strchr(prop, '=') || prop[0] == '=') {
        fprintf(stderr, "jung-%s: kafka property '%s' must be key=value (see --help)\n", service,
                prop);
        return false;
    }
    if (*n >= MAX_KAFKA_PROPS) {
        fprintf(stderr, "jung-%s: at most %d kafka properties\n", service, MAX_KAFKA_PROPS);
        return false;
    }
    opts->kafka_props_store[(*n)++] = prop;
    opts->kafka_props_store[*n] = NULL;
    return true;
}

/* JUNG_KAFKA_PROPS="k=v,k=v": split into owned strings. */
static bool env_kafka_props(jung_service_opts *opts, int *n, const char *service)
{
    const char *env = getenv("JUNG_KAFKA_PROPS");
    while (env && *env) {
        const char *comma = strchr(env, ',');
        size_t len = comma ? (size_t)(comma - env) : strlen(env);
        if (len > 0) {
            char *prop = own(opts, env, len);
            if (!prop || !add_kafka_prop(opts, n, service, prop))
                return false;
        }
        env = comma ? comma + 1 : NULL;
    }
    return true;
}

bool jung_service_parse_int(const char *service, const char *opt, const char *value, long min,
                            long max, long *out)
{
    char *end;
    errno = 0;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || errno || end == value || *end || v < min || v > max) {
        fprintf(stderr, "jung-%s: %s must be a whole number in %ld..%ld, got '%s' (see --help)\n",
                service, opt, min, max, value ? value : "");
        return false;
    }
    *out = v;
    return true;
}

static void print_usage(const char *service, const char *summary, const jung_service_opt *extra,
                        int n_extra)
{
    printf("Usage: jung-%s [OPTIONS]\n\n%s\n\n"
           "Options (environment variable in brackets; options win):\n"
           "  --brokers HOST:PORT   Kafka bootstrap servers [JUNG_BROKERS] (default %s)\n"
           "  --instance ID         replica name [JUNG_INSTANCE] (default %s-<random>)\n"
           "  --kafka-prop K=V      librdkafka property, repeatable; overrides the defaults\n"
           "                        of docs/kafka-tuning.md [JUNG_KAFKA_PROPS, comma-separated]\n"
           "  --broker-map FROM=TO  connect to TO when the broker advertises FROM\n"
           "                        [JUNG_BROKER_MAP] (e.g. 127.0.0.1=10.0.2.2 in a QEMU guest)\n"
           "  --topic-prefix P      P before every topic and group name: P<service>_tasks\n"
           "                        [JUNG_TOPIC_PREFIX] (default none; one Jung per prefix\n"
           "                        can share a Kafka cluster)\n"
           "  --workers N           task handler threads [JUNG_WORKERS] (default 8)\n"
           "  --timeout-ms N        timeout of calls to other services [JUNG_TIMEOUT_MS]\n"
           "                        (default 5000)\n"
           "  --stop-timeout-ms N   stop budget: a teardown still running after N ms is\n"
           "                        logged and ends with exit status 3\n"
           "                        [JUNG_STOP_TIMEOUT_MS] (default 5000)\n",
           service, summary ? summary : "A Jung service (docs/tasks.md).", DEFAULT_BROKERS,
           service);
    for (int i = 0; i < n_extra; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s V", extra[i].name);
        printf("  %-21s %s", left, extra[i].help);
        if (extra[i].env)
            printf(" [%s]", extra[i].env);
        if (*extra[i].value)
            printf(" (default %s)", *extra[i].value);
        printf("\n");
    }
    printf("  -h, --help            this help\n\n"
           "Prints 'jung %s started instance=ID' once connected to the broker and\n"
           "'jung %s ready instance=ID' once it serves; stops on SIGTERM/SIGINT\n"
           "(a second signal is ignored) and logs 'ID: stopped'. Exit status: 0 after a\n"
           "clean stop, 1 on failure, 2 on a usage error, 3 when the stop budget ran out.\n",
           service, service);
}

/* Matches "--name" or "--name=value"; sets *inline_value for the latter. */
static bool option_is(const char *arg, const char *name, const char **inline_value)
{
    size_t n = strlen(name);
    if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, name, n) != 0)
        return false;
    if (arg[2 + n] == '\0') {
        *inline_value = NULL;
        return true;
    }
    if (arg[2 + n] == '=') {
        *inline_value = arg + 3 + n;
        return true;
    }
    return false;
}

static const char **common_slot(common_values *c, const char *arg, const char **inline_value,
                                bool *is_kafka_prop)
{
    *is_kafka_prop = option_is(arg, "kafka-prop", inline_value);
    if (*is_kafka_prop)
        return NULL;
    if (option_is(arg, "brokers", inline_value))
        return &c->brokers;
    if (option_is(arg, "instance", inline_value))
        return &c->instance;
    if (option_is(arg, "broker-map", inline_value))
        return &c->broker_map;
    if (option_is(arg, "topic-prefix", inline_value))
        return &c->topic_prefix;
    if (option_is(arg, "workers", inline_value))
        return &c->workers;
    if (option_is(arg, "timeout-ms", inline_value))
        return &c->timeout_ms;
    if (option_is(arg, "stop-timeout-ms", inline_value))
        return &c->stop_timeout_ms;
    return NULL;
}

static bool parse_argv(jung_service_opts *opts, common_values *c, int *n_props, const char *service,
                       const char *summary, const jung_service_opt *extra, int n_extra, int argc,
                       char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_usage(service, summary, extra, n_extra);
            opts->help = true;
            return false;
        }
        bool is_prop;
        const char **slot = common_slot(c, arg, &val, &is_prop);
        for (int k = 0; !slot && !is_prop && k < n_extra; k++)
            if (option_is(arg, extra[k].name, &val))
                slot = extra[k].value;
        if (!slot && !is_prop) {
            fprintf(stderr, "jung-%s: unknown argument '%s' (see --help)\n", service, arg);
            return false;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "jung-%s: %s needs a value (see --help)\n", service, arg);
                return false;
            }
            val = argv[++i];
        }
        if (!is_prop)
            *slot = val;
        else if (!add_kafka_prop(opts, n_props, service, val))
            return false;
    }
    return true;
}

static void env_defaults(common_values *c, const jung_service_opt *extra, int n_extra)
{
    const char *v;
    if ((v = getenv("JUNG_BROKERS")) && *v)
        c->brokers = v;
    if ((v = getenv("JUNG_INSTANCE")) && *v)
        c->instance = v;
    if ((v = getenv("JUNG_BROKER_MAP")) && *v)
        c->broker_map = v;
    if ((v = getenv("JUNG_TOPIC_PREFIX")) && *v)
        c->topic_prefix = v;
    if ((v = getenv("JUNG_WORKERS")) && *v)
        c->workers = v;
    if ((v = getenv("JUNG_TIMEOUT_MS")) && *v)
        c->timeout_ms = v;
    if ((v = getenv("JUNG_STOP_TIMEOUT_MS")) && *v)
        c->stop_timeout_ms = v;
    for (int k = 0; k < n_extra; k++)
        if (extra[k].env && (v = getenv(extra[k].env)) && *v)
            *extra[k].value = v;
}

static bool fill_bus_config(jung_service_opts *opts, const common_values *c, const char *service)
{
    long workers = 0, timeout = 0, stop_timeout = JUNG_DEFAULT_STOP_BUDGET_MS;
    if (c->workers && !jung_service_parse_int(service, "--workers", c->workers, 1, 256, &workers))
        return false;
    if (c->timeout_ms &&
        !jung_service_parse_int(service, "--timeout-ms", c->timeout_ms, 1, 600000, &timeout))
        return false;
    if (c->stop_timeout_ms &&
        !jung_service_parse_int(service, "--stop-timeout-ms", c->stop_timeout_ms, 100, 600000,
                                &stop_timeout))
        return false;
    const char *instance = c->instance;
    if (!instance) {
        char id[JUNG_UUID_LEN + 1], buf[128];
        jung_uuid(id);
        snprintf(buf, sizeof buf, "%s-%.8s", service, id);
        instance = own(opts, buf, strlen(buf));
    }
    opts->bus.service = service;
    opts->bus.instance = instance;
    opts->bus.brokers = c->brokers ? c->brokers : DEFAULT_BROKERS;
    opts->bus.broker_map = c->broker_map;
    opts->bus.topic_prefix = c->topic_prefix;
    opts->bus.workers = (int)workers;
    opts->bus.call_timeout_ms = (int)timeout;
    opts->stop_timeout_ms = (int)stop_timeout;
    opts->bus.kafka_props = opts->kafka_props_store;
    return instance != NULL;
}

bool jung_service_opts_parse_extra(jung_service_opts *opts, const char *service,
                                   const char *summary, const jung_service_opt *extra, int n_extra,
                                   int argc, char **argv)
{
    memset(opts, 0, sizeof *opts);
    common_values c = {0};
    int n_props = 0;
    env_defaults(&c, extra, n_extra);
    if (!env_kafka_props(opts, &n_props, service) ||
        !parse_argv(opts, &c, &n_props, service, summary, extra, n_extra, argc, argv) ||
        !fill_bus_config(opts, &c, service)) {
        jung_service_opts_free(opts);
        return false;
    }
    return true;
}

bool jung_service_opts_parse(jung_service_opts *opts, const char *service, int argc, char **argv)
{
    return jung_service_opts_parse_extra(opts, service, NULL, NULL, 0, argc, argv);
}

void jung_service_opts_free(jung_service_opts *opts)
{
    bool help = opts->help;
    for (int i = 0; i < opts->n_owned; i++)
        free(opts->owned[i]);
    memset(opts, 0, sizeof *opts);
    opts->help = help;
}

void jung_service_started(const char *service, const char *instance)
{
    printf("jung %s started instance=%s\n", service, instance);
    fflush(stdout);
}

void jung_service_ready(const char *service, const char *instance, const char *extra)
{
    printf("jung %s ready instance=%s%s%s\n", service, instance, extra && *extra ? " " : "",
           extra ? extra : "");
    fflush(stdout);
}

/* ---- running a service --------------------------------------------------- */

typedef struct service_run {
    jung_bus *bus;
    const char *service, *instance;
    void (*tick)(jung_bus *bus, void *ctx);
    void *ctx;
    int tick_ms;
    pthread_t ticker;
    bool ticker_started;
} service_run;

static void *tick_loop(void *arg)
{
    service_run *run = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!jung_bus_stopping(run->bus)) {
        run->tick(run->bus, run->ctx);
        /* Fixed rate, not fixed delay: a slow tick does not shift the next. */
        next.tv_nsec += (long)(run->tick_ms % 1000) * 1000000L;
        next.tv_sec += run->tick_ms / 1000 + next.tv_nsec / 1000000000L;
        next.tv_nsec %= 1000000000L;
        /* Sleep in short slices so a stop is noticed quickly. */
        for (;;) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long long left_ms =
                (next.tv_sec - now.tv_sec) * 1000LL + (next.tv_nsec - now.tv_nsec) / 1000000L;
            if (left_ms <= 0 || jung_bus_stopping(run->bus))
                break;
            struct timespec nap = {0, (left_ms > 50 ? 50 : left_ms) * 1000000L};
            nanosleep(&nap, NULL);
        }
    }
    return NULL;
}

static void announce_ready(void *arg)
{
    service_run *run = arg;
    if (run->tick && pthread_create(&run->ticker, NULL, tick_loop, run) == 0)
        run->ticker_started = true;
    else if (run->tick)
        jung_log("%s: cannot start the periodic thread", run->instance);
    jung_service_ready(run->service, run->instance, NULL);
}

/* glibc gives each thread that allocates its own arena (up to 8 per core),
 * and librdkafka's threads plus the workers touch a dozen of them: each
 * keeps freed memory resident. The services allocate little and briefly, so
 * one shared arena costs no measurable contention and keeps RSS within the
 * 8 MB budget. */
static void limit_malloc_arenas(void)
{
#ifdef __GLIBC__
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_TRIM_THRESHOLD, 256 * 1024);
#endif
}

int jung_service_run(jung_service_opts *opts, jung_task_handler handler, void *ctx,
                     const char *const *callees, void (*tick)(jung_bus *bus, void *ctx),
                     int tick_ms)
{
    jung_error err = {0};
    limit_malloc_arenas();
    const char *service = opts->bus.service;
    /* Before the bus opens, which can take seconds: a stop signal then is
     * a clean stop too. */
    if (!jung_stop_init(opts->bus.instance, opts->stop_timeout_ms)) {
        fprintf(stderr, "jung-%s: cannot start the stop watchdog\n", service);
        return 1;
    }
    jung_bus *bus = jung_bus_open(&opts->bus, &err);
    if (!bus) {
        fprintf(stderr, "jung-%s: cannot open the bus: %s\n", service, err.message);
        return 1;
    }
    jung_stop_attach(bus);
    for (int i = 0; callees && callees[i]; i++)
        if (callees[i][0] == '!')
            jung_bus_prepare_send(bus, callees[i] + 1);
        else if (!jung_bus_prepare_call(bus, callees[i], &err))
            jung_log("%s: will retry reading %s's results later: %s", opts->bus.instance,
                     callees[i], err.message);
    service_run run = {.bus = bus,
                       .service = service,
                       .instance = opts->bus.instance,
                       .tick = tick,
                       .ctx = ctx,
                       .tick_ms = tick_ms > 0 ? tick_ms : 1000};
    jung_bus_on_ready(bus, announce_ready, &run);
    /* Up and connected (opening the bus read the cluster id): what the
     * platform took to start it, before the group join that "ready" waits
     * for (docs/results-db.md, boot_times). */
    jung_service_started(service, opts->bus.instance);
    bool ok = jung_bus_serve(bus, handler, ctx, &err);
    if (!ok)
        fprintf(stderr, "jung-%s: %s\n", service, err.message);
    jung_bus_stop(bus);
    jung_stop_begin("joining the periodic thread");
    if (run.ticker_started)
        pthread_join(run.ticker, NULL);
    jung_bus_close(bus);
    jung_stop_finished();
    jung_log("%s: stopped", opts->bus.instance);
    return ok ? 0 : 1;
}

const char *jung_field_string(const json_t *payload, const char *name, size_t max_len,
                              jung_error *err)
{
    const char *s = json_string_value(json_object_get(payload, name));
    if (!s || !*s || strlen(s) > max_len) {
        jung_error_set(err, 400, "'%s' must be a non-empty string of at most %zu characters", name,
                       max_len);
        return NULL;
    }
    return s;
}

bool jung_field_number(const json_t *payload, const char *name, double *out, jung_error *err)
{
    const json_t *v = json_object_get(payload, name);
    if (!json_is_number(v)) {
        jung_error_set(err, 400, "'%s' must be a number", name);
        return false;
    }
    *out = json_number_value(v);
    return true;
}
