/* store.c - opening the results database and keeping its schema. */
#include "core/store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);\n"
    /* One experiment run: what was asked and where it ran. */
    "CREATE TABLE IF NOT EXISTS runs(\n"
    "  run_id TEXT PRIMARY KEY, name TEXT, config TEXT, environment TEXT,\n"
    "  started_ms REAL, finished_ms REAL, status TEXT);\n"
    /* The platforms a run compares, as configured (added by controller/):
     * settings is the config's platform object as JSON. */
    "CREATE TABLE IF NOT EXISTS platforms(\n"
    "  run_id TEXT, platform TEXT, driver TEXT, settings TEXT,\n"
    "  PRIMARY KEY(run_id, platform));\n"
    /* status: running | done | failed | interrupted. accel: native | kvm | emulated. */
    "CREATE TABLE IF NOT EXISTS iterations(\n"
    "  run_id TEXT, platform TEXT, iteration INTEGER, started_ms REAL, finished_ms REAL,\n"
    "  status TEXT, accel TEXT, error TEXT,\n"
    "  PRIMARY KEY(run_id, platform, iteration));\n"
    /* One HTTP request, with exactly what a JMeter JTL row needs. phase is
     * 'setup' for the users/devices/rules the load generator creates before
     * measuring, 'measure' for measured samples. */
    "CREATE TABLE IF NOT EXISTS samples(\n"
    "  run_id TEXT, platform TEXT, iteration INTEGER, phase TEXT,\n"
    "  time_stamp INTEGER, elapsed INTEGER, latency INTEGER, connect INTEGER,\n"
    "  idle_time INTEGER, label TEXT, response_code TEXT, response_message TEXT,\n"
    "  success INTEGER, failure_message TEXT, bytes INTEGER, sent_bytes INTEGER,\n"
    "  thread_name TEXT, grp_threads INTEGER, all_threads INTEGER, url TEXT,\n"
    "  seq INTEGER, intended_ms REAL, elapsed_us INTEGER);\n" JB_STORE_SAMPLES_INDEX_SQL ";\n"
    "CREATE TABLE IF NOT EXISTS load_summaries(\n"
    "  run_id TEXT, platform TEXT, iteration INTEGER, samples INTEGER, errors INTEGER,\n"
    "  error_pct REAL, throughput REAL, received_kbs REAL, sent_kbs REAL,\n"
    "  avg_ms REAL, min_ms REAL, max_ms REAL, p50_ms REAL, p90_ms REAL, p95_ms REAL,\n"
    "  p99_ms REAL, p999_ms REAL, duration_ms REAL,\n"
    "  PRIMARY KEY(run_id, platform, iteration));\n"
    /* grp: a service instance (user_registry-1) or a runtime daemon (dockerd).
     * kind: service | runtime. source says where memory figures came from
     * (procfs, cgroup2, cgroup1). */
    "CREATE TABLE IF NOT EXISTS metric_samples(\n"
    "  run_id TEXT, platform TEXT, iteration INTEGER, grp TEXT, kind TEXT, t_ms REAL,\n"
    "  cpu_pct REAL, rss_kb INTEGER, pss_kb INTEGER, cgroup_mem_kb INTEGER,\n"
    "  cgroup_cpu_pct REAL, nprocs INTEGER, source TEXT);\n"
    "CREATE INDEX IF NOT EXISTS metric_samples_by_iteration\n"
    "  ON metric_samples(run_id, platform, iteration, grp);\n"
    "CREATE TABLE IF NOT EXISTS metric_summaries(\n"
    "  run_id TEXT, platform TEXT, iteration INTEGER, grp TEXT, kind TEXT,\n"
    "  cpu_mean REAL, cpu_sd REAL, rss_mean_kb REAL, rss_peak_kb INTEGER,\n"
    "  pss_mean_kb REAL, pss_peak_kb INTEGER, cpu_seconds REAL, samples INTEGER, source TEXT,\n"
    /* cgroup figures (containers only; NULL otherwise), added by metrics/ */
    "  cgroup_mem_mean_kb REAL, cgroup_mem_peak_kb INTEGER, cgroup_cpu_mean REAL,\n"
    "  PRIMARY KEY(run_id, platform, iteration, grp));\n"
    /* boot_ms: start call to process/container/VM running; ready_ms: start call
     * to the service's readiness line, printed once its consumer group has
     * assigned it (joined its group); process_ready_ms: start call to its
     * "started" line, the process up and connected to its broker before the
     * group join (NULL when the service prints none, e.g. the API gateway). */
    /* log_path: the instance's output as kept on its runner's host (see
     * runner_hosts), NULL when none was kept. */
    "CREATE TABLE IF NOT EXISTS boot_times(\n"
    "  run_id TEXT, platform TEXT, iteration INTEGER, service TEXT, instance TEXT,\n"
    "  boot_ms REAL, ready_ms REAL, accel TEXT, process_ready_ms REAL, log_path TEXT);\n"
    /* bytes: this service's image alone; shared_bytes: the part shared with
     * the other services' images (Docker layers), counted once in totals. */
    "CREATE TABLE IF NOT EXISTS image_sizes(\n"
    "  run_id TEXT, platform TEXT, service TEXT, kind TEXT, bytes INTEGER,\n"
    "  shared_bytes INTEGER, PRIMARY KEY(run_id, platform, service));\n"
    /* `jungbench provision` (figure 13, added by platforms/): `instances` of
     * one service started at once; all_ready_ms from the first start call to
     * the last readiness line, stop_ms the teardown of all of them. */
    "CREATE TABLE IF NOT EXISTS provision_times(\n"
    "  run_id TEXT, platform TEXT, instances INTEGER, repeat INTEGER, service TEXT,\n"
    "  all_ready_ms REAL, ready_median_ms REAL, ready_max_ms REAL, stop_ms REAL, accel TEXT);\n"
    /* How each instance stopped: stop_ms from the one stop signal (SIGTERM)
     * to the exit; killed 1 when it still ran after stop_grace_ms and got
     * SIGKILL; exit_code its exit status, -N for signal N, NULL unknown. */
    /* The build of Jung's executables a platform ran (static | dynamic), as
     * the runner found it when it booted the platform. */
    "CREATE TABLE IF NOT EXISTS platform_builds(\n"
    "  run_id TEXT, platform TEXT, build TEXT, PRIMARY KEY(run_id, platform));\n"
    /* How busy the machine was (noise guard): load1_before and
     * idle_before_pct just before the services start, then over the
     * iteration (boot to teardown) the free (idle) and stolen share of all
     * CPUs, and the load average at its end. busy 1 when free CPU was under
     * 80 % before, or steal over 5 % during (free CPU during is the
     * benchmark's own use). */
    "CREATE TABLE IF NOT EXISTS iteration_load(\n"
    "  run_id TEXT, platform TEXT, iteration INTEGER, load1_before REAL, idle_before_pct REAL,\n"
    "  load1_after REAL, idle_pct REAL, steal_pct REAL, busy INTEGER,\n"
    "  PRIMARY KEY(run_id, platform, iteration));\n"
    /* runner_liveness: the runner's messages seen during one iteration (RUN
     * to its end) and the longest gap between two, or before the end;
     * gap 1 when that exceeded JB_STORE_RUNNER_GAP_MS (a partition, a
     * stalled or dead runner). */
    "CREATE TABLE IF NOT EXISTS runner_liveness(\n"
    "  run_id TEXT, platform TEXT, iteration INTEGER, runner TEXT, messages INTEGER,\n"
    "  max_gap_ms REAL, gap INTEGER,\n"
    "  PRIMARY KEY(run_id, platform, iteration));\n"
    /* runner_hosts: the machine each runner of a run booted its platforms
     * on, as the runner described it (the JSON of environment.json, which
     * describes the controller's machine): one row per runner, the latest. */
    "CREATE TABLE IF NOT EXISTS runner_hosts(\n"
    "  run_id TEXT, runner TEXT, hostname TEXT, environment TEXT,\n"
    "  PRIMARY KEY(run_id, runner));\n"
    "CREATE TABLE IF NOT EXISTS stop_times(\n"
    "  run_id TEXT, platform TEXT, iteration INTEGER, service TEXT, instance TEXT,\n"
    "  stop_ms REAL, killed INTEGER, exit_code INTEGER, exit TEXT);\n";

