/* recorder.c - every finished request becomes one `samples` row, written
 * by a writer thread in batched transactions, and its response time joins
 * the in-memory list the exact percentiles are computed from. */
#include "loadgen/recorder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The writer commits when this many rows wait, or after a second: a report
 * reading the database mid-run (or a crash) is at most a second behind. */
enum { BATCH_ROWS = 4096 };
static const time_t BATCH_WAIT_S = 1;

static bool store_error(jb_recorder *rec, const char *what)
{
    snprintf(rec->error, sizeof rec->error, "results database %.200s: %s: %.200s", rec->store->path,
             what, jb_store_errmsg(rec->store));
    return false;
}

void jb_tally_init(jb_tally *t)
{
    memset(t, 0, sizeof *t);
    t->first_ms = INFINITY;
    t->last_ms = -INFINITY;
}

void jb_tally_free(jb_tally *t)
{
    free(t->elapsed);
    t->elapsed = NULL;
    t->n = t->cap = 0;
}

static bool tally_reserve(jb_tally *t, size_t want)
{
    if (want <= t->cap)
        return true;
    size_t cap = t->cap ? t->cap : 16384;
    while (cap < want)
        cap *= 2;
    int64_t *grown = realloc(t->elapsed, cap * sizeof *grown);
    if (!grown) {
        snprintf(t->error, sizeof t->error, "out of memory keeping %zu samples", want);
        return false;
    }
    t->elapsed = grown;
    t->cap = cap;
    return true;
}

static bool keep_elapsed(jb_tally *t, int64_t elapsed_us)
{
    if (!tally_reserve(t, t->n + 1))
        return false;
    t->elapsed[t->n++] = elapsed_us;
    return true;
}

static void account(jb_tally *t, const jb_sample *s)
{
    if (s->setup) {
        t->setup_requests++;
        return;
    }
    if (!s->success)
        t->errors++;
    t->bytes += s->bytes;
    t->sent_bytes += s->sent_bytes;
    double begin = s->intended_wall_ms;
    double end = s->intended_wall_ms + (double)s->elapsed_us / 1000.0;
    if (begin < t->first_ms)
        t->first_ms = begin;
    if (end > t->last_ms)
        t->last_ms = end;
}

/* JTL's responseCode: the HTTP status, or JMeter's text for no status.
 * Three digits by hand: this runs once per row. */
static void format_code(const jb_sample *s, char *code, size_t size)
{
    long c = s->code;
    if (c >= 100 && c <= 999) {
        code[0] = (char)('0' + c / 100);
        code[1] = (char)('0' + c / 10 % 10);
        code[2] = (char)('0' + c % 10);
        code[3] = '\0';
    } else if (c > 0) {
        snprintf(code, size, "%ld", c);
    } else {
        snprintf(code, size, "Non HTTP response code: curl error %d", s->curl_code);
    }
}

static bool insert_row(jb_recorder *rec, const jb_sample *s, const char *url)
{
    char code[48];
    format_code(s, code, sizeof code);
    const jb_store_sample row = {.phase = s->setup ? "setup" : "measure",
                                 .time_stamp_ms = llround(s->wall_start_ms),
                                 .elapsed_ms = llround((double)s->elapsed_us / 1000.0),
                                 .latency_ms = llround((double)s->latency_us / 1000.0),
                                 .connect_ms = llround((double)s->connect_us / 1000.0),
                                 .idle_ms = llround(s->idle_ms),
                                 .label = jb_loadgen_label(s->kind),
                                 .response_code = code,
                                 .response_message = s->message,
                                 .success = s->success,
                                 .failure_message = s->failure,
                                 .bytes = s->bytes,
                                 .sent_bytes = s->sent_bytes,
                                 .thread_name = s->thread_name,
                                 .grp_threads = s->active,
                                 .all_threads = s->active,
                                 .url = url,
                                 .seq = s->seq,
                                 .intended_ms = s->intended_wall_ms,
                                 .elapsed_us = s->elapsed_us};
    if (!jb_store_samples_put(&rec->samples, &row))
        return store_error(rec, "cannot insert a sample");
    return true;
}

