/* data.c - loading one run from the results database into memory. */
#include "report/internal.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Iterations that failed, were interrupted or still run are left out of
 * every statistic: their numbers cover only part of the workload. */
static const char iter_ok_sql[] =
    "NOT EXISTS (SELECT 1 FROM iterations i WHERE i.run_id=x.run_id AND i.platform=x.platform"
    " AND i.iteration=x.iteration AND i.status IN ('failed','running','interrupted'))";

const char *rp_iter_ok_sql(void)
{
    return iter_ok_sql;
}

void rp_db_path(const char *arg, char *out, size_t outlen)
{
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(out, outlen, "%s/results.db", arg);
    else
        snprintf(out, outlen, "%s", arg);
}

static void warn(rp_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(rp_run *r, const char *fmt, ...)
{
    size_t used = strlen(r->warnings);
    if (used + 2 >= sizeof r->warnings)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warnings + used, sizeof r->warnings - used, fmt, ap);
    va_end(ap);
    used = strlen(r->warnings);
    if (used + 1 < sizeof r->warnings)
        strcat(r->warnings, "\n");
}

static sqlite3_stmt *prepare(rp_run *r, const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->store.db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot read the results: %s", r->store.path,
                 sqlite3_errmsg(r->store.db));
        return NULL;
    }
    sqlite3_bind_text(st, 1, r->run_id, -1, SQLITE_TRANSIENT);
    return st;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : "";
}

static double col_num(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int platform_index(rp_run *r, const char *name, bool add)
{
    for (int i = 0; i < r->nplat; i++)
        if (strcmp(r->plat[i].name, name) == 0)
            return i;
    if (!add || r->nplat == RP_MAX_PLATFORMS || !name[0])
        return -1;
    snprintf(r->plat[r->nplat].name, RP_NAME, "%s", name);
    return r->nplat++;
}

/* Jung's services in the dissertation's table order; others follow in the
 * order they appear. */
static const char *const known_services[] = {
    "user_registry",  "auth_manager",     "rule_engine", "device_registry",
    "device_monitor", "device_commander", "api_gateway", "device_gateway"};

static int service_rank(const char *s)
{
    for (size_t i = 0; i < sizeof known_services / sizeof *known_services; i++)
        if (strcmp(known_services[i], s) == 0)
            return (int)i;
    return 100;
}

static void add_service(rp_run *r, const char *s)
{
    for (int i = 0; i < r->nsvc; i++)
        if (strcmp(r->svc[i], s) == 0)
            return;
    if (r->nsvc == RP_MAX_SERVICES)
        return;
    int at = r->nsvc;
    while (at > 0 && service_rank(r->svc[at - 1]) > service_rank(s)) {
        memcpy(r->svc[at], r->svc[at - 1], RP_NAME);
        at--;
    }
    snprintf(r->svc[at], RP_NAME, "%s", s);
    r->nsvc++;
}

/* "user_registry-2" -> "user_registry": replicas add up to one service. */
static void strip_replica(const char *grp, char *out)
{
    snprintf(out, RP_NAME, "%s", grp);
    char *dash = strrchr(out, '-');
    if (!dash || !dash[1])
        return;
    for (const char *p = dash + 1; *p; p++)
        if (!isdigit((unsigned char)*p))
            return;
    *dash = '\0';
}

/* A database holding several runs: say which one the report is about. */
static void warn_other_runs(rp_run *r)
{
    sqlite3_stmt *st = NULL;
    int runs = 0;
    if (sqlite3_prepare_v2(r->store.db, "SELECT count(*) FROM runs", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        runs = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (runs > 1)
        warn(r,
             "the database holds %d runs; this report is about the latest, %s (pick another "
             "with --run ID)",
             runs, r->run_id);
}

static bool pick_run(rp_run *r, const char *run_id, char *err, size_t errlen)
{
    const char *sql =
        run_id ? "SELECT run_id, name, status, started_ms, finished_ms, config, environment"
                 " FROM runs WHERE run_id=?1"
               : "SELECT run_id, name, status, started_ms, finished_ms, config, environment"
                 " FROM runs ORDER BY started_ms DESC, rowid DESC LIMIT 1";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->store.db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot read runs: %s", r->store.path,
                 sqlite3_errmsg(r->store.db));
        return false;
    }
    if (run_id)
        sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(r->run_id, sizeof r->run_id, "%s", col_text(st, 0));
        snprintf(r->name, sizeof r->name, "%s", col_text(st, 1));
        snprintf(r->status, sizeof r->status, "%s", col_text(st, 2));
        r->started_ms = col_num(st, 3);
        r->finished_ms = col_num(st, 4);
        if (sqlite3_column_type(st, 5) == SQLITE_TEXT)
            r->config = strdup(col_text(st, 5));
        if (sqlite3_column_type(st, 6) == SQLITE_TEXT)
            r->environment = strdup(col_text(st, 6));
    }
    sqlite3_finalize(st);
    if (found && !run_id)
        warn_other_runs(r);
    if (found)
        return true;
    /* No runs row (the controller writes it first, but a load generator
     * run on its own may not): fall back to the samples' run id. */
    sqlite3_prepare_v2(r->store.db,
                       "SELECT run_id FROM samples WHERE ?1 IS NULL OR run_id=?1 LIMIT 1", -1, &st,
                       NULL);
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
    found = st && sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(r->run_id, sizeof r->run_id, "%s", col_text(st, 0));
        snprintf(r->status, sizeof r->status, "unknown");
        r->started_ms = r->finished_ms = NAN;
        warn(r, "run %s has no row in table runs: its status is unknown", r->run_id);
    }
    sqlite3_finalize(st);
    if (!found) {
        if (run_id)
            snprintf(err, errlen, "%s: no run '%s' in this database", r->store.path, run_id);
        else
            snprintf(err, errlen,
                     "%s: the database holds no run yet (tables runs and samples are empty)",
                     r->store.path);
    }
    return found;
}

