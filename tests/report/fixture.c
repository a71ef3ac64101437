/* fixture.c - writes a results database with known numbers for the report
 * tests: report_fixture PATH VARIANT.
 *
 * Variants: base, rawmetrics (base with metric_samples instead of
 * metric_summaries), scale (900k samples, for bench/), rerun (small noise, under 5%), regressed
 * (docker's response times +20 ms), three and three-regressed (3 iterations, the quickstart
 * default), users40 (base's numbers, but a workload of 40 users), unfinished (run still running),
 * empty (a run with no samples or metrics), foreign (a SQLite file that is not ours).
 *
 * The numbers (tests/report/README.md derives the expected statistics):
 *   platforms docker (native) and osv (emulated), iterations 1..5 done;
 *   docker iteration 6 failed (its rows must be left out).
 *   CPU %: docker user_registry 10+i, auth_manager 20; osv user_registry
 *   20+i, auth_manager as two replicas 10 and 10+i; dockerd 5.
 *   RSS MiB: docker user_registry 17+i, auth_manager 18, dockerd 888;
 *   osv user_registry 120+i, auth_manager replicas 60 + 60.
 *   Samples j=0..3 per iteration: start base+i*100000+j*1000, elapsed
 *   10(j+1)+i (docker), +100 (osv); 1024 bytes received, 512 sent; docker
 *   iteration 1 j=3 failed. Setup-phase samples (elapsed 99999) in each
 *   iteration 1 must be ignored.
 *   Images: docker 100 and 101 MiB sharing 95 MiB, with the metrics layer's
 *   "_cumulative" row (106 MiB); osv 28 and 29 MiB, no cumulative row.
 */
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_MS 1700000000000LL
#define MIB (1024LL * 1024)

typedef struct fixture {
    jb_store store;
    const char *run_id;
    int extra_ms;     /* added to docker's response times (regressed) */
    bool noise;       /* +1 ms on docker's odd iterations (rerun) */
    bool raw_metrics; /* metric_samples only, no summaries (rawmetrics) */
    int iterations;   /* finished iterations per platform (5; three*: 3) */
    int users;        /* the workload's users in runs.config (30; users40: 40) */
} fixture;

static void exec_or_die(fixture *f, const char *sql)
{
    char err[512];
    if (!jb_store_exec(&f->store, sql, err, sizeof err)) {
        fprintf(stderr, "fixture: %s\n  in: %s\n", err, sql);
        exit(1);
    }
}

static void execf(fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void execf(fixture *f, const char *fmt, ...)
{
    char *sql = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&sql, fmt, ap) < 0)
        exit(1);
    va_end(ap);
    exec_or_die(f, sql);
    free(sql);
}

static void metric(fixture *f, const char *plat, int it, const char *grp, const char *kind,
                   double cpu, double rss_mib)
{
    if (f->raw_metrics) {
        /* two samples either side of the mean: their average is the summary */
        for (int k = -1; k <= 1; k += 2)
            execf(
                f,
                "INSERT INTO metric_samples(run_id, platform, iteration, grp, kind, t_ms, cpu_pct,"
                " rss_kb, source) VALUES('%s','%s',%d,'%s','%s',%d,%.17g,%.17g,'procfs')",
                f->run_id, plat, it, grp, kind, k, cpu + k, rss_mib * 1024 + k);
        return;
    }
    execf(f,
          "INSERT INTO metric_summaries(run_id, platform, iteration, grp, kind, cpu_mean, cpu_sd,"
          " rss_mean_kb, rss_peak_kb, samples, source) VALUES('%s','%s',%d,'%s','%s',%.17g,0,"
          "%.17g,%lld,10,'procfs')",
          f->run_id, plat, it, grp, kind, cpu, rss_mib * 1024, (long long)(rss_mib * 1024));
}

static void sample(fixture *f, const char *plat, int it, const char *phase, int j, long elapsed,
                   bool ok)
{
    static const char *const labels[] = {"GET /users/{u}", "GET /users/{u}/devices/{d}",
                                         "GET /users/{u}/devices/{d}/readings",
                                         "POST /users/{u}/devices/{d}/commands"};
    long long ts = BASE_MS + it * 100000LL + j * 1000LL;
    execf(f,
          "INSERT INTO samples VALUES('%s','%s',%d,'%s',%lld,%ld,%ld,%d,0,'%s','%s','%s',%d,"
          "'%s',1024,512,'users 1-%d',30,30,'http://127.0.0.1:8080/users/u%d',%d,%.1f,%ld)",
          f->run_id, plat, it, phase, ts, elapsed, elapsed / 2, 1, labels[j], ok ? "200" : "500",
          ok ? "OK" : "Internal Server Error", ok, ok ? "" : "expected \"ok\",\ngot 500", j + 1, j,
          j, (double)ts, elapsed * 1000);
}

