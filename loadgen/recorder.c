/* recorder.c - every finished request becomes one `samples` row (batched
 * transactions), and its response time joins the in-memory list the exact
 * percentiles are computed from. */
#include "loadgen/recorder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"

/* A commit per batch keeps inserts cheap; the time bound keeps a report
 * reading the database mid-run (and a crash) at most a second behind. */
enum { BATCH_ROWS = 4096 };
static const double BATCH_MS = 1000;

static const char insert_sql[] =
    "INSERT INTO samples(run_id, platform, iteration, phase, time_stamp, elapsed, latency,"
    " connect, idle_time, label, response_code, response_message, success, failure_message,"
    " bytes, sent_bytes, thread_name, grp_threads, all_threads, url, seq, intended_ms,"
    " elapsed_us) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

static bool store_error(jb_recorder *rec, const char *what)
{
    snprintf(rec->error, sizeof rec->error, "results database %.200s: %s: %.200s", rec->store->path,
             what, sqlite3_errmsg(rec->store->db));
    return false;
}

bool jb_recorder_open(jb_recorder *rec, const jb_loadgen_config *cfg)
{
    memset(rec, 0, sizeof *rec);
    rec->cfg = cfg;
    rec->store = cfg->store;
    rec->first_ms = INFINITY;
    rec->last_ms = -INFINITY;
    if (!rec->store)
        return true;
    if (sqlite3_prepare_v2(rec->store->db, insert_sql, -1, &rec->insert, NULL) != SQLITE_OK)
        return store_error(rec, "cannot prepare the samples insert");
    return true;
}

static bool flush(jb_recorder *rec)
{
    if (!rec->in_tx)
        return true;
    rec->in_tx = false;
    rec->pending = 0;
    rec->last_commit_ms = jb_now_ms();
    if (!jb_store_commit(rec->store))
        return store_error(rec, "cannot commit samples");
    return true;
}

static bool keep_elapsed(jb_recorder *rec, int64_t elapsed_us)
{
    if (rec->n == rec->cap) {
        size_t cap = rec->cap ? rec->cap * 2 : 16384;
        int64_t *grown = realloc(rec->elapsed, cap * sizeof *grown);
        if (!grown) {
            snprintf(rec->error, sizeof rec->error, "out of memory keeping %zu samples", rec->n);
            return false;
        }
        rec->elapsed = grown;
        rec->cap = cap;
    }
    rec->elapsed[rec->n++] = elapsed_us;
    return true;
}

static void account(jb_recorder *rec, const jb_sample *s)
{
    if (s->setup) {
        rec->setup_requests++;
        return;
    }
    if (!s->success)
        rec->errors++;
    rec->bytes += s->bytes;
    rec->sent_bytes += s->sent_bytes;
    double begin = s->intended_wall_ms;
    double end = s->intended_wall_ms + (double)s->elapsed_us / 1000.0;
    if (begin < rec->first_ms)
        rec->first_ms = begin;
    if (end > rec->last_ms)
        rec->last_ms = end;
}

static void bind_text(sqlite3_stmt *st, int col, const char *text)
{
    sqlite3_bind_text(st, col, text, -1, SQLITE_STATIC);
}

static bool insert_row(jb_recorder *rec, const jb_sample *s)
{
    const jb_loadgen_config *cfg = rec->cfg;
    sqlite3_stmt *st = rec->insert;
    char code[48];
    if (s->code > 0)
        snprintf(code, sizeof code, "%ld", s->code);
    else
        snprintf(code, sizeof code, "Non HTTP response code: curl error %d", s->curl_code);
    sqlite3_reset(st);
    bind_text(st, 1, cfg->run_id);
    bind_text(st, 2, cfg->platform);
    sqlite3_bind_int64(st, 3, cfg->iteration);
    bind_text(st, 4, s->setup ? "setup" : "measure");
    sqlite3_bind_int64(st, 5, llround(s->wall_start_ms));
    sqlite3_bind_int64(st, 6, llround((double)s->elapsed_us / 1000.0));
    sqlite3_bind_int64(st, 7, llround((double)s->latency_us / 1000.0));
    sqlite3_bind_int64(st, 8, llround((double)s->connect_us / 1000.0));
    sqlite3_bind_int64(st, 9, llround(s->idle_ms));
    bind_text(st, 10, jb_loadgen_label(s->kind));
    bind_text(st, 11, code);
    bind_text(st, 12, s->message);
    sqlite3_bind_int(st, 13, s->success ? 1 : 0);
    bind_text(st, 14, s->failure);
    sqlite3_bind_int64(st, 15, s->bytes);
    sqlite3_bind_int64(st, 16, s->sent_bytes);
    bind_text(st, 17, s->thread_name);
    sqlite3_bind_int64(st, 18, s->active);
    sqlite3_bind_int64(st, 19, s->active);
    bind_text(st, 20, s->url);
    sqlite3_bind_int64(st, 21, s->seq);
    sqlite3_bind_double(st, 22, s->intended_wall_ms);
    sqlite3_bind_int64(st, 23, s->elapsed_us);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_error(rec, "cannot insert a sample");
    return true;
}