const char *jb_store_schema_sql(void)
{
    return schema_sql;
}

static bool fail(jb_store *store, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s: %s: %s", store->path, what,
             store->db ? sqlite3_errmsg(store->db) : "out of memory");
    jb_store_close(store);
    return false;
}

bool jb_store_exec(jb_store *store, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(store->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        if (err)
            snprintf(err, errlen, "%s", msg ? msg : "unknown SQLite error");
        sqlite3_free(msg);
        return false;
    }
    return true;
}

static int read_schema_version(jb_store *store)
{
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(store->db, "SELECT value FROM meta WHERE key='schema_version'", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return version;
}

/* A file with tables but no meta table is someone else's database: writing
 * our schema into it would corrupt their data, so refuse. */
static bool is_foreign(jb_store *store)
{
    sqlite3_stmt *st = NULL;
    int tables = 0, has_meta = 0;
    if (sqlite3_prepare_v2(
            store->db, "SELECT count(*), sum(name='meta') FROM sqlite_master WHERE type='table'",
            -1, &st, NULL) != SQLITE_OK)
        return true;
    if (sqlite3_step(st) == SQLITE_ROW) {
        tables = sqlite3_column_int(st, 0);
        has_meta = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    return tables > 0 && !has_meta;
}

static bool open_common(jb_store *store, const char *path, int flags, char *err, size_t errlen)
{
    memset(store, 0, sizeof *store);
    snprintf(store->path, sizeof store->path, "%s", path);
    if (sqlite3_open_v2(path, &store->db, flags, NULL) != SQLITE_OK)
        return fail(store, err, errlen, "cannot open database");
    sqlite3_busy_timeout(store->db, 5000);
    /* Touch the file now so a non-database file is reported here, clearly. */
    if (sqlite3_exec(store->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
        SQLITE_OK)
        return fail(store, err, errlen, "not a SQLite database");
    return true;
}

/* Columns added after a table first shipped: CREATE TABLE IF NOT EXISTS
 * leaves an older database's table as it was, and its rows stay readable. */
static bool add_column_if_missing(jb_store *store, const char *table, const char *column,
                                  const char *type)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s') WHERE name='%s'", table,
             column);
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    bool present = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    if (present)
        return true;
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, column, type);
    return jb_store_exec(store, sql, NULL, 0);
}