/* ---- the writer thread ----------------------------------------------------- */

static void free_rows(jb_sample_queue *q)
{
    q->n = 0;
    q->urls_len = 0;
}

static bool write_rows(jb_recorder *rec, const jb_sample_queue *q)
{
    if (!jb_store_begin(rec->store))
        return store_error(rec, "cannot begin a transaction");
    for (size_t i = 0; i < q->n; i++)
        if (!insert_row(rec, &q->rows[i], q->urls + q->rows[i].url_at)) {
            jb_store_rollback(rec->store);
            return false;
        }
    if (!jb_store_commit(rec->store))
        return store_error(rec, "cannot commit samples");
    return true;
}

/* Sleeps (lock held) until a batch is full, a second has passed, or the
 * run closes. */
static void wait_for_rows(jb_recorder *rec)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += BATCH_WAIT_S;
    while (!rec->closing && rec->queue.n < BATCH_ROWS)
        if (pthread_cond_timedwait(&rec->wake, &rec->lock, &until) != 0)
            break;
}

static void *writer_main(void *arg)
{
    jb_recorder *rec = arg;
    jb_sample_queue batch = {0};
    pthread_mutex_lock(&rec->lock);
    for (;;) {
        wait_for_rows(rec);
        jb_sample_queue taken = rec->queue; /* swap buffers: the loop keeps adding */
        rec->queue = batch;
        batch = taken;
        bool closing = rec->closing, failed = rec->failed;
        pthread_mutex_unlock(&rec->lock);
        /* After a failure rows are dropped: the run is ending with the error. */
        bool ok = failed || batch.n == 0 || write_rows(rec, &batch);
        free_rows(&batch);
        pthread_mutex_lock(&rec->lock);
        if (!ok)
            rec->failed = true;
        if (closing && rec->queue.n == 0)
            break;
    }
    pthread_mutex_unlock(&rec->lock);
    free(batch.rows);
    free(batch.urls);
    return NULL;
}

bool jb_recorder_open(jb_recorder *rec, const jb_loadgen_config *cfg)
{
    memset(rec, 0, sizeof *rec);
    rec->cfg = cfg;
    rec->store = cfg->store;
    pthread_mutex_init(&rec->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rec->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (!rec->store)
        return true;
    /* store/samples.c sets the samples index aside while it loads into an
     * empty table, and finish or close puts it back. */
    if (!jb_store_samples_open(&rec->samples, rec->store, cfg->run_id, cfg->platform,
                               cfg->iteration))
        return store_error(rec, "cannot prepare the samples insert");
    if (pthread_create(&rec->writer, NULL, writer_main, rec) != 0) {
        snprintf(rec->error, sizeof rec->error, "cannot start the database writer thread");
        return false;
    }
    rec->writer_running = true;
    return true;
}

/* Makes room for one more row and url_size bytes of URL (lock held). */
static bool reserve(jb_sample_queue *q, size_t url_size)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 1024;
        jb_sample *grown = realloc(q->rows, cap * sizeof *grown);
        if (!grown)
            return false;
        q->rows = grown;
        q->cap = cap;
    }
    if (q->urls_len + url_size > q->urls_cap) {
        size_t cap = q->urls_cap ? q->urls_cap : 64 * 1024;
        while (cap < q->urls_len + url_size)
            cap *= 2;
        char *grown = realloc(q->urls, cap);
        if (!grown)
            return false;
        q->urls = grown;
        q->urls_cap = cap;
    }
    return true;
}

static bool enqueue(jb_recorder *rec, const jb_sample *s)
{
    const char *url = s->url ? s->url : "";
    size_t url_size = strlen(url) + 1;
    pthread_mutex_lock(&rec->lock);
    jb_sample_queue *q = &rec->queue;
    bool ok = reserve(q, url_size);
    if (ok) {
        jb_sample *row = &q->rows[q->n++];
        *row = *s;
        row->url = NULL; /* the writer reads the copy at url_at */
        row->url_at = q->urls_len;
        memcpy(q->urls + q->urls_len, url, url_size);
        q->urls_len += url_size;
        if (q->n >= BATCH_ROWS)
            pthread_cond_signal(&rec->wake);
    }
    pthread_mutex_unlock(&rec->lock);
    return ok;
}