static void platform(fixture *f, const char *plat, int it, int slower_ms)
{
    bool docker = strcmp(plat, "docker") == 0;
    for (int j = 0; j < 4; j++) {
        long elapsed = 10 * (j + 1) + it + slower_ms;
        if (docker)
            elapsed += f->extra_ms + (f->noise && it % 2);
        sample(f, plat, it, "measure", j, elapsed, !(docker && it == 1 && j == 3));
    }
    if (it == 1)
        for (int j = 0; j < 3; j++)
            sample(f, plat, it, "setup", j, 99999, true);
}

static void iteration(fixture *f, const char *plat, int it, const char *status, const char *accel)
{
    execf(f, "INSERT INTO iterations VALUES('%s','%s',%d,%lld,%lld,'%s','%s',NULL)", f->run_id,
          plat, it, BASE_MS + it * 100000LL, BASE_MS + it * 100000LL + 5000, status, accel);
}

static void docker_iteration(fixture *f, int it)
{
    iteration(f, "docker", it, "done", "native");
    metric(f, "docker", it, "user_registry-1", "service", 10 + it, 17 + it);
    metric(f, "docker", it, "auth_manager-1", "service", 20, 18);
    metric(f, "docker", it, "dockerd", "runtime", 5, 888);
    platform(f, "docker", it, 0);
    execf(f,
          "INSERT INTO boot_times(run_id, platform, iteration, service, instance,"
          " boot_ms, ready_ms, accel, process_ready_ms) "
          "VALUES('%s','docker',%d,'user_registry','user_registry-1',"
          "%d,%d,'native',%d),('%s','docker',%d,'auth_manager','auth_manager-1',110,210,"
          "'native',160)",
          f->run_id, it, 100 + it, 200 + it, 150 + it, f->run_id, it);
}

static void osv_iteration(fixture *f, int it)
{
    iteration(f, "osv", it, "done", "emulated");
    metric(f, "osv", it, "user_registry-1", "service", 20 + it, 120 + it);
    metric(f, "osv", it, "auth_manager-1", "service", 10, 60);
    metric(f, "osv", it, "auth_manager-2", "service", 10 + it, 60);
    platform(f, "osv", it, 100);
    execf(f,
          "INSERT INTO boot_times(run_id, platform, iteration, service, instance,"
          " boot_ms, ready_ms, accel, process_ready_ms) "
          "VALUES('%s','osv',%d,'user_registry','user_registry-1',"
          "%d,%d,'emulated',%d),('%s','osv',%d,'auth_manager','auth_manager-1',1100,2100,"
          "'emulated',1600)",
          f->run_id, it, 1000 + 10 * it, 2000 + 10 * it, 1500 + 10 * it, f->run_id, it);
}

static void full_run(fixture *f)
{
    execf(f,
          "INSERT INTO runs VALUES('%s','fixture','{\"file\":\"configs/fixture.yaml\","
          "\"iterations\":5,\"workload\":{\"users\":%d,\"requests_per_user\":4,"
          "\"model\":\"closed\",\"seed\":1}}','{\"hostname\":\"fixture-host\","
          "\"kernel\":\"6.1.0-fixture\",\"cores\":2,\"jungbench\":\"9.8.7\","
          "\"jungbench_build\":\"Fixture, GNU 12\"}',%lld,%lld,'done')",
          f->run_id, f->users, BASE_MS, BASE_MS + 700000);
    /* one noisy iteration: the report flags it */
    execf(f, "INSERT INTO iteration_load VALUES('%s','osv',2,3.5,40,3.1,45,0.5,1)", f->run_id);
    for (int it = 1; it <= f->iterations; it++)
        docker_iteration(f, it);
    for (int it = 1; it <= f->iterations; it++)
        osv_iteration(f, it);
    /* A failed iteration with absurd numbers: any of them in a table is a bug. */
    iteration(f, "docker", 6, "failed", "native");
    metric(f, "docker", 6, "user_registry-1", "service", 900, 9000);
    for (int j = 0; j < 4; j++)
        sample(f, "docker", 6, "measure", j, 50000, false);
    execf(f,
          "INSERT INTO image_sizes VALUES"
          "('%s','docker','user_registry','service',%lld,%lld),"
          "('%s','docker','auth_manager','service',%lld,%lld),"
          "('%s','docker','_cumulative','cumulative',%lld,0),"
          "('%s','osv','user_registry','service',%lld,0),"
          "('%s','osv','auth_manager','service',%lld,0)",
          f->run_id, 100 * MIB, 95 * MIB, f->run_id, 101 * MIB, 95 * MIB, f->run_id, 106 * MIB,
          f->run_id, 28 * MIB, f->run_id, 29 * MIB);
}

static void unfinished_run(fixture *f)
{
    execf(f, "INSERT INTO runs VALUES('%s','fixture','{}','{}',%lld,NULL,'running')", f->run_id,
          BASE_MS);
    docker_iteration(f, 1);
    docker_iteration(f, 2);
    iteration(f, "docker", 3, "running", "native");
    sample(f, "docker", 3, "measure", 0, 50000, true);
}