bool jb_store_open(jb_store *store, const char *path, char *err, size_t errlen)
{
    if (!open_common(store, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, errlen))
        return false;
    if (is_foreign(store)) {
        snprintf(err, errlen, "%s: not a jungbench results database (no meta table)", path);
        jb_store_close(store);
        return false;
    }
    int version = read_schema_version(store);
    if (version > JB_STORE_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: schema version %d is newer than this jungbench's (%d)", path,
                 version, JB_STORE_SCHEMA_VERSION);
        jb_store_close(store);
        return false;
    }
    char setup[128];
    snprintf(setup, sizeof setup,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
    if (!jb_store_exec(store, setup, NULL, 0) || !jb_store_exec(store, schema_sql, NULL, 0) ||
        !add_column_if_missing(store, "boot_times", "process_ready_ms", "REAL") ||
        !add_column_if_missing(store, "boot_times", "log_path", "TEXT"))
        return fail(store, err, errlen, "cannot apply schema");
    snprintf(setup, sizeof setup, "INSERT OR REPLACE INTO meta VALUES('schema_version','%d');",
             JB_STORE_SCHEMA_VERSION);
    if (!jb_store_exec(store, setup, NULL, 0))
        return fail(store, err, errlen, "cannot write schema version");
    return true;
}

bool jb_store_open_readonly(jb_store *store, const char *path, char *err, size_t errlen)
{
    if (!open_common(store, path, SQLITE_OPEN_READONLY, err, errlen))
        return false;
    if (read_schema_version(store) < 0) {
        snprintf(err, errlen, "%s: not a jungbench results database (no schema version)", path);
        jb_store_close(store);
        return false;
    }
    return true;
}

void jb_store_close(jb_store *store)
{
    if (store->db)
        sqlite3_close(store->db);
    store->db = NULL;
}

bool jb_store_begin(jb_store *store)
{
    return jb_store_exec(store, "BEGIN", NULL, 0);
}

bool jb_store_commit(jb_store *store)
{
    return jb_store_exec(store, "COMMIT", NULL, 0);
}

bool jb_store_add_stop_time(jb_store *store, const jb_store_stop_time *t)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, "INSERT INTO stop_times VALUES(?,?,?,?,?,?,?,?,?)", -1, &st,
                           NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, t->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->platform, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, t->iteration);
    sqlite3_bind_text(st, 4, t->service, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, t->instance, -1, SQLITE_STATIC);
    if (t->stop_ms >= 0)
        sqlite3_bind_double(st, 6, t->stop_ms);
    sqlite3_bind_int(st, 7, t->killed);
    if (t->exit_code != JB_STORE_EXIT_UNKNOWN)
        sqlite3_bind_int(st, 8, t->exit_code);
    sqlite3_bind_text(st, 9, t->exit, -1, SQLITE_STATIC);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok;
}