/* Which build each platform ran: what the runner recorded, else what the
 * config said (older databases have neither: "" is shown as unknown). */
static void load_builds(rp_run *r)
{
    static const char *const sql[] = {
        "SELECT platform, build FROM platform_builds WHERE run_id=?1",
        "SELECT platform, json_extract(settings, '$.build') FROM platforms WHERE run_id=?1"};
    for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(r->store.db, sql[i], -1, &st, NULL) != SQLITE_OK) {
            sqlite3_finalize(st);
            continue; /* a database from before the table */
        }
        sqlite3_bind_text(st, 1, r->run_id, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            int p = platform_index(r, col_text(st, 0), false);
            if (p >= 0 && !r->plat[p].build[0])
                snprintf(r->plat[p].build, sizeof r->plat[p].build, "%s", col_text(st, 1));
        }
        sqlite3_finalize(st);
    }
    const char *first = NULL;
    for (int p = 0; p < r->nplat; p++) {
        const char *b = r->plat[p].build;
        if (!b[0])
            continue;
        if (first && strcmp(first, b) != 0) {
            warn(r, "the platforms ran different builds of Jung (static and dynamic executables): "
                    "memory and image sizes compare linking, not platforms; set the same "
                    "'build' on every platform");
            return;
        }
        first = b;
    }
}

/* Iterations run on a busy machine (iteration_load, the runner's noise
 * guard): their figures carry other work's noise. */
static void flag_busy_iterations(rp_run *r)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->store.db,
                           "SELECT group_concat(platform || ' #' || iteration, ', '), count(*),"
                           " min(idle_before_pct), max(steal_pct) FROM iteration_load"
                           " WHERE run_id=?1 AND busy",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return; /* a database from before the table */
    }
    sqlite3_bind_text(st, 1, r->run_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) > 0) {
        r->nbusy = sqlite3_column_int(st, 1);
        snprintf(r->busy, sizeof r->busy, "%s", col_text(st, 0));
        warn(r,
             "%d iteration(s) started on a busy machine (free CPU before the start down to "
             "%.0f %%, CPU steal up to %.1f %%): %s; their figures carry other work's noise "
             "(table iteration_load)",
             sqlite3_column_int(st, 1), sqlite3_column_double(st, 2), sqlite3_column_double(st, 3),
             col_text(st, 0));
    }
    sqlite3_finalize(st);
}

/* Iterations whose runner went silent for a while (runner_liveness): a
 * partition or a stalled host, during which the load met a platform the
 * runner could not watch, and the controller could not tell. */
