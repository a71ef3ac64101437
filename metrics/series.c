/* series.c - a group's samples: in memory, summarised, and written to the
 * results database (metric_samples, metric_summaries) in batches. */
#include "metrics/internal.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool series_append(group *g, const jb_metric_sample *sample)
{
    if (g->nsamples == g->cap_samples) {
        size_t cap = g->cap_samples ? g->cap_samples * 2 : 64;
        jb_metric_sample *p = realloc(g->samples, cap * sizeof *p);
        if (!p)
            return false; /* out of memory: this sample is lost, the series goes on */
        g->samples = p;
        g->cap_samples = cap;
    }
    g->samples[g->nsamples++] = *sample;
    return true;
}

/* Running mean and peak of an integer figure that may be absent (-1). */
typedef struct kb_stat {
    double sum;
    long n;
    int64_t peak;
} kb_stat;

static void kb_add(kb_stat *k, int64_t v)
{
    if (v < 0)
        return;
    k->sum += (double)v;
    k->n++;
    if (v > k->peak)
        k->peak = v;
}

static double kb_mean(const kb_stat *k)
{
    return k->n ? k->sum / (double)k->n : NAN;
}

static double sample_sd(const jb_metric_sample *s, size_t n, double mean)
{
    if (n < 2)
        return 0;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (s[i].cpu_pct - mean) * (s[i].cpu_pct - mean);
    return sqrt(ss / (double)(n - 1));
}

void series_summary(const group *g, jb_metric_summary *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->grp, sizeof out->grp, "%s", g->name);
    out->kind = g->kind;
    out->samples = (long)g->nsamples;
    kb_stat rss = {.peak = -1}, pss = {.peak = -1}, cgmem = {.peak = -1};
    double wall = 0, cg_sum = 0, cg_wall = 0;
    for (size_t i = 0; i < g->nsamples; i++) {
        const jb_metric_sample *s = &g->samples[i];
        out->cpu_seconds += s->cpu_s;
        wall += s->interval_s;
        kb_add(&rss, s->rss_kb);
        kb_add(&pss, s->pss_kb);
        kb_add(&cgmem, s->cgroup_mem_kb);
        if (!isnan(s->cgroup_cpu_pct)) {
            cg_sum += s->cgroup_cpu_pct * s->interval_s;
            cg_wall += s->interval_s;
        }
    }
    /* time-weighted: a short last interval weighs what it lasted */
    out->cpu_mean = wall > 0 ? out->cpu_seconds / wall * 100.0 : NAN;
    double plain_mean = 0;
    for (size_t i = 0; i < g->nsamples; i++)
        plain_mean += g->samples[i].cpu_pct / (double)g->nsamples;
    out->cpu_sd = sample_sd(g->samples, g->nsamples, plain_mean);
    out->rss_mean_kb = kb_mean(&rss);
    out->rss_peak_kb = rss.peak;
    out->pss_mean_kb = kb_mean(&pss);
    out->pss_peak_kb = pss.peak;
    out->cgroup_mem_mean_kb = kb_mean(&cgmem);
    out->cgroup_mem_peak_kb = cgmem.peak;
    out->cgroup_cpu_mean = cg_wall > 0 ? cg_sum / cg_wall : NAN;
    if (g->nsamples)
        snprintf(out->source, sizeof out->source, "%s", g->samples[g->nsamples - 1].source);
}

/* ---- database ---- */

static void bind_real(sqlite3_stmt *st, int col, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, col);
    else
        sqlite3_bind_double(st, col, v);
}

static void bind_kb(sqlite3_stmt *st, int col, int64_t v)
{
    if (v < 0)
        sqlite3_bind_null(st, col);
    else
        sqlite3_bind_int64(st, col, v);
}

static void set_err(jb_sampler *s, char *err, size_t errlen, const char *what)
{
    if (err)
        snprintf(err, errlen, "%s: %s: %s", s->db_path, what, sqlite3_errmsg(s->store.db));
}

bool series_open_store(jb_sampler *s, char *err, size_t errlen)
{
    if (!jb_store_open(&s->store, s->db_path, err, errlen))
        return false;
    static const char sql[] =
        "INSERT INTO metric_samples(run_id, platform, iteration, grp, kind, t_ms, cpu_pct,"
        " rss_kb, pss_kb, cgroup_mem_kb, cgroup_cpu_pct, nprocs, source)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)";
    if (sqlite3_prepare_v2(s->store.db, sql, -1, &s->insert_sample, NULL) != SQLITE_OK) {
        set_err(s, err, errlen, "cannot prepare the sample insert");
        jb_store_close(&s->store);
        return false;
    }
    s->store_open = true;
    return true;
}