/* Dissertation scale for bench/report_scale.sh: 2 platforms x 30
 * iterations x 15000 requests (900k samples), six services. */
static void scale_run(fixture *f)
{
    static const char *const services[] = {"user_registry",   "auth_manager",   "rule_engine",
                                           "device_registry", "device_monitor", "device_commander"};
    static const char *const plats[] = {"docker", "osv"};
    execf(f, "INSERT INTO runs VALUES('%s','scale','{}','{}',%lld,%lld,'done')", f->run_id, BASE_MS,
          BASE_MS + 9000000);
    for (int p = 0; p < 2; p++)
        for (int it = 1; it <= 30; it++) {
            iteration(f, plats[p], it, "done", p ? "kvm" : "native");
            for (int s = 0; s < 6; s++) {
                char grp[64];
                snprintf(grp, sizeof grp, "%s-1", services[s]);
                metric(f, plats[p], it, grp, "service", 10 + 5 * s + 20 * p + it % 3,
                       18 + 100 * p + s);
            }
            long long t0 = BASE_MS + it * 200000LL;
            execf(f,
                  "INSERT INTO samples WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 "
                  "FROM n WHERE k < 14999), e(k, ms) AS (SELECT k, 5 + abs(random()) %% %d FROM n)"
                  " SELECT '%s','%s',%d,'measure',%lld + k * 7, ms, ms / 2, 1, 0,"
                  " CASE WHEN k %% 20 < 1 THEN 'get_user' WHEN k %% 20 < 2 THEN 'get_device'"
                  " WHEN k %% 20 < 11 THEN 'get_readings' ELSE 'post_command' END, '200', 'OK',"
                  " abs(random()) %% 500 != 0, '', 1024, 512, 'users 1-' || (k %% 30 + 1), 30,"
                  " 30, 'http://127.0.0.1:8080/users/u', k / 30, %lld + k * 7.0, ms * 1000 FROM e",
                  p ? 450 : 400, f->run_id, plats[p], it, t0, t0);
        }
}

static int foreign(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS recipes(name TEXT)", NULL, NULL, NULL) !=
            SQLITE_OK) {
        fprintf(stderr, "fixture: cannot write %s\n", path);
        sqlite3_close(db);
        return 1;
    }
    sqlite3_close(db);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: report_fixture PATH "
                        "base|rawmetrics|rerun|regressed|three|three-regressed|users40|scale|"
                        "unfinished|empty|foreign\n");
        return 2;
    }
    const char *path = argv[1], *variant = argv[2];
    remove(path);
    if (strcmp(variant, "foreign") == 0)
        return foreign(path);
    fixture f = {.run_id = "fixture-base", .iterations = 5, .users = 30};
    char err[512];
    if (!jb_store_open(&f.store, path, err, sizeof err)) {
        fprintf(stderr, "fixture: %s\n", err);
        return 1;
    }
    jb_store_begin(&f.store);
    if (strcmp(variant, "base") == 0) {
        full_run(&f);
    } else if (strcmp(variant, "rawmetrics") == 0) {
        f.raw_metrics = true;
        full_run(&f);
    } else if (strcmp(variant, "rerun") == 0) {
        f.run_id = "fixture-rerun";
        f.noise = true;
        full_run(&f);
    } else if (strcmp(variant, "regressed") == 0) {
        f.run_id = "fixture-regressed";
        f.extra_ms = 20;
        full_run(&f);
    } else if (strcmp(variant, "three") == 0) {
        f.run_id = "fixture-three";
        f.iterations = 3;
        full_run(&f);
    } else if (strcmp(variant, "three-regressed") == 0) {
        f.run_id = "fixture-three-regressed";
        f.iterations = 3;
        f.extra_ms = 20;
        full_run(&f);
    } else if (strcmp(variant, "users40") == 0) {
        f.run_id = "fixture-users40";
        f.users = 40;
        full_run(&f);
    } else if (strcmp(variant, "unfinished") == 0) {
        f.run_id = "fixture-unfinished";
        unfinished_run(&f);
    } else if (strcmp(variant, "scale") == 0) {
        f.run_id = "fixture-scale";
        scale_run(&f);
    } else if (strcmp(variant, "empty") == 0) {
        f.run_id = "fixture-empty";
        execf(&f, "INSERT INTO runs VALUES('%s','fixture','{}','{}',%lld,%lld,'done')", f.run_id,
              BASE_MS, BASE_MS + 1000);
    } else {
        fprintf(stderr, "fixture: unknown variant '%s'\n", variant);
        jb_store_close(&f.store);
        return 2;
    }
    jb_store_commit(&f.store);
    jb_store_close(&f.store);
    return 0;
}
