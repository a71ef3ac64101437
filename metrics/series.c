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

static void set_err(jb_sampler *s, char *err, size_t errlen, const char *what)
{
    if (err)
        snprintf(err, errlen, "%s: %s: %s", s->db_path, what, jb_store_errmsg(&s->store));
}

bool series_open_store(jb_sampler *s, char *err, size_t errlen)
{
    if (!jb_store_open(&s->store, s->db_path, err, errlen))
        return false;
    if (!jb_store_metric_samples_open(&s->samples_writer, &s->store, s->run_id, s->platform,
                                      s->cfg.iteration)) {
        set_err(s, err, errlen, "cannot prepare the sample insert");
        jb_store_metric_samples_close(&s->samples_writer);
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
    jb_store_metric_samples_close(&s->samples_writer);
    jb_store_close(&s->store);
    s->store_open = false;
}

static bool insert_sample(jb_sampler *s, const group *g, const jb_metric_sample *m)
{
    const jb_store_metric_sample row = {.grp = g->name,
                                        .kind = jb_group_kind_name(g->kind),
                                        .source = m->source,
                                        .t_ms = m->t_ms,
                                        .cpu_pct = m->cpu_pct,
                                        .cgroup_cpu_pct = m->cgroup_cpu_pct,
                                        .rss_kb = m->rss_kb,
                                        .pss_kb = m->pss_kb,
                                        .cgroup_mem_kb = m->cgroup_mem_kb,
                                        .nprocs = m->nprocs};
    return jb_store_metric_samples_put(&s->samples_writer, &row);
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
    jb_store_rollback(&s->store);
    return false;
}

static bool insert_summary(jb_sampler *s, const jb_metric_summary *m)
{
    const jb_store_metric_summary row = {.run_id = s->run_id,
                                         .platform = s->platform,
                                         .iteration = s->cfg.iteration,
                                         .grp = m->grp,
                                         .kind = jb_group_kind_name(m->kind),
                                         .source = m->source,
                                         .samples = (long)m->samples,
                                         .cpu_mean = m->cpu_mean,
                                         .cpu_sd = m->cpu_sd,
                                         .cpu_seconds = m->cpu_seconds,
                                         .rss_mean_kb = m->rss_mean_kb,
                                         .pss_mean_kb = m->pss_mean_kb,
                                         .cgroup_mem_mean_kb = m->cgroup_mem_mean_kb,
                                         .cgroup_cpu_mean = m->cgroup_cpu_mean,
                                         .rss_peak_kb = m->rss_peak_kb,
                                         .pss_peak_kb = m->pss_peak_kb,
                                         .cgroup_mem_peak_kb = m->cgroup_mem_peak_kb};
    return jb_store_put_metric_summary(&s->store, &row);
}

bool series_write_summaries(jb_sampler *s, char *err, size_t errlen)
{
    sqlite3_busy_timeout(s->store.db, 10000);
    bool ok = jb_store_begin(&s->store);
    for (size_t i = 0; ok && i < s->ngroups; i++) {
        if (s->groups[i]->nsamples == 0)
            continue;
        jb_metric_summary m;
        series_summary(s->groups[i], &m);
        ok = insert_summary(s, &m);
    }
    ok = ok && jb_store_commit(&s->store);
    if (!ok) {
        set_err(s, err, errlen, "cannot write metric summaries");
        jb_store_rollback(&s->store);
    }
    return ok;
}