void series_close_store(jb_sampler *s)
{
    if (!s->store_open)
        return;
    sqlite3_finalize(s->insert_sample);
    s->insert_sample = NULL;
    jb_store_close(&s->store);
    s->store_open = false;
}

static bool insert_sample(jb_sampler *s, const group *g, const jb_metric_sample *m)
{
    sqlite3_stmt *st = s->insert_sample;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, s->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->platform, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, s->cfg.iteration);
    sqlite3_bind_text(st, 4, g->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, jb_group_kind_name(g->kind), -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, m->t_ms);
    bind_real(st, 7, m->cpu_pct);
    bind_kb(st, 8, m->rss_kb);
    bind_kb(st, 9, m->pss_kb);
    bind_kb(st, 10, m->cgroup_mem_kb);
    bind_real(st, 11, m->cgroup_cpu_pct);
    sqlite3_bind_int(st, 12, m->nprocs);
    sqlite3_bind_text(st, 13, m->source, -1, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE;
}

bool series_flush(jb_sampler *s, bool final, char *err, size_t errlen)
{
    /* while sampling, do not stall readings behind another writer for long */
    sqlite3_busy_timeout(s->store.db, final ? 10000 : 250);
    if (!jb_store_begin(&s->store)) {
        set_err(s, err, errlen, "cannot begin a transaction");
        return false;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < s->ngroups; i++) {
        const group *g = s->groups[i];
        for (size_t k = g->flushed; ok && k < g->nsamples; k++)
            ok = insert_sample(s, g, &g->samples[k]);
    }
    if (ok && jb_store_commit(&s->store)) {
        for (size_t i = 0; i < s->ngroups; i++)
            s->groups[i]->flushed = s->groups[i]->nsamples;
        return true;
    }
    set_err(s, err, errlen, "cannot write metric samples");
    jb_store_exec(&s->store, "ROLLBACK", NULL, 0);
    return false;
}

static bool insert_summary(jb_sampler *s, sqlite3_stmt *st, const jb_metric_summary *m)
{
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, s->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->platform, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, s->cfg.iteration);
    sqlite3_bind_text(st, 4, m->grp, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, jb_group_kind_name(m->kind), -1, SQLITE_STATIC);
    bind_real(st, 6, m->cpu_mean);
    bind_real(st, 7, m->cpu_sd);
    bind_real(st, 8, m->rss_mean_kb);
    bind_kb(st, 9, m->rss_peak_kb);
    bind_real(st, 10, m->pss_mean_kb);
    bind_kb(st, 11, m->pss_peak_kb);
    sqlite3_bind_double(st, 12, m->cpu_seconds);
    sqlite3_bind_int64(st, 13, m->samples);
    sqlite3_bind_text(st, 14, m->source, -1, SQLITE_STATIC);
    bind_real(st, 15, m->cgroup_mem_mean_kb);
    bind_kb(st, 16, m->cgroup_mem_peak_kb);
    bind_real(st, 17, m->cgroup_cpu_mean);
    return sqlite3_step(st) == SQLITE_DONE;
}

bool series_write_summaries(jb_sampler *s, char *err, size_t errlen)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO metric_summaries(run_id, platform, iteration, grp, kind,"
        " cpu_mean, cpu_sd, rss_mean_kb, rss_peak_kb, pss_mean_kb, pss_peak_kb, cpu_seconds,"
        " samples, source, cgroup_mem_mean_kb, cgroup_mem_peak_kb, cgroup_cpu_mean)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *st = NULL;
    sqlite3_busy_timeout(s->store.db, 10000);
    if (sqlite3_prepare_v2(s->store.db, sql, -1, &st, NULL) != SQLITE_OK) {
        set_err(s, err, errlen, "cannot prepare the summary insert");
        return false;
    }
    bool ok = jb_store_begin(&s->store);
    for (size_t i = 0; ok && i < s->ngroups; i++) {
        if (s->groups[i]->nsamples == 0)
            continue;
        jb_metric_summary m;
        series_summary(s->groups[i], &m);
        ok = insert_summary(s, st, &m);
    }
    ok = ok && jb_store_commit(&s->store);
    if (!ok) {
        set_err(s, err, errlen, "cannot write metric summaries");
        jb_store_exec(&s->store, "ROLLBACK", NULL, 0);
    }
    sqlite3_finalize(st);
    return ok;
}