static void flag_runner_gaps(rp_run *r)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->store.db,
                           "SELECT group_concat(platform || ' #' || iteration || ' (' ||"
                           " runner || ', ' || CAST(round(max_gap_ms / 1000.0, 1) AS TEXT) ||"
                           " ' s)', ', '), count(*) FROM runner_liveness WHERE run_id=?1 AND gap",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return; /* a database from before the table */
    }
    sqlite3_bind_text(st, 1, r->run_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) > 0)
        warn(r,
             "%d iteration(s) lost contact with their runner for over %.0f s: %s; the runner "
             "could not watch the platform meanwhile (a partition, a stalled or dead runner), "
             "so treat their figures with care (table runner_liveness)",
             sqlite3_column_int(st, 1), JB_STORE_RUNNER_GAP_MS / 1000, col_text(st, 0));
    sqlite3_finalize(st);
}

/* A finished iteration in which more than this share of the measured
 * requests failed: the platform answered, but not the same load as its
 * peers, so its latency and resource figures do not compare (a partition,
 * a dying service, a gateway turning clients away). */
#define ITERATION_ERROR_FLAG_PCT 1.0

static void flag_error_iterations(rp_run *r)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->store.db,
                           "SELECT group_concat(platform || ' #' || iteration || ' (' ||"
                           " CAST(round(pct, 1) AS TEXT) || ' %)', ', '), count(*) FROM"
                           " (SELECT s.platform, s.iteration, 100.0 * sum(s.success = 0) /"
                           " count(*) pct FROM samples s JOIN iterations i USING (run_id,"
                           " platform, iteration) WHERE s.run_id=?1 AND s.phase='measure' AND"
                           " i.status='done' GROUP BY s.platform, s.iteration) WHERE pct > ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_bind_text(st, 1, r->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, ITERATION_ERROR_FLAG_PCT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) > 0)
        warn(r,
             "%d finished iteration(s) had over %.0f %% failed requests: %s; the platform did not "
             "serve the load its peers served, so their figures do not compare (table "
             "samples)",
             sqlite3_column_int(st, 1), ITERATION_ERROR_FLAG_PCT, col_text(st, 0));
    sqlite3_finalize(st);
}

static bool load_platforms(rp_run *r, char *err, size_t errlen)
{
    sqlite3_stmt *st =
        prepare(r,
                "SELECT platform, count(*), sum(status IN ('failed','running','interrupted')),"
                " max(accel='emulated'), max(accel) FROM iterations WHERE run_id=?1"
                " GROUP BY platform ORDER BY min(rowid)",
                err, errlen);
    if (!st)
        return false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int p = platform_index(r, col_text(st, 0), true);
        if (p < 0)
            continue;
        r->plat[p].iters_total = sqlite3_column_int(st, 1);
        r->plat[p].iters_bad = sqlite3_column_int(st, 2);
        snprintf(r->plat[p].accel, sizeof r->plat[p].accel, "%s",
                 sqlite3_column_int(st, 3) ? "emulated" : col_text(st, 4));
    }
    sqlite3_finalize(st);
    static const char *const others[] = {
        "SELECT DISTINCT platform FROM load_summaries WHERE run_id=?1",
        "SELECT DISTINCT platform FROM samples WHERE run_id=?1",
        "SELECT DISTINCT platform FROM metric_summaries WHERE run_id=?1",
        "SELECT DISTINCT platform FROM metric_samples WHERE run_id=?1",
        "SELECT DISTINCT platform FROM boot_times WHERE run_id=?1",
        "SELECT DISTINCT platform FROM image_sizes WHERE run_id=?1"};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        if (!(st = prepare(r, others[i], err, errlen)))
            return false;
        while (sqlite3_step(st) == SQLITE_ROW)
            platform_index(r, col_text(st, 0), true);
        sqlite3_finalize(st);
    }
    load_builds(r);
    flag_busy_iterations(r);
    flag_runner_gaps(r);
    flag_error_iterations(r);
    for (int p = 0; p < r->nplat; p++)
        if (r->plat[p].iters_bad)
            warn(r,
                 "platform %s: %d of %d iterations did not finish (failed, interrupted or "
                 "still running) and are left out of every figure",
                 r->plat[p].name, r->plat[p].iters_bad, r->plat[p].iters_total);
    return true;
}

