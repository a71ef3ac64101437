/* test_db.c - the series and summaries land in the results database with
 * the right keys, NULL for figures not measured, and the cgroup columns. */
#include "metrics/metrics.h"
#include "helpers.h"

#include <math.h>

static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fprintf(stderr, "query failed: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return v;
}

int main(void)
{
    char dir[] = "/tmp/jb-metrics-db-XXXXXX", db[300], err[256];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(db, sizeof db, "%s/results.db", dir);
    pid_t child = spawn_child("burn", "0.2", "10");
    jb_sampler_config cfg;
    jb_sampler_config_init(&cfg);
    cfg.interval_ms = 100;
    cfg.flush_ms = 300; /* several batches during the run */
    cfg.db_path = db;
    cfg.run_id = "run-1";
    cfg.platform = "native";
    cfg.iteration = 3;
    jb_sampler *s = jb_sampler_new(&cfg, err, sizeof err);
    CHECK(s && jb_sampler_add_pids(s, "svc-1", JB_GROUP_SERVICE, &child, 1, err, sizeof err), "%s",
          err);
    CHECK(jb_sampler_start(s, err, sizeof err), "%s", err);
    sleep_ms(1200); /* stays: PSS is read once a second, so the run must pass one */
    CHECK(jb_sampler_stop(s, err, sizeof err), "%s", err);
    CHECK(jb_sampler_write_summaries(s, err, sizeof err), "%s", err);
    size_t n = jb_sampler_samples(s, "svc-1", NULL, 0);
    jb_metric_summary sum;
    jb_sampler_summaries(s, &sum, 1);
    jb_sampler_free(s);
    end_child(child);

    jb_store store;
    CHECK(jb_store_open_readonly(&store, db, err, sizeof err), "%s", err);
    long long rows = query_int(store.db, "SELECT count(*) FROM metric_samples WHERE run_id='run-1'"
                                         " AND platform='native' AND iteration=3 AND grp='svc-1'"
                                         " AND kind='service' AND source='procfs'");
    /* how many readings a loaded box allows varies; every one must be stored */
    CHECK(rows == (long long)n && n >= 2, "%lld rows stored, %zu sampled", rows, n);
    /* PSS once a second at 100 ms sampling: most rows have no PSS */
    long long with_pss = query_int(store.db, "SELECT count(pss_kb) FROM metric_samples");
    CHECK(with_pss >= 1 && with_pss < rows, "%lld rows with PSS of %lld", with_pss, rows);
    CHECK(query_int(store.db, "SELECT count(*) FROM metric_samples WHERE cgroup_mem_kb IS NULL"
                              " AND cpu_pct IS NOT NULL AND rss_kb > 0") == rows,
          "cgroup columns NULL, cpu and rss set");
    CHECK(query_int(store.db, "SELECT samples FROM metric_summaries WHERE grp='svc-1'"
                              " AND iteration=3") == (long long)n,
          "summary sample count");
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM metric_summaries WHERE cgroup_mem_mean_kb IS NULL"
             " AND rss_peak_kb = %lld AND abs(cpu_seconds - %.9f) < 1e-9 AND source = 'procfs'",
             (long long)sum.rss_peak_kb, sum.cpu_seconds);
    CHECK(query_int(store.db, sql) == 1, "the stored summary matches the in-memory one");
    printf("%zu samples stored; summary cpu %.1f%% (%.2f s), rss mean %.0f kB\n", n, sum.cpu_mean,
           sum.cpu_seconds, sum.rss_mean_kb);
    jb_store_close(&store);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char side[320];
        snprintf(side, sizeof side, "%s%s", db, suffix[i]);
        unlink(side);
    }
    rmdir(dir);
    return failures ? 1 : 0;
}
