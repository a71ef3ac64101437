/* store.h - the SQLite results database every module writes and the
 * report reads: results/<run-id>/results.db.
 *
 * One schema for the whole harness (docs/results-db.md explains every
 * column). The load generator writes `samples` and `load_summaries`, the
 * metrics layer `metric_samples` and `metric_summaries`, the platforms
 * `boot_times` and `image_sizes`, the controller `runs` and `iterations`.
 * Times are milliseconds: *_ms columns since the Unix epoch unless named
 * otherwise. The database runs in WAL mode, so a reader (a report on a run
 * in progress) never blocks the writers.
 */
#ifndef JB_CORE_STORE_H
#define JB_CORE_STORE_H

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

/* One metric_summaries row as a remote runner reports it (RESULTS): NAN
 * or a negative peak for a figure it did not measure (stored NULL). */
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
