/* jung.h - libjung, the small library every Jung service shares.
 *
 * Jung's services never call each other directly: they publish tasks on
 * `<service>_tasks` and read answers on `<service>_results` (dissertation
 * section 4.1, figures 18 and 20). This header offers:
 *
 *   - the task bus: serve the tasks of one service, and call other services
 *     with a synchronous request/reply that has a timeout;
 *   - the in-memory registry the registries and the rule engine keep;
 *   - the service scaffolding (configuration from argv/environment,
 *     readiness line, clean exit on SIGTERM).
 *
 * Wire format (docs/tasks.md is the reference):
 *   task   {"v":1, "id":"<uuid>", "type":"GET", "reply_to":"<topic>", "payload":{...}}
 *   result {"v":1, "task_id":"<uuid>", "status":"ok", "data":{...}}
 *          {"v":1, "task_id":"<uuid>", "status":"error",
 *           "error":{"code":404, "message":"unknown user 'bob'"}}
 * Error codes borrow HTTP's meaning so the API gateway can pass them through.
 *
 * Services must run unmodified as a process, in a FROM scratch container and
 * as the only application of an OSv or microVM guest: no fork/exec, no C11
 * threads (OSv's libc lacks them: use pthreads), logs on stdout.
 */
#ifndef JUNG_H
#define JUNG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define JUNG_WIRE_VERSION 1
#define JUNG_UUID_LEN 36

/* ---- errors -------------------------------------------------------- */

typedef struct jung_error {
    int code; /* HTTP-like: 400, 401, 403, 404, 409, 500, 504 */
    char message[256];
} jung_error;