bool jb_recorder_add(jb_recorder *rec, const jb_sample *s)
{
    account(rec, s);
    if (!s->setup && !keep_elapsed(rec, s->elapsed_us))
        return false;
    if (!rec->store)
        return true;
    if (!rec->in_tx) {
        if (!jb_store_begin(rec->store))
            return store_error(rec, "cannot begin a transaction");
        rec->in_tx = true;
        if (rec->last_commit_ms == 0)
            rec->last_commit_ms = jb_now_ms();
    }
    if (!insert_row(rec, s))
        return false;
    if (++rec->pending >= BATCH_ROWS)
        return flush(rec);
    return true;
}

bool jb_recorder_tick(jb_recorder *rec, double now_ms)
{
    if (rec->in_tx && now_ms - rec->last_commit_ms >= BATCH_MS)
        return flush(rec);
    return true;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void jb_recorder_summary(jb_recorder *rec, jb_load_summary *out)
{
    memset(out, 0, sizeof *out);
    out->setup_requests = rec->setup_requests;
    out->samples = (long)rec->n;
    out->errors = rec->errors;
    if (rec->n == 0)
        return;
    qsort(rec->elapsed, rec->n, sizeof *rec->elapsed, compare_i64);
    double sum = 0;
    for (size_t i = 0; i < rec->n; i++)
        sum += (double)rec->elapsed[i];
    double duration_ms = rec->last_ms - rec->first_ms;
    double seconds = duration_ms > 0 ? duration_ms / 1000.0 : 1e-3;
    out->duration_ms = duration_ms;
    out->error_pct = 100.0 * (double)rec->errors / (double)rec->n;
    out->throughput = (double)rec->n / seconds;
    out->received_kbs = (double)rec->bytes / 1024.0 / seconds;
    out->sent_kbs = (double)rec->sent_bytes / 1024.0 / seconds;
    out->avg_ms = sum / (double)rec->n / 1000.0;
    out->min_ms = (double)rec->elapsed[0] / 1000.0;
    out->max_ms = (double)rec->elapsed[rec->n - 1] / 1000.0;
    out->p50_ms = jb_loadgen_percentile(rec->elapsed, rec->n, 50) / 1000.0;
    out->p90_ms = jb_loadgen_percentile(rec->elapsed, rec->n, 90) / 1000.0;
    out->p95_ms = jb_loadgen_percentile(rec->elapsed, rec->n, 95) / 1000.0;
    out->p99_ms = jb_loadgen_percentile(rec->elapsed, rec->n, 99) / 1000.0;
    out->p999_ms = jb_loadgen_percentile(rec->elapsed, rec->n, 99.9) / 1000.0;
}

bool jb_recorder_finish(jb_recorder *rec, const jb_load_summary *sum)
{
    if (!rec->store)
        return true;
    if (!flush(rec))
        return false;
    static const char sql[] =
        "INSERT OR REPLACE INTO load_summaries(run_id, platform, iteration, samples, errors,"
        " error_pct, throughput, received_kbs, sent_kbs, avg_ms, min_ms, max_ms, p50_ms,"
        " p90_ms, p95_ms, p99_ms, p999_ms, duration_ms)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(rec->store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_error(rec, "cannot prepare the summary insert");
    const double values[] = {sum->error_pct,  sum->throughput, sum->received_kbs, sum->sent_kbs,
                             sum->avg_ms,     sum->min_ms,     sum->max_ms,       sum->p50_ms,
                             sum->p90_ms,     sum->p95_ms,     sum->p99_ms,       sum->p999_ms,
                             sum->duration_ms};
    bind_text(st, 1, rec->cfg->run_id);
    bind_text(st, 2, rec->cfg->platform);
    sqlite3_bind_int64(st, 3, rec->cfg->iteration);
    sqlite3_bind_int64(st, 4, sum->samples);
    sqlite3_bind_int64(st, 5, sum->errors);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        sqlite3_bind_double(st, 6 + (int)i, values[i]);
    bool ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok ? true : store_error(rec, "cannot write the load summary");
}

void jb_recorder_close(jb_recorder *rec)
{
    if (rec->store && rec->in_tx)
        flush(rec);
    if (rec->insert)
        sqlite3_finalize(rec->insert);
    free(rec->elapsed);
    rec->insert = NULL;
    rec->elapsed = NULL;
}
