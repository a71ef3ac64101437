/* writers.c - one typed writer per table: callers fill a struct and never
 * write SQL (tests/layout/sql_owner.sh greps the tree for that).
 *
 * Every writer has the same body: a statement with numbered parameters and
 * an array of values, bound in order and stepped once (put_row). A value
 * carries its own NULL rule, so "not measured" is decided once per field
 * here, not by each caller: NAN reals, negative sizes and NULL or empty
 * texts are stored as NULL. */
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct value {
    enum { V_NULL, V_TEXT, V_INT, V_REAL } type;
    const char *text;
    long long i;
    double r;
} value;

static value text_v(const char *s)
{
    return (value){.type = s ? V_TEXT : V_NULL, .text = s};
}
static value text_or_null(const char *s) /* "" is stored as NULL */
{
    return text_v(s && s[0] ? s : NULL);
}
static value int_v(long long i)
{
    return (value){.type = V_INT, .i = i};
}
static value real_v(double r)
{
    return (value){.type = V_REAL, .r = r};
}
static value real_or_null(double r) /* NAN: not measured */
{
    return isnan(r) ? (value){.type = V_NULL} : real_v(r);
}
static value ms_or_null(double ms) /* negative: not measured */
{
    return ms < 0 ? (value){.type = V_NULL} : real_v(ms);
}
static value kb_or_null(long long kb) /* negative: not measured */
{
    return kb < 0 ? (value){.type = V_NULL} : int_v(kb);
}

/* Binds values[0..n) to parameters 1..n, a NULL value as SQL NULL. */
static void bind_values(sqlite3_stmt *st, const value *v, int n)
{
    for (int i = 0; i < n; i++) {
        switch (v[i].type) {
        case V_TEXT:
            sqlite3_bind_text(st, i + 1, v[i].text, -1, SQLITE_STATIC);
            break;
        case V_INT:
            sqlite3_bind_int64(st, i + 1, v[i].i);
            break;
        case V_REAL:
            sqlite3_bind_double(st, i + 1, v[i].r);
            break;
        case V_NULL:
            sqlite3_bind_null(st, i + 1);
            break;
        }
    }
}

static bool put_row(jb_store *store, const char *sql, const value *v, int n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    bind_values(st, v, n);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok;
}

#define PUT(store, sql, ...)                                                                       \
    put_row((store), (sql), (const value[]){__VA_ARGS__},                                          \
            (int)(sizeof((const value[]){__VA_ARGS__}) / sizeof(value)))

/* ---- runs, platforms, iterations: the controller's (and a standalone
 * load generator's) record of what ran ---------------------------------- */

bool jb_store_add_run(jb_store *store, const jb_store_run *r, bool *inserted)
{
    static const char insert[] = "INSERT INTO runs(run_id, name, config, environment, started_ms,"
                                 " status) VALUES(?1,?2,?3,?4,?5,'running')";
    static const char if_absent[] = "INSERT OR IGNORE INTO runs(run_id, name, config, environment,"
                                    " started_ms, status) VALUES(?1,?2,?3,?4,?5,'running')";
    bool ok = PUT(store, inserted ? if_absent : insert, text_v(r->run_id), text_v(r->name),
                  text_v(r->config), text_v(r->environment), real_v(r->started_ms));
    if (inserted)
        *inserted = ok && sqlite3_changes(store->db) == 1;
    return ok;
}

bool jb_store_set_run_status(jb_store *store, const char *run_id, const char *status,
                             double finished_ms)
{
    return PUT(store, "UPDATE runs SET status=?2, finished_ms=?3 WHERE run_id=?1", text_v(run_id),
               text_v(status), ms_or_null(finished_ms));
}

bool jb_store_put_platform(jb_store *store, const char *run_id, const char *platform,
                           const char *driver, const char *settings_json)
{
    return PUT(store,
               "INSERT OR REPLACE INTO platforms(run_id, platform, driver, settings)"
               " VALUES(?1,?2,?3,?4)",
               text_v(run_id), text_v(platform), text_v(driver), text_v(settings_json));
}

