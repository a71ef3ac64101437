/* schema.c - the results database's tables, each documented beside its
 * CREATE statement; docs/results-db.md is the column-by-column reference
 * with example queries. A column added after a table first shipped is also
 * added by store.c's migrations, so older databases open. */
#include "store/store.h"

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
