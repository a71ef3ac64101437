/* store.h - the SQLite results database: results/<run-id>/results.db.
 *
 * store/ is the only module that writes SQL: every table has a typed
 * writer here (jb_store_put_*, jb_store_add_*, jb_store_set_*), and the
 * other modules fill its struct. Reading is open to all (the report runs
 * its own SELECTs). One schema for the whole harness (schema.c, and
 * docs/results-db.md column by column). The load generator fills
 * `samples` and `load_summaries`, the metrics layer `metric_samples` and
 * `metric_summaries`, the runner `boot_times`, `stop_times` and
 * `image_sizes`, the controller `runs`, `platforms` and `iterations`.
 * Times are milliseconds: *_ms columns since the Unix epoch unless named
 * otherwise. The database runs in WAL mode, so a reader (a report on a run
 * in progress) never blocks the writers.
 */
#ifndef JB_STORE_STORE_H
#define JB_STORE_STORE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#define JB_STORE_SCHEMA_VERSION 1

/* The samples index by iteration, part of the schema. The load generator
 * drops it while it loads into an empty samples table and runs this again
 * afterwards (loadgen/recorder.c says why). */
#define JB_STORE_SAMPLES_INDEX_SQL                                                                 \
    "CREATE INDEX IF NOT EXISTS samples_by_iteration ON samples(run_id, platform, iteration)"

typedef struct jb_store {
    sqlite3 *db;
    char path[4096];
} jb_store;

/* Opens (creating if needed) the database at path, in WAL mode, with the
 * schema applied. A database that is not a jungbench database, or has a newer
 * schema, is refused with a message in err. */
bool jb_store_open(jb_store *store, const char *path, char *err, size_t errlen);
/* Opens read-only, for reports; does not create anything. */
bool jb_store_open_readonly(jb_store *store, const char *path, char *err, size_t errlen);
void jb_store_close(jb_store *store);

/* Runs SQL with no result rows; false with sqlite's message in err. */
bool jb_store_exec(jb_store *store, const char *sql, char *err, size_t errlen);

/* Batched writes: wrap many inserts in one transaction (a commit per row
 * would cap the load generator at a few hundred rows a second). */
bool jb_store_begin(jb_store *store);
bool jb_store_commit(jb_store *store);
void jb_store_rollback(jb_store *store);
/* sqlite's message for the last failed call on this database. */
const char *jb_store_errmsg(const jb_store *store);

/* ---- runs, platforms, iterations ----------------------------------------- */

/* One runs row, status 'running'. */
typedef struct jb_store_run {
    const char *run_id, *name;
    const char *config;      /* the config as run (JSON), or a short description */
    const char *environment; /* environment.json of the controller's machine; NULL: none */
    double started_ms;
} jb_store_run;
/* inserted NULL: the run must be new (false if it exists). inserted set:
 * an existing run is left alone and *inserted says whether this call added
 * it (a standalone load generator writing into a controller's run). */
bool jb_store_add_run(jb_store *store, const jb_store_run *r, bool *inserted);
/* finished_ms < 0: still running (NULL). */
bool jb_store_set_run_status(jb_store *store, const char *run_id, const char *status,
                             double finished_ms);
/* One platforms row: the config's platform object as JSON. */
bool jb_store_put_platform(jb_store *store, const char *run_id, const char *platform,
                           const char *driver, const char *settings_json);
/* One iterations row, replaced as its status moves on. */
typedef struct jb_store_iteration {
    const char *run_id, *platform;
    long iteration;
    double started_ms, finished_ms; /* finished_ms < 0: not finished (NULL) */
    const char *status;             /* running | done | failed | interrupted */
    const char *accel, *error;      /* NULL or "": none */
} jb_store_iteration;
bool jb_store_put_iteration(jb_store *store, const jb_store_iteration *it);
/* Deletes what an unfinished attempt of an iteration wrote (a re-run would
 * otherwise count it twice): every table with an iteration column but
 * `iterations`. */
bool jb_store_clear_iteration(jb_store *store, const char *run_id, const char *platform,
                              long iteration);

/* ---- samples and metric_samples: bulk writers ------------------------------ */

/* One samples row: one HTTP request, with what a JMeter JTL row needs. */
typedef struct jb_store_sample {
    const char *phase; /* setup | measure */
    long long time_stamp_ms, elapsed_ms, latency_ms, connect_ms, idle_ms;
    const char *label, *response_code, *response_message;
    bool success;
    const char *failure_message;
    long long bytes, sent_bytes;
    const char *thread_name;
    long long grp_threads, all_threads;
    const char *url;
    long long seq;
    double intended_ms;
    long long elapsed_us;
} jb_store_sample;
typedef struct jb_store_samples {
    jb_store *store;
    sqlite3_stmt *insert;
    bool index_deferred;
} jb_store_samples;
/* Prepares the insert for one run, platform and iteration. When samples is
 * empty its index is set aside until finish (samples.c says why). */
bool jb_store_samples_open(jb_store_samples *w, jb_store *store, const char *run_id,
                           const char *platform, long iteration);
bool jb_store_samples_put(jb_store_samples *w, const jb_store_sample *s);
/* Rebuilds the index if it was set aside; close does too. */
bool jb_store_samples_finish(jb_store_samples *w);
void jb_store_samples_close(jb_store_samples *w);

/* One metric_samples row: NAN or negative figures were not measured (NULL). */
typedef struct jb_store_metric_sample {
    const char *grp, *kind, *source;
    double t_ms, cpu_pct, cgroup_cpu_pct;
    long long rss_kb, pss_kb, cgroup_mem_kb;
    int nprocs;
} jb_store_metric_sample;
typedef struct jb_store_metric_samples {
    jb_store *store;
    sqlite3_stmt *insert;
} jb_store_metric_samples;
bool jb_store_metric_samples_open(jb_store_metric_samples *w, jb_store *store, const char *run_id,
                                  const char *platform, long iteration);
