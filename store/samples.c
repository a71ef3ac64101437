/* samples.c - the two tables written at thousands of rows a second:
 * `samples` (one row per HTTP request, from the load generator's writer
 * thread) and `metric_samples` (one row per sampled group and tick). Each
 * has a writer that prepares its insert once and binds the columns every
 * row shares (run, platform, iteration) once: sqlite3_reset keeps
 * bindings. The caller batches rows into transactions (jb_store_begin). */
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void bind_text(sqlite3_stmt *st, int col, const char *text)
{
    sqlite3_bind_text(st, col, text, -1, SQLITE_STATIC);
}

static bool prepare_shared(jb_store *store, const char *sql, sqlite3_stmt **st, const char *run_id,
                           const char *platform, long iteration)
{
    if (sqlite3_prepare_v2(store->db, sql, -1, st, NULL) != SQLITE_OK)
        return false;
    bind_text(*st, 1, run_id);
    bind_text(*st, 2, platform);
    sqlite3_bind_int64(*st, 3, iteration);
    return true;
}

/* ---- samples -------------------------------------------------------------- */

static const char samples_insert[] =
    "INSERT INTO samples(run_id, platform, iteration, phase, time_stamp, elapsed, latency,"
    " connect, idle_time, label, response_code, response_message, success, failure_message,"
    " bytes, sent_bytes, thread_name, grp_threads, all_threads, url, seq, intended_ms,"
    " elapsed_us) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

/* Maintaining samples_by_iteration costs about a third of the writer's
 * time per row. When the table starts empty (a standalone run, a run's
 * first iteration) the index is dropped for the load and rebuilt at the
 * end over this load's rows only, which is cheaper. On a table holding
 * earlier iterations the rebuild would sort all of them again and cost
 * more than it saves, so there the index is kept up as rows arrive. */
static bool defer_index(jb_store_samples *w)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(w->store->db, "SELECT EXISTS(SELECT 1 FROM samples)", -1, &st, NULL) !=
        SQLITE_OK)
        return false;
    bool empty = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
    sqlite3_finalize(st);
    if (!empty)
        return true;
    if (!jb_store_exec(w->store, "DROP INDEX IF EXISTS samples_by_iteration", NULL, 0))
        return false;
    w->index_deferred = true;
    return true;
}

bool jb_store_samples_open(jb_store_samples *w, jb_store *store, const char *run_id,
                           const char *platform, long iteration)
{
    memset(w, 0, sizeof *w);
    w->store = store;
    return prepare_shared(store, samples_insert, &w->insert, run_id, platform, iteration) &&
           defer_index(w);
}

bool jb_store_samples_put(jb_store_samples *w, const jb_store_sample *s)
{
    sqlite3_stmt *st = w->insert;
    sqlite3_reset(st);
    bind_text(st, 4, s->phase);
    sqlite3_bind_int64(st, 5, s->time_stamp_ms);
    sqlite3_bind_int64(st, 6, s->elapsed_ms);
    sqlite3_bind_int64(st, 7, s->latency_ms);
    sqlite3_bind_int64(st, 8, s->connect_ms);
    sqlite3_bind_int64(st, 9, s->idle_ms);
    bind_text(st, 10, s->label);
    bind_text(st, 11, s->response_code);
    bind_text(st, 12, s->response_message);
    sqlite3_bind_int(st, 13, s->success ? 1 : 0);
    bind_text(st, 14, s->failure_message);
    sqlite3_bind_int64(st, 15, s->bytes);
    sqlite3_bind_int64(st, 16, s->sent_bytes);
    bind_text(st, 17, s->thread_name);
    sqlite3_bind_int64(st, 18, s->grp_threads);
    sqlite3_bind_int64(st, 19, s->all_threads);
    bind_text(st, 20, s->url);
    sqlite3_bind_int64(st, 21, s->seq);
    sqlite3_bind_double(st, 22, s->intended_ms);
    sqlite3_bind_int64(st, 23, s->elapsed_us);
    return sqlite3_step(st) == SQLITE_DONE;
}

bool jb_store_samples_finish(jb_store_samples *w)
{
    if (!w->index_deferred)
        return true;
    w->index_deferred = false;
    return jb_store_exec(w->store, JB_STORE_SAMPLES_INDEX_SQL, NULL, 0);
}

void jb_store_samples_close(jb_store_samples *w)
{
    if (!w->store)
        return;                 /* never opened */
    jb_store_samples_finish(w); /* a failed load still leaves the schema whole */
    sqlite3_finalize(w->insert);
    memset(w, 0, sizeof *w);
}

/* ---- metric_samples --------------------------------------------------------- */

bool jb_store_metric_samples_open(jb_store_metric_samples *w, jb_store *store, const char *run_id,
                                  const char *platform, long iteration)
{
    memset(w, 0, sizeof *w);
    w->store = store;
    return prepare_shared(store,
                          "INSERT INTO metric_samples(run_id, platform, iteration, grp, kind,"
                          " t_ms, cpu_pct, rss_kb, pss_kb, cgroup_mem_kb, cgroup_cpu_pct, nprocs,"
                          " source) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          &w->insert, run_id, platform, iteration);
}

static void bind_real(sqlite3_stmt *st, int col, double v) /* NAN: not measured */
{
    if (isnan(v))
        sqlite3_bind_null(st, col);
    else
        sqlite3_bind_double(st, col, v);
}

static void bind_kb(sqlite3_stmt *st, int col, long long v) /* negative: not measured */
{
    if (v < 0)
        sqlite3_bind_null(st, col);
    else
        sqlite3_bind_int64(st, col, v);
}

bool jb_store_metric_samples_put(jb_store_metric_samples *w, const jb_store_metric_sample *m)
{
    sqlite3_stmt *st = w->insert;
    sqlite3_reset(st);
    bind_text(st, 4, m->grp);
    bind_text(st, 5, m->kind);
    sqlite3_bind_double(st, 6, m->t_ms);
    bind_real(st, 7, m->cpu_pct);
    bind_kb(st, 8, m->rss_kb);
    bind_kb(st, 9, m->pss_kb);
    bind_kb(st, 10, m->cgroup_mem_kb);
    bind_real(st, 11, m->cgroup_cpu_pct);
    sqlite3_bind_int(st, 12, m->nprocs);
    bind_text(st, 13, m->source);
    return sqlite3_step(st) == SQLITE_DONE;
}

void jb_store_metric_samples_close(jb_store_metric_samples *w)
{
    if (!w->store)
        return;
    sqlite3_finalize(w->insert);
    memset(w, 0, sizeof *w);
}