static bool grow(void **arr, int n, int *cap, size_t size)
{
    if (n < *cap)
        return true;
    int ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, size * (size_t)ncap);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static bool load_metrics_from(rp_run *r, const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *st = prepare(r, sql, err, errlen);
    if (!st)
        return false;
    int cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int p = platform_index(r, col_text(st, 0), false);
        if (p < 0 || !grow((void **)&r->m, r->nm, &cap, sizeof *r->m))
            continue;
        rp_mrow *m = &r->m[r->nm++];
        m->plat = p;
        m->iter = sqlite3_column_int64(st, 1);
        m->runtime = strcmp(col_text(st, 3), "runtime") == 0;
        if (m->runtime)
            snprintf(m->service, RP_NAME, "%s", col_text(st, 2));
        else
            strip_replica(col_text(st, 2), m->service);
        m->cpu = col_num(st, 4);
        m->rss_mb = col_num(st, 5) / 1024.0;
        /* Runtime daemons share most of their pages (eight containerd-shims:
         * ~100 MiB of RSS, ~29 MiB of PSS): their memory is PSS where it
         * was measured, so shared pages count once in figure 24. */
        double pss_kb = col_num(st, 6);
        if (m->runtime && pss_kb > 0)
            m->rss_mb = pss_kb / 1024.0;
        if (!m->runtime)
            add_service(r, m->service);
    }
    sqlite3_finalize(st);
    return true;
}

static bool load_metrics(rp_run *r, char *err, size_t errlen)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT platform, iteration, grp, kind, cpu_mean, rss_mean_kb, pss_mean_kb"
             " FROM metric_summaries x"
             " WHERE run_id=?1 AND %s ORDER BY rowid",
             iter_ok_sql);
    if (!load_metrics_from(r, sql, err, errlen))
        return false;
    if (r->nm > 0)
        return true;
    /* No summaries (metrics stopped before summarising): average the raw
     * samples instead, which is what a summary holds. */
    snprintf(
        sql, sizeof sql,
        "SELECT platform, iteration, grp, kind, avg(cpu_pct), avg(rss_kb) FROM metric_samples x"
        " WHERE run_id=?1 AND %s GROUP BY platform, iteration, grp, kind ORDER BY min(rowid)",
        iter_ok_sql);
    if (!load_metrics_from(r, sql, err, errlen))
        return false;
    if (r->nm > 0)
        warn(r, "no metric_summaries rows: CPU and memory are averaged from metric_samples");
    return true;
}

/* A database written before boot_times had process_ready_ms (the report
 * opens it read-only, so it is not upgraded): read NULLs instead. */
static bool has_process_ready(rp_run *r)
{
    sqlite3_stmt *st = NULL;
    bool has = false;
    if (sqlite3_prepare_v2(r->store.db,
                           "SELECT count(*) FROM pragma_table_info('boot_times')"
                           " WHERE name='process_ready_ms'",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        has = sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    return has;
}

static bool load_boot_and_images(rp_run *r, char *err, size_t errlen)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT platform, iteration, service, boot_ms, ready_ms, accel, %s"
             " FROM boot_times x WHERE run_id=?1 AND %s ORDER BY rowid",
             has_process_ready(r) ? "process_ready_ms" : "NULL", iter_ok_sql);
    sqlite3_stmt *st = prepare(r, sql, err, errlen);
    if (!st)
        return false;
    int cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int p = platform_index(r, col_text(st, 0), false);
        if (p < 0 || !grow((void **)&r->b, r->nb, &cap, sizeof *r->b))
            continue;
        rp_brow *b = &r->b[r->nb++];
        *b = (rp_brow){.plat = p,
                       .iter = sqlite3_column_int64(st, 1),
                       .boot_ms = col_num(st, 3),
                       .ready_ms = col_num(st, 4),
                       .process_ready_ms = col_num(st, 6)};
        strip_replica(col_text(st, 2), b->service);
        if (strcmp(col_text(st, 5), "emulated") == 0)
            snprintf(r->plat[p].accel, sizeof r->plat[p].accel, "emulated");
    }
    sqlite3_finalize(st);
    st = prepare(r,
                 "SELECT platform, service, kind, bytes, shared_bytes FROM image_sizes"
                 " WHERE run_id=?1 ORDER BY rowid",
                 err, errlen);
    if (!st)
        return false;
    cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int p = platform_index(r, col_text(st, 0), false);
        if (p < 0 || !grow((void **)&r->img, r->nimg, &cap, sizeof *r->img))
            continue;
        rp_irow *im = &r->img[r->nimg++];
        *im = (rp_irow){.plat = p, .bytes = col_num(st, 3), .shared = col_num(st, 4)};
        snprintf(im->service, RP_NAME, "%s", col_text(st, 1));
        snprintf(im->kind, RP_NAME, "%s", col_text(st, 2));
    }
    sqlite3_finalize(st);
    return true;
}