bool jb_store_metric_samples_put(jb_store_metric_samples *w, const jb_store_metric_sample *m);
void jb_store_metric_samples_close(jb_store_metric_samples *w);

/* ---- what an iteration measured --------------------------------------------- */

/* One load_summaries row: the load generator's figures of an iteration. */
typedef struct jb_store_load_summary {
    const char *run_id, *platform;
    long iteration;
    long long samples, errors;
    double error_pct, throughput, received_kbs, sent_kbs;
    double avg_ms, min_ms, max_ms, p50_ms, p90_ms, p95_ms, p99_ms, p999_ms, duration_ms;
} jb_store_load_summary;
bool jb_store_put_load_summary(jb_store *store, const jb_store_load_summary *s);
/* One image_sizes row (service "_cumulative", kind "cumulative": the total). */
typedef struct jb_store_image_size {
    const char *run_id, *platform, *service, *kind;
    unsigned long long bytes, shared_bytes;
} jb_store_image_size;
bool jb_store_put_image_size(jb_store *store, const jb_store_image_size *s);
/* One provision_times row: a round of `jungbench provision`. */
typedef struct jb_store_provision_time {
    const char *run_id, *platform, *service, *accel;
    long instances, repeat;
    double all_ready_ms, ready_median_ms, ready_max_ms, stop_ms;
} jb_store_provision_time;
bool jb_store_put_provision_time(jb_store *store, const jb_store_provision_time *p);

/* One stop_times row: how a service instance stopped. */
#define JB_STORE_EXIT_UNKNOWN (-1000)
typedef struct jb_store_stop_time {
    const char *run_id, *platform;
    long iteration;
    const char *service, *instance;
    double stop_ms; /* < 0: not measured (it had exited before the stop) */
    bool killed;
    int exit_code; /* JB_STORE_EXIT_UNKNOWN: unknown */
    const char *exit;
} jb_store_stop_time;
bool jb_store_add_stop_time(jb_store *store, const jb_store_stop_time *t);

/* One metric_summaries row: NAN or a negative peak for a figure it did not measure (stored NULL).
 */
typedef struct jb_store_metric_summary {
    const char *run_id, *platform;
    long iteration;
    const char *grp, *kind, *source;
    long samples;
    double cpu_mean, cpu_sd, cpu_seconds;
    double rss_mean_kb, pss_mean_kb, cgroup_mem_mean_kb, cgroup_cpu_mean;
    long long rss_peak_kb, pss_peak_kb, cgroup_mem_peak_kb;
} jb_store_metric_summary;
bool jb_store_put_metric_summary(jb_store *store, const jb_store_metric_summary *m);

/* One boot_times row: how long an instance took to run, to be up (its
 * "started" line) and to join its group (its readiness line). */
typedef struct jb_store_boot_time {
    const char *run_id, *platform;
    long iteration;
    const char *service, *instance;
    double boot_ms, ready_ms;
    double process_ready_ms; /* < 0: the service printed no "started" line (NULL) */
    const char *accel;
    const char *log_path; /* on the runner's host; NULL or "": none kept */
} jb_store_boot_time;
bool jb_store_add_boot_time(jb_store *store, const jb_store_boot_time *t);

/* The runner_hosts row of a runner: its host name and environment JSON. */
bool jb_store_put_runner_host(jb_store *store, const char *run_id, const char *runner,
                              const char *hostname, const char *environment_json);

/* The platform_builds row: which build (static | dynamic) it ran. */
bool jb_store_set_platform_build(jb_store *store, const char *run_id, const char *platform,
                                 const char *build);

/* The iteration_load row: how busy the machine was around an iteration. */
typedef struct jb_store_iteration_load {
    const char *run_id, *platform;
    long iteration;
    double load1_before, idle_before_pct, load1_after, idle_pct, steal_pct;
    bool busy;
} jb_store_iteration_load;
bool jb_store_set_iteration_load(jb_store *store, const jb_store_iteration_load *l);

/* The runner_liveness row of an iteration. A busy runner sends a HEARTBEAT
 * every 2 s (jungbench runner --heartbeat-ms): a gap over
 * JB_STORE_RUNNER_GAP_MS means more than two went missing, so the load may
 * have met a platform nobody was watching, and the report flags it. */
#define JB_STORE_RUNNER_GAP_MS 5000.0
typedef struct jb_store_runner_liveness {
    const char *run_id, *platform, *runner;
    long iteration;
    long messages;
    double max_gap_ms;
} jb_store_runner_liveness;
bool jb_store_set_runner_liveness(jb_store *store, const jb_store_runner_liveness *l);
/* A remote runner's rows of one iteration, carried in RESULTS so the
 * controller's database holds what the runner's does: the tables below,
 * every column, as JSON objects (NULL columns left out). iteration < 0:
 * a table without an iteration column (image_sizes). */
extern const char *const jb_store_forwarded_tables[]; /* NULL-terminated */
/* Tables too large for one message: sent in ROWS parts (docs/protocol.md). */
extern const char *const jb_store_parted_tables[]; /* NULL-terminated */
json_t *jb_store_rows_json(jb_store *store, const char *table, const char *run_id,
                           const char *platform, long iteration);
/* Inserts (or replaces) such rows under this run, platform and iteration;
 * keys that are not columns of the table are ignored. */
bool jb_store_insert_rows_json(jb_store *store, const char *table, const json_t *rows,
                               const char *run_id, const char *platform, long iteration);

/* The schema's SQL, for tests and docs. */
const char *jb_store_schema_sql(void);

#endif