void jung_error_set(jung_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- tasks ----------------------------------------------------------- */

typedef struct jung_task {
    char id[JUNG_UUID_LEN + 1];
    char type[32];      /* GET, CREATE, ADD_DEVICE, AUTH, WRITE, READ, COMMAND, ... */
    char reply_to[128]; /* topic the result goes to; empty for fire-and-forget */
    json_t *payload;    /* borrowed: valid during the handler call */
} jung_task;

/* Deepest JSON nesting libjung accepts in a message. */
#define JUNG_MAX_JSON_DEPTH 32

/* False when buf nests arrays/objects deeper than max_depth. Check bodies
 * from outside with it before json_loadb: jansson recurses per level (parse,
 * copy, dump, free) and ~2,000 levels, which it accepts, overflow a thread
 * stack of 256 KiB. */
bool jung_json_depth_ok(const char *buf, size_t len, int max_depth);

/* Parses one task message. A malformed message (bad JSON, missing id or
 * type, payload not an object, wrong version) returns false with a reason
 * in err; the caller logs it and skips the message. */
bool jung_task_parse(const char *buf, size_t len, jung_task *task, json_t **root, jung_error *err);

/* ---- the bus --------------------------------------------------------- */

typedef struct jung_bus jung_bus;

typedef struct jung_bus_config {
    const char *service;  /* e.g. "user_registry": topics and group name */
    const char *instance; /* unique per replica, e.g. "user_registry-1" */
    const char *brokers;  /* bootstrap servers, "127.0.0.1:9092" */
    /* Extra librdkafka properties, "key=value" strings, NULL-terminated;
     * applied after jungbench's latency defaults, so they win. */
    const char *const *kafka_props;
    /* Rewrite the broker's advertised address on connect: "FROM=TO", e.g.
     * "127.0.0.1=10.0.2.2" inside a QEMU guest. NULL for none. */
    const char *broker_map;
    int workers;         /* task handler threads; 0 means a default */
    int call_timeout_ms; /* default timeout of jung_bus_call; 0 means 5000 */
    /* Consumer group of the task consumer; NULL means `service`. The device
     * gateway uses its gateway id, so every gateway sees every task. */
    const char *group;
    /* Put before every topic and the task group ("run7." gives
     * run7.user_registry_tasks, group run7.user_registry), so Jungs of
     * different prefixes share one cluster without serving each other.
     * NULL or "" for none; [A-Za-z0-9._-], at most 48 characters. */
    const char *topic_prefix;
} jung_bus_config;

/* Handles one task. On success set *data (owned reference, may stay NULL
 * for an empty object) and return true; on failure fill err and return
 * false. Called concurrently from the bus's worker threads. */
typedef bool (*jung_task_handler)(void *ctx, jung_bus *bus, const jung_task *task, json_t **data,
                                  jung_error *err);

jung_bus *jung_bus_open(const jung_bus_config *cfg, jung_error *err);

/* Subscribe to `<service>_tasks` in consumer group `<service>` (so replicas
 * share the load) and dispatch tasks to handler on worker threads, until
 * jung_bus_stop. Results go to the service's own <service>_results topic
 * (whatever a task's reply_to says). Returns false when
 * the bus fails. */
bool jung_bus_serve(jung_bus *bus, jung_task_handler handler, void *ctx, jung_error *err);

/* Synchronous request/reply: publishes a task on `<service>_tasks` and waits
 * for its result on `<service>_results`, matched by task id. payload is
 * stolen. timeout_ms <= 0 uses the configured default. On an error result or
 * a timeout (code 504) returns false with err filled. */
bool jung_bus_call(jung_bus *bus, const char *service, const char *type, json_t *payload,
                   int timeout_ms, json_t **data, jung_error *err);

/* Fire-and-forget task (no reply_to): the device gateway's WRITEs, the
 * device registry's ADD_DEVICE. payload is stolen. */
bool jung_bus_send(jung_bus *bus, const char *service, const char *type, json_t *payload,
                   jung_error *err);

/* Sends a message on any topic (the commander's commands to a gateway). */
bool jung_bus_publish(jung_bus *bus, const char *topic, const char *key, json_t *message,
                      jung_error *err);

/* Subscribe to an extra topic with its own handler, e.g. the device
 * gateway's command topic. Must be called before jung_bus_serve. */
bool jung_bus_listen(jung_bus *bus, const char *topic, jung_task_handler handler, void *ctx,
                     jung_error *err);

/* Reads `<service>_results` from now on, so the first jung_bus_call to that
 * service does not pay for the lookup. Optional: calls do it lazily. */
bool jung_bus_prepare_call(jung_bus *bus, const char *service, jung_error *err);

/* Looks `<service>_tasks` up for the producer now, so the first
 * jung_bus_send to that service does not wait for a metadata round. */
void jung_bus_prepare_send(jung_bus *bus, const char *service);

/* fn runs once, on the serving thread, when the task consumer has been
 * assigned its partitions: print the readiness line there, not before, so
 * no task sent right after it is missed. */
void jung_bus_on_ready(jung_bus *bus, void (*fn)(void *arg), void *arg);

const char *jung_bus_instance(const jung_bus *bus);
bool jung_bus_stopping(const jung_bus *bus);

void jung_bus_stop(jung_bus *bus); /* async-signal-safe */
void jung_bus_close(jung_bus *bus);

/* ---- registry -------------------------------------------------------- */

/* A thread-safe map from string key to JSON object, the in-memory storage
 * of the user registry, device registry and rule engine (PyJung's
 * JungRegistry). Values are copied in and out. */
typedef struct jung_registry jung_registry;

jung_registry *jung_registry_new(void);
void jung_registry_free(jung_registry *reg);
/* Inserts; false if the key exists (409). */
bool jung_registry_insert(jung_registry *reg, const char *key, json_t *value);
/* Returns a new reference to a deep copy, or NULL when absent. */
json_t *jung_registry_get(jung_registry *reg, const char *key);
/* Applies fn to the stored value under the lock; false when absent. */
bool jung_registry_update(jung_registry *reg, const char *key, void (*fn)(json_t *value, void *arg),
                          void *arg);
size_t jung_registry_size(jung_registry *reg);
/* Removes an entry; false when absent (rolls back a half-done CREATE). */
bool jung_registry_remove(jung_registry *reg, const char *key);
/* Calls fn for each entry (a snapshot copy), for the rule engine's sweep. */
void jung_registry_each(jung_registry *reg, void (*fn)(const char *key, json_t *value, void *arg),
                        void *arg);

/* ---- service scaffolding ---------------------------------------------- */

/* Settings every service takes, from --options or JUNG_* environment
 * variables (options win): --brokers/JUNG_BROKERS, --instance/JUNG_INSTANCE,
 * --kafka-prop k=v (repeatable)/JUNG_KAFKA_PROPS (comma-separated),
 * --broker-map/JUNG_BROKER_MAP, --workers/JUNG_WORKERS,
 * --timeout-ms/JUNG_TIMEOUT_MS, --stop-timeout-ms/JUNG_STOP_TIMEOUT_MS. */
typedef struct jung_service_opts {
    jung_bus_config bus;
    const char *kafka_props_store[32];
    char *owned[40]; /* strings this struct owns (split from the environment) */
    int n_owned;
    int stop_timeout_ms; /* --stop-timeout-ms: the stop budget (stop.c) */
    bool help;           /* parse returned false because --help was printed: exit 0 */
} jung_service_opts;

/* A service-specific option: --NAME VALUE or --NAME=VALUE, else the
 * environment variable env, else the default already in *value. */
typedef struct jung_service_opt {
    const char *name; /* without dashes, e.g. "interval-ms" */
    const char *env;  /* e.g. "JUNG_INTERVAL_MS", or NULL */
    const char *help; /* one line for --help */
    const char **value;
} jung_service_opt;

/* Parses the common options; unknown options are left for the service
 * (extra_longopts handled by the caller through getopt). Returns false and
 * prints a usage error on bad input. */
bool jung_service_opts_parse(jung_service_opts *opts, const char *service, int argc, char **argv);
void jung_service_opts_free(jung_service_opts *opts);

/* Like jung_service_opts_parse, also accepting the n_extra options of the
 * service; any other option is a usage error. --help prints the usage
 * (summary first) on stdout, sets opts->help and returns false. */
bool jung_service_opts_parse_extra(jung_service_opts *opts, const char *service,
                                   const char *summary, const jung_service_opt *extra, int n_extra,
                                   int argc, char **argv);

/* Strict integer option value in [min, max]; prints a usage error naming
 * the option and returns false otherwise. */
bool jung_service_parse_int(const char *service, const char *opt, const char *value, long min,
                            long max, long *out);

/* ---- passwords ----------------------------------------------------------
 * Argon2id cost of the stored password hashes (user_registry), and of the
 * stand-in hash auth_manager checks for an unknown user so that a name's
 * existence does not show in the answer time. 2 MiB and 3 passes hash in a
 * few ms and keep RSS small (the interactive preset takes 64 MiB per
 * concurrent hash); the parameters travel inside the hash string. */
#define JUNG_PWHASH_OPSLIMIT 3ULL
#define JUNG_PWHASH_MEMLIMIT (2u * 1024 * 1024)
#define JUNG_MAX_USERNAME 64
#define JUNG_MAX_PASSWORD 256

/* ---- stopping (stop.c) -------------------------------------------------
 * A service stops on its first SIGTERM/SIGINT; later ones are logged and
 * ignored (SIGKILL is the only escalation). The teardown that follows has a
 * budget (--stop-timeout-ms, default JUNG_DEFAULT_STOP_BUDGET_MS): past it,
 * the phase it was in is logged and the process exits with
 * JUNG_EXIT_STOP_TIMEOUT. Order: jung_stop_init before anything slow (the
 * bus open), jung_stop_attach once the bus exists, jung_stop_begin when the
 * teardown starts (whether a signal came or not), jung_stop_phase at each
 * step, jung_stop_finished at the end. */
#define JUNG_DEFAULT_STOP_BUDGET_MS 5000
#define JUNG_EXIT_STOP_TIMEOUT 3 /* the teardown outlived its stop budget */
/* Installs the handlers and starts the watchdog; false if it cannot. */
bool jung_stop_init(const char *instance, int budget_ms);
/* The bus a stop signal stops from now on (stops it at once when a signal
 * already came). */
void jung_stop_attach(jung_bus *bus);
/* True once a stop signal arrived. */
bool jung_stop_requested(void);
/* The teardown starts: the watchdog's budget runs from here; detaches the bus. */
void jung_stop_begin(const char *phase);
/* Names what the teardown waits for now (a string literal); the watchdog
 * logs it if the budget runs out. */
void jung_stop_phase(const char *phase);
/* The teardown is done: the watchdog stands down. */
void jung_stop_finished(void);

/* Prints "jung <service> started instance=<instance>" once the process is up
 * and connected to its broker, before it joins its group: harnesses time
 * the platform's start-up apart from the group's rebalance. */
void jung_service_started(const char *service, const char *instance);

/* Prints the readiness line harnesses wait for, then flushes stdout:
 *   "jung <service> ready instance=<instance> [extra]" */
void jung_service_ready(const char *service, const char *instance, const char *extra);

/* The life of a service process: opens the bus, stops it on SIGTERM/SIGINT,
 * starts reading the results of each of `callees` (NULL-terminated, may be
 * NULL; a name starting with '!' is a service this one only sends
 * fire-and-forget tasks to: jung_bus_prepare_send), serves tasks with handler and prints the
 * readiness line once its task partitions are assigned. When tick is given it runs on its own
 * thread every tick_ms from then until the stop (the rule engine's sweep, the device gateway's
 * readings). Returns the process exit code. */
int jung_service_run(jung_service_opts *opts, jung_task_handler handler, void *ctx,
                     const char *const *callees, void (*tick)(jung_bus *bus, void *ctx),
                     int tick_ms);

/* Payload fields for handlers: a non-empty string of at most max_len bytes,
 * or a JSON number. Absent or wrong: NULL/false with a 400 naming the
 * field. */
const char *jung_field_string(const json_t *payload, const char *name, size_t max_len,
                              jung_error *err);
bool jung_field_number(const json_t *payload, const char *name, double *out, jung_error *err);

/* One log line on stdout (flushed): services log there, not to stderr. */
void jung_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A random RFC 4122 UUID string (libuuid). */
void jung_uuid(char out[JUNG_UUID_LEN + 1]);

#endif