typedef struct elapsed_list {
    double *v;
    int n, cap;
} elapsed_list;

static void load_finish(rp_load *l, elapsed_list *e, double first_ts, double last_end)
{
    rp_sort(e->v, e->n);
    l->avg = l->n ? l->avg / l->n : NAN;
    l->p50 = rp_percentile_sorted(e->v, e->n, 50);
    l->p90 = rp_percentile_sorted(e->v, e->n, 90);
    l->p95 = rp_percentile_sorted(e->v, e->n, 95);
    l->p99 = rp_percentile_sorted(e->v, e->n, 99);
    if (l->iter >= 0)
        l->dur_ms = last_end - first_ts;
}

static void load_add(rp_load *l, elapsed_list *e, double elapsed, bool ok, double bytes,
                     double sent)
{
    if (grow((void **)&e->v, e->n, &e->cap, sizeof *e->v))
        e->v[e->n++] = elapsed;
    if (l->n == 0 || elapsed < l->min)
        l->min = elapsed;
    if (l->n == 0 || elapsed > l->max)
        l->max = elapsed;
    l->n++;
    l->ko += !ok;
    l->avg += elapsed; /* a sum until load_finish */
    l->bytes += bytes;
    l->sent += sent;
}

/* Requests of one platform: per iteration and over all iterations. The
 * duration of all iterations is the sum of theirs (the pauses between
 * iterations are not load). */
/* The label's slot on platform pl, added on first sight; -1 when full. */
static int label_slot(rp_platform *pl, const char *label)
{
    for (int i = 0; i < pl->nlabels; i++)
        if (strcmp(pl->label[i], label) == 0)
            return i;
    if (pl->nlabels == RP_MAX_LABELS)
        return -1;
    snprintf(pl->label[pl->nlabels], RP_NAME, "%s", label);
    pl->labels[pl->nlabels] = (rp_load){.iter = -1};
    return pl->nlabels++;
}

typedef struct request_lists {
    elapsed_list all, one, label[RP_MAX_LABELS];
} request_lists;

static void request_lists_free(request_lists *l)
{
    free(l->all.v);
    free(l->one.v);
    for (int i = 0; i < RP_MAX_LABELS; i++)
        free(l->label[i].v);
}

/* Requests of one platform: per iteration, per label and over all
 * iterations. The duration of all iterations is the sum of theirs (the
 * pauses between iterations are not load). */
static bool load_requests(rp_run *r, int p, char *err, size_t errlen)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT iteration, coalesce(elapsed_us / 1000.0, elapsed), success, time_stamp, bytes,"
             " sent_bytes, label FROM samples x"
             " WHERE run_id=?1 AND platform=?2 AND coalesce(phase,'measure')='measure' AND %s"
             " ORDER BY iteration",
             iter_ok_sql);
    sqlite3_stmt *st = prepare(r, sql, err, errlen);
    if (!st)
        return false;
    sqlite3_bind_text(st, 2, r->plat[p].name, -1, SQLITE_TRANSIENT);
    rp_platform *pl = &r->plat[p];
    pl->all = (rp_load){.iter = -1};
    request_lists lists = {0};
    rp_load *cur = NULL;
    int cap = 0;
    double first = 0, last = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        long iter = sqlite3_column_int64(st, 0);
        double elapsed = sqlite3_column_double(st, 1), ts = sqlite3_column_double(st, 3);
        if (!cur || cur->iter != iter) {
            if (cur)
                load_finish(cur, &lists.one, first, last);
            if (!grow((void **)&pl->iters, pl->niters, &cap, sizeof *pl->iters))
                break;
            cur = &pl->iters[pl->niters++];
            *cur = (rp_load){.iter = iter};
            lists.one.n = 0;
            first = ts;
            last = ts + elapsed;
        }
        first = ts < first ? ts : first;
        last = ts + elapsed > last ? ts + elapsed : last;
        bool ok = sqlite3_column_int(st, 2) != 0;
        double bytes = sqlite3_column_double(st, 4), sent = sqlite3_column_double(st, 5);
        load_add(cur, &lists.one, elapsed, ok, bytes, sent);
        load_add(&pl->all, &lists.all, elapsed, ok, bytes, sent);
        int slot = label_slot(pl, col_text(st, 6));
        if (slot >= 0)
            load_add(&pl->labels[slot], &lists.label[slot], elapsed, ok, bytes, sent);
        else
            pl->labels_dropped++;
    }
    sqlite3_finalize(st);
    if (cur)
        load_finish(cur, &lists.one, first, last);
    for (int i = 0; i < pl->niters; i++)
        pl->all.dur_ms += pl->iters[i].dur_ms;
    load_finish(&pl->all, &lists.all, 0, 0);
    for (int i = 0; i < pl->nlabels; i++) {
        pl->labels[i].dur_ms = pl->all.dur_ms; /* a label's throughput within the run */
        load_finish(&pl->labels[i], &lists.label[i], 0, 0);
    }
    if (pl->labels_dropped)
        warn(r, "platform %s: more than %d request labels; %d samples are in no label row",
             pl->name, RP_MAX_LABELS, pl->labels_dropped);
    request_lists_free(&lists);
    return true;
}