bool jb_store_put_iteration(jb_store *store, const jb_store_iteration *it)
{
    return PUT(store,
               "INSERT OR REPLACE INTO iterations(run_id, platform, iteration, started_ms,"
               " finished_ms, status, accel, error) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
               text_v(it->run_id), text_v(it->platform), int_v(it->iteration),
               real_v(it->started_ms), ms_or_null(it->finished_ms), text_v(it->status),
               text_or_null(it->accel), text_or_null(it->error));
}

/* The tables an iteration writes while it runs (not `iterations` itself). */
static const char *const iteration_tables[] = {
    "samples",          "load_summaries",  "metric_samples",
    "metric_summaries", "boot_times",      "stop_times",
    "iteration_load",   "runner_liveness", NULL};

bool jb_store_clear_iteration(jb_store *store, const char *run_id, const char *platform,
                              long iteration)
{
    bool ok = true;
    for (const char *const *t = iteration_tables; *t; t++) {
        char sql[160];
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE run_id=?1 AND platform=?2 AND iteration=?3",
                 *t);
        ok = PUT(store, sql, text_v(run_id), text_v(platform), int_v(iteration)) && ok;
    }
    return ok;
}

/* ---- what an iteration measured ------------------------------------------ */

bool jb_store_put_load_summary(jb_store *store, const jb_store_load_summary *s)
{
    return PUT(store,
               "INSERT OR REPLACE INTO load_summaries(run_id, platform, iteration, samples,"
               " errors, error_pct, throughput, received_kbs, sent_kbs, avg_ms, min_ms, max_ms,"
               " p50_ms, p90_ms, p95_ms, p99_ms, p999_ms, duration_ms)"
               " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)",
               text_v(s->run_id), text_v(s->platform), int_v(s->iteration), int_v(s->samples),
               int_v(s->errors), real_v(s->error_pct), real_v(s->throughput),
               real_v(s->received_kbs), real_v(s->sent_kbs), real_v(s->avg_ms), real_v(s->min_ms),
               real_v(s->max_ms), real_v(s->p50_ms), real_v(s->p90_ms), real_v(s->p95_ms),
               real_v(s->p99_ms), real_v(s->p999_ms), real_v(s->duration_ms));
}

bool jb_store_put_metric_summary(jb_store *store, const jb_store_metric_summary *m)
{
    return PUT(store,
               "INSERT OR REPLACE INTO metric_summaries(run_id, platform, iteration, grp, kind,"
               " cpu_mean, cpu_sd, rss_mean_kb, rss_peak_kb, pss_mean_kb, pss_peak_kb,"
               " cpu_seconds, samples, source, cgroup_mem_mean_kb, cgroup_mem_peak_kb,"
               " cgroup_cpu_mean)"
               " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)",
               text_v(m->run_id), text_v(m->platform), int_v(m->iteration), text_v(m->grp),
               text_v(m->kind), real_or_null(m->cpu_mean), real_or_null(m->cpu_sd),
               real_or_null(m->rss_mean_kb), kb_or_null(m->rss_peak_kb),
               real_or_null(m->pss_mean_kb), kb_or_null(m->pss_peak_kb),
               real_or_null(m->cpu_seconds), int_v(m->samples), text_v(m->source),
               real_or_null(m->cgroup_mem_mean_kb), kb_or_null(m->cgroup_mem_peak_kb),
               real_or_null(m->cgroup_cpu_mean));
}

bool jb_store_add_boot_time(jb_store *store, const jb_store_boot_time *t)
{
    return PUT(store,
               "INSERT INTO boot_times(run_id, platform, iteration, service, instance, boot_ms,"
               " ready_ms, accel, process_ready_ms, log_path)"
               " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
               text_v(t->run_id), text_v(t->platform), int_v(t->iteration), text_v(t->service),
               text_v(t->instance), real_v(t->boot_ms), real_v(t->ready_ms), text_v(t->accel),
               ms_or_null(t->process_ready_ms), text_or_null(t->log_path));
}