static void bind_real_or_null(sqlite3_stmt *st, int i, double v)
{
    if (!isnan(v))
        sqlite3_bind_double(st, i, v);
}

static void bind_kb_or_null(sqlite3_stmt *st, int i, long long kb)
{
    if (kb >= 0)
        sqlite3_bind_int64(st, i, kb);
}

bool jb_store_put_metric_summary(jb_store *store, const jb_store_metric_summary *m)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            store->db,
            "INSERT OR REPLACE INTO metric_summaries(run_id, platform, iteration, grp, kind,"
            " cpu_mean, cpu_sd, rss_mean_kb, rss_peak_kb, pss_mean_kb, pss_peak_kb, cpu_seconds,"
            " samples, source, cgroup_mem_mean_kb, cgroup_mem_peak_kb, cgroup_cpu_mean)"
            " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, m->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m->platform, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, m->iteration);
    sqlite3_bind_text(st, 4, m->grp, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, m->kind, -1, SQLITE_STATIC);
    bind_real_or_null(st, 6, m->cpu_mean);
    bind_real_or_null(st, 7, m->cpu_sd);
    bind_real_or_null(st, 8, m->rss_mean_kb);
    bind_kb_or_null(st, 9, m->rss_peak_kb);
    bind_real_or_null(st, 10, m->pss_mean_kb);
    bind_kb_or_null(st, 11, m->pss_peak_kb);
    bind_real_or_null(st, 12, m->cpu_seconds);
    sqlite3_bind_int64(st, 13, m->samples);
    sqlite3_bind_text(st, 14, m->source, -1, SQLITE_STATIC);
    bind_real_or_null(st, 15, m->cgroup_mem_mean_kb);
    bind_kb_or_null(st, 16, m->cgroup_mem_peak_kb);
    bind_real_or_null(st, 17, m->cgroup_cpu_mean);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok;
}

/* stop_times, iteration_load, image_sizes: what a runner writes besides the
 * summaries and boot times, which RESULTS and READY carry field by field. */
const char *const jb_store_forwarded_tables[] = {"stop_times", "iteration_load", "image_sizes",
                                                 NULL};
const char *const jb_store_parted_tables[] = {"metric_samples", NULL};

static bool is_forwarded(const char *table)
{
    for (const char *const *t = jb_store_forwarded_tables; *t; t++)
        if (strcmp(*t, table) == 0)
            return true;
    for (const char *const *t = jb_store_parted_tables; *t; t++)
        if (strcmp(*t, table) == 0)
            return true;
    return false;
}

static bool has_iteration(jb_store *store, const char *table)
{
    char sql[160];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s') WHERE name='iteration'",
             table);
    bool has = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) == SQLITE_OK &&
               sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    return has;
}

static json_t *column_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer((json_int_t)sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    case SQLITE_TEXT:
        return json_string((const char *)sqlite3_column_text(st, i));
    default:
        return NULL; /* NULL (and blobs, which these tables do not have) */
    }
}

json_t *jb_store_rows_json(jb_store *store, const char *table, const char *run_id,
                           const char *platform, long iteration)
{
    if (!is_forwarded(table))
        return NULL;
    char sql[256];
    bool by_iteration = has_iteration(store, table);
    snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE run_id=?1 AND platform=?2%s", table,
             by_iteration ? " AND iteration=?3" : "");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, platform, -1, SQLITE_STATIC);
    if (by_iteration)
        sqlite3_bind_int64(st, 3, iteration);
    json_t *rows = json_array();
    while (rows && sqlite3_step(st) == SQLITE_ROW) {
        json_t *row = json_object();
        for (int i = 0; row && i < sqlite3_column_count(st); i++) {
            json_t *v = column_json(st, i);
            if (v)
                json_object_set_new(row, sqlite3_column_name(st, i), v);
        }
        json_array_append_new(rows, row);
    }
    sqlite3_finalize(st);
    return rows;
}

/* The table's columns, in order, as sqlite reports them. */
static int table_columns(jb_store *store, const char *table, char cols[][64], int max)
{
    char sql[160];
    sqlite3_stmt *st = NULL;
    int n = 0;
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s')", table);
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    while (n < max && sqlite3_step(st) == SQLITE_ROW)
        snprintf(cols[n++], 64, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return n;
}

static void bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
    if (json_is_integer(v))
        sqlite3_bind_int64(st, i, (sqlite3_int64)json_integer_value(v));
    else if (json_is_real(v))
        sqlite3_bind_double(st, i, json_real_value(v));
    else if (json_is_string(v))
        sqlite3_bind_text(st, i, json_string_value(v), -1, SQLITE_TRANSIENT);
    else if (json_is_true(v) || json_is_false(v))
        sqlite3_bind_int(st, i, json_is_true(v));
}