/* Failed measured requests by platform, response code, message and label:
 * what JMeter's dashboard calls "Errors" and "Top 5 errors by sampler". */
static bool load_errors(rp_run *r, char *err, size_t errlen)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT platform, coalesce(response_code, ''),"
             " coalesce(nullif(failure_message, ''), response_message, ''), coalesce(label, ''),"
             " count(*), min(time_stamp), max(time_stamp) FROM samples x"
             " WHERE run_id=?1 AND coalesce(phase,'measure')='measure' AND success=0 AND %s"
             " GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 1, 2, 4 LIMIT %d",
             iter_ok_sql, RP_MAX_ERROR_ROWS);
    sqlite3_stmt *st = prepare(r, sql, err, errlen);
    if (!st)
        return false;
    int cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int p = platform_index(r, col_text(st, 0), false);
        if (p < 0 || !grow((void **)&r->errs, r->nerrs, &cap, sizeof *r->errs))
            continue;
        rp_erow *e = &r->errs[r->nerrs++];
        *e = (rp_erow){.plat = p,
                       .count = sqlite3_column_int64(st, 4),
                       .first_ms = sqlite3_column_double(st, 5),
                       .last_ms = sqlite3_column_double(st, 6)};
        snprintf(e->code, sizeof e->code, "%s", col_text(st, 1));
        snprintf(e->message, sizeof e->message, "%s", col_text(st, 2));
        snprintf(e->label, sizeof e->label, "%s", col_text(st, 3));
        for (char *c = e->message; *c; c++)
            if (*c == '\n' || *c == '\r' || *c == '\t')
                *c = ' ';
    }
    sqlite3_finalize(st);
    return true;
}

bool rp_run_load(rp_run *r, const char *path, const char *run_id, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    char db[4096];
    rp_db_path(path, db, sizeof db);
    struct stat st;
    if (stat(db, &st) != 0) {
        snprintf(err, errlen,
                 "%s: no such results database (give a run folder holding "
                 "results.db, or the database file)",
                 db);
        return false;
    }
    if (!jb_store_open_readonly(&r->store, db, err, errlen))
        return false;
    bool ok = pick_run(r, run_id, err, errlen) && load_platforms(r, err, errlen) &&
              load_metrics(r, err, errlen) && load_boot_and_images(r, err, errlen);
    for (int p = 0; ok && p < r->nplat; p++)
        ok = load_requests(r, p, err, errlen);
    ok = ok && load_errors(r, err, errlen);
    if (!ok) {
        rp_run_free(r);
        return false;
    }
    if (strcmp(r->status, "running") == 0 || !r->status[0])
        warn(r,
             "run %s is not finished (status '%s'): still running, or stopped without saying "
             "so; the figures cover only what it recorded so far",
             r->run_id, r->status[0] ? r->status : "none");
    else if (strcmp(r->status, "done") != 0 && strcmp(r->status, "unknown") != 0)
        warn(r, "run %s ended with status '%s': the figures cover the iterations it finished",
             r->run_id, r->status);
    if (r->nplat == 0)
        warn(r, "run %s has no iterations, samples or metrics recorded", r->run_id);
    return true;
}

void rp_run_free(rp_run *r)
{
    free(r->errs);
    r->errs = NULL;
    r->nerrs = 0;
    free(r->config);
    r->config = NULL;
    free(r->environment);
    r->environment = NULL;
    for (int p = 0; p < r->nplat; p++)
        free(r->plat[p].iters);
    free(r->m);
    free(r->b);
    free(r->img);
    jb_store_close(&r->store);
    memset(r, 0, sizeof *r);
}