bool jb_store_add_stop_time(jb_store *store, const jb_store_stop_time *t)
{
    value code =
        t->exit_code == JB_STORE_EXIT_UNKNOWN ? (value){.type = V_NULL} : int_v(t->exit_code);
    return PUT(store,
               "INSERT INTO stop_times(run_id, platform, iteration, service, instance, stop_ms,"
               " killed, exit_code, exit) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
               text_v(t->run_id), text_v(t->platform), int_v(t->iteration), text_v(t->service),
               text_v(t->instance), ms_or_null(t->stop_ms), int_v(t->killed), code,
               text_v(t->exit));
}

bool jb_store_put_image_size(jb_store *store, const jb_store_image_size *s)
{
    return PUT(store,
               "INSERT OR REPLACE INTO image_sizes(run_id, platform, service, kind, bytes,"
               " shared_bytes) VALUES(?1,?2,?3,?4,?5,?6)",
               text_v(s->run_id), text_v(s->platform), text_v(s->service), text_v(s->kind),
               int_v((long long)s->bytes), int_v((long long)s->shared_bytes));
}

bool jb_store_put_provision_time(jb_store *store, const jb_store_provision_time *p)
{
    return PUT(store,
               "INSERT INTO provision_times(run_id, platform, instances, repeat, service,"
               " all_ready_ms, ready_median_ms, ready_max_ms, stop_ms, accel)"
               " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
               text_v(p->run_id), text_v(p->platform), int_v(p->instances), int_v(p->repeat),
               text_v(p->service), real_v(p->all_ready_ms), real_v(p->ready_median_ms),
               real_v(p->ready_max_ms), real_v(p->stop_ms), text_v(p->accel));
}

/* ---- the machine and the runner around an iteration ----------------------- */

bool jb_store_put_runner_host(jb_store *store, const char *run_id, const char *runner,
                              const char *hostname, const char *environment_json)
{
    return PUT(store,
               "INSERT OR REPLACE INTO runner_hosts(run_id, runner, hostname, environment)"
               " VALUES(?1,?2,?3,?4)",
               text_v(run_id), text_v(runner), text_v(hostname), text_v(environment_json));
}

bool jb_store_set_platform_build(jb_store *store, const char *run_id, const char *platform,
                                 const char *build)
{
    return PUT(store,
               "INSERT OR REPLACE INTO platform_builds(run_id, platform, build) VALUES(?1,?2,?3)",
               text_v(run_id), text_v(platform), text_v(build));
}

bool jb_store_set_iteration_load(jb_store *store, const jb_store_iteration_load *l)
{
    return PUT(store,
               "INSERT OR REPLACE INTO iteration_load(run_id, platform, iteration, load1_before,"
               " idle_before_pct, load1_after, idle_pct, steal_pct, busy)"
               " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
               text_v(l->run_id), text_v(l->platform), int_v(l->iteration), real_v(l->load1_before),
               real_v(l->idle_before_pct), real_v(l->load1_after), real_v(l->idle_pct),
               real_v(l->steal_pct), int_v(l->busy));
}

bool jb_store_set_runner_liveness(jb_store *store, const jb_store_runner_liveness *l)
{
    return PUT(store,
               "INSERT OR REPLACE INTO runner_liveness(run_id, platform, iteration, runner,"
               " messages, max_gap_ms, gap) VALUES(?1,?2,?3,?4,?5,?6,?7)",
               text_v(l->run_id), text_v(l->platform), int_v(l->iteration), text_v(l->runner),
               int_v(l->messages), real_v(l->max_gap_ms),
               int_v(l->max_gap_ms > JB_STORE_RUNNER_GAP_MS));
}