/* One row: the identity columns are the controller's, the rest the runner's. */
static bool insert_row(sqlite3_stmt *st, char cols[][64], int ncols, const json_t *row,
                       const char *run_id, const char *platform, long iteration)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (int i = 0; i < ncols; i++) {
        if (strcmp(cols[i], "run_id") == 0)
            sqlite3_bind_text(st, i + 1, run_id, -1, SQLITE_STATIC);
        else if (strcmp(cols[i], "platform") == 0)
            sqlite3_bind_text(st, i + 1, platform, -1, SQLITE_STATIC);
        else if (strcmp(cols[i], "iteration") == 0)
            sqlite3_bind_int64(st, i + 1, iteration);
        else
            bind_json(st, i + 1, json_object_get(row, cols[i]));
    }
    return sqlite3_step(st) == SQLITE_DONE;
}

bool jb_store_insert_rows_json(jb_store *store, const char *table, const json_t *rows,
                               const char *run_id, const char *platform, long iteration)
{
    if (!is_forwarded(table) || !json_is_array(rows))
        return false;
    char cols[32][64], sql[512];
    int ncols = table_columns(store, table, cols, 32);
    if (ncols == 0)
        return false;
    size_t len = (size_t)snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO %s VALUES(", table);
    for (int i = 0; i < ncols && len < sizeof sql; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, i ? ",?" : "?");
    if (len + 2 > sizeof sql)
        return false;
    memcpy(sql + len, ")", 2);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    bool ok = true;
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        ok = insert_row(st, cols, ncols, row, run_id, platform, iteration) && ok;
    }
    sqlite3_finalize(st);
    return ok;
}

bool jb_store_add_boot_time(jb_store *store, const jb_store_boot_time *t)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "INSERT INTO boot_times(run_id, platform, iteration, service, instance,"
                           " boot_ms, ready_ms, accel, process_ready_ms, log_path)"
                           " VALUES(?,?,?,?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, t->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->platform, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, t->iteration);
    sqlite3_bind_text(st, 4, t->service, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, t->instance, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, t->boot_ms);
    sqlite3_bind_double(st, 7, t->ready_ms);
    sqlite3_bind_text(st, 8, t->accel, -1, SQLITE_STATIC);
    if (t->process_ready_ms >= 0)
        sqlite3_bind_double(st, 9, t->process_ready_ms);
    if (t->log_path && t->log_path[0])
        sqlite3_bind_text(st, 10, t->log_path, -1, SQLITE_STATIC);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok;
}

bool jb_store_put_runner_host(jb_store *store, const char *run_id, const char *runner,
                              const char *hostname, const char *environment_json)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "INSERT OR REPLACE INTO runner_hosts(run_id, runner, hostname,"
                           " environment) VALUES(?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, runner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hostname, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, environment_json, -1, SQLITE_STATIC);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok;
}

bool jb_store_set_platform_build(jb_store *store, const char *run_id, const char *platform,
                                 const char *build)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, "INSERT OR REPLACE INTO platform_builds VALUES(?,?,?)", -1,
                           &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, platform, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, build, -1, SQLITE_STATIC);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok;
}

bool jb_store_set_iteration_load(jb_store *store, const jb_store_iteration_load *l)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "INSERT OR REPLACE INTO iteration_load VALUES(?,?,?,?,?,?,?,?,?)", -1,
                           &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, l->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, l->platform, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, l->iteration);
    sqlite3_bind_double(st, 4, l->load1_before);
    sqlite3_bind_double(st, 5, l->idle_before_pct);
    sqlite3_bind_double(st, 6, l->load1_after);
    sqlite3_bind_double(st, 7, l->idle_pct);
    sqlite3_bind_double(st, 8, l->steal_pct);
    sqlite3_bind_int(st, 9, l->busy);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok;
}

bool jb_store_set_runner_liveness(jb_store *store, const jb_store_runner_liveness *l)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "INSERT OR REPLACE INTO runner_liveness VALUES(?,?,?,?,?,?,?)", -1, &st,
                           NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, l->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, l->platform, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, l->iteration);
    sqlite3_bind_text(st, 4, l->runner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, l->messages);
    sqlite3_bind_double(st, 6, l->max_gap_ms);
    sqlite3_bind_int(st, 7, l->max_gap_ms > JB_STORE_RUNNER_GAP_MS);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok;
}