bool jb_recorder_add(jb_recorder *rec, jb_tally *t, const jb_sample *s)
{
    account(t, s);
    if (!s->setup && !keep_elapsed(t, s->elapsed_us))
        return false;
    if (rec->store && !enqueue(rec, s)) {
        snprintf(t->error, sizeof t->error, "out of memory queueing samples");
        return false;
    }
    return true;
}

bool jb_recorder_ok(jb_recorder *rec)
{
    pthread_mutex_lock(&rec->lock);
    bool failed = rec->failed;
    pthread_mutex_unlock(&rec->lock);
    return !failed;
}

/* Lets the writer store what is queued, then ends it. */
static bool stop_writer(jb_recorder *rec)
{
    if (rec->writer_running) {
        pthread_mutex_lock(&rec->lock);
        rec->closing = true;
        pthread_cond_signal(&rec->wake);
        pthread_mutex_unlock(&rec->lock);
        pthread_join(rec->writer, NULL);
        rec->writer_running = false;
    }
    return !rec->failed;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Adds every other tally into the first; false when out of memory (the
 * first then holds what fitted: counts stay right, percentiles cover less). */
static bool merge_tallies(jb_tally *const *tallies, size_t n)
{
    jb_tally *all = tallies[0];
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += tallies[i]->n;
    bool room = tally_reserve(all, total);
    for (size_t i = 1; i < n; i++) {
        const jb_tally *t = tallies[i];
        if (room) {
            memcpy(all->elapsed + all->n, t->elapsed, t->n * sizeof *t->elapsed);
            all->n += t->n;
        }
        all->errors += t->errors;
        all->setup_requests += t->setup_requests;
        all->bytes += t->bytes;
        all->sent_bytes += t->sent_bytes;
        all->first_ms = fmin(all->first_ms, t->first_ms);
        all->last_ms = fmax(all->last_ms, t->last_ms);
    }
    return room;
}

void jb_recorder_summary(jb_tally *const *tallies, size_t n_tallies, jb_load_summary *out)
{
    memset(out, 0, sizeof *out);
    if (n_tallies == 0)
        return;
    merge_tallies(tallies, n_tallies);
    jb_tally *rec = tallies[0];
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
    if (!stop_writer(rec))
        return false;
    if (!jb_store_samples_finish(&rec->samples))
        return store_error(rec, "cannot rebuild the samples index");
    const jb_store_load_summary row = {.run_id = rec->cfg->run_id,
                                       .platform = rec->cfg->platform,
                                       .iteration = rec->cfg->iteration,
                                       .samples = sum->samples,
                                       .errors = sum->errors,
                                       .error_pct = sum->error_pct,
                                       .throughput = sum->throughput,
                                       .received_kbs = sum->received_kbs,
                                       .sent_kbs = sum->sent_kbs,
                                       .avg_ms = sum->avg_ms,
                                       .min_ms = sum->min_ms,
                                       .max_ms = sum->max_ms,
                                       .p50_ms = sum->p50_ms,
                                       .p90_ms = sum->p90_ms,
                                       .p95_ms = sum->p95_ms,
                                       .p99_ms = sum->p99_ms,
                                       .p999_ms = sum->p999_ms,
                                       .duration_ms = sum->duration_ms};
    return jb_store_put_load_summary(rec->store, &row)
               ? true
               : store_error(rec, "cannot write the load summary");
}

void jb_recorder_close(jb_recorder *rec)
{
    if (!rec->cfg)
        return; /* never opened */
    stop_writer(rec);
    jb_store_samples_close(&rec->samples); /* a failed run still leaves the schema whole */
    free_rows(&rec->queue);
    free(rec->queue.rows);
    free(rec->queue.urls);
    pthread_cond_destroy(&rec->wake);
    pthread_mutex_destroy(&rec->lock);
    memset(rec, 0, sizeof *rec);
}
