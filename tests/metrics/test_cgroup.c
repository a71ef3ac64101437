/* test_cgroup.c - cgroup v1 and v2 layouts parsed from fixture files, the
 * fallback when memory.stat is missing, and a cgroup group in the sampler
 * (built in a temporary folder) whose CPU figure follows cpu.stat and whose
 * series ends when the cgroup empties. */
#include "metrics/metrics.h"
#include "helpers.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sys/stat.h>

static void test_v1(void)
{
    jb_cgroup cg;
    char err[256];
    CHECK(jb_cgroup_open(&cg, FIXTURES "/cgroup1", "/docker/abc123", err, sizeof err), "%s", err);
    CHECK(cg.version == 1, "v1 layout detected as v%d", cg.version);
    jb_cgroup_reading r;
    jb_cgroup_read(&cg, &r);
    CHECK(r.has_mem && !r.mem_raw, "v1 memory not read");
    CHECK(r.usage_bytes == 157286400, "usage %" PRIu64, r.usage_bytes);
    /* usage minus total_inactive_file (hierarchical), not inactive_file */
    CHECK(r.mem_bytes == 157286400 - 31457280, "mem %" PRIu64, r.mem_bytes);
    CHECK(r.has_cpu && r.cpu_usec == 12345678, "cpuacct.usage ns -> usec: %" PRIu64, r.cpu_usec);
    pid_t pids[8];
    CHECK(jb_cgroup_procs(&cg, pids, 8) == 2 && pids[0] == 4242 && pids[1] == 4243,
          "v1 cgroup.procs");
}

static void test_v2(void)
{
    jb_cgroup cg;
    char err[256];
    CHECK(jb_cgroup_open(&cg, FIXTURES "/cgroup2", "/system.slice/docker-abc123.scope", err,
                         sizeof err),
          "%s", err);
    CHECK(cg.version == 2, "v2 layout detected as v%d", cg.version);
    jb_cgroup_reading r;
    jb_cgroup_read(&cg, &r);
    CHECK(r.has_mem && !r.mem_raw && r.mem_bytes == 104857600 - 20971520,
          "v2 mem %" PRIu64 " raw %d", r.mem_bytes, r.mem_raw);
    CHECK(r.has_cpu && r.cpu_usec == 9876543, "v2 usage_usec %" PRIu64, r.cpu_usec);
    pid_t pids[2];
    CHECK(jb_cgroup_procs(&cg, pids, 2) == 2, "procs capped at max");

    /* no memory.stat: raw usage, and the reading says so */
    CHECK(jb_cgroup_open(&cg, FIXTURES "/cgroup2", "/system.slice/nostat.scope", err, sizeof err),
          "%s", err);
    jb_cgroup_read(&cg, &r);
    CHECK(r.has_mem && r.mem_raw && r.mem_bytes == 52428800, "fallback mem %" PRIu64, r.mem_bytes);
    CHECK(r.has_cpu && r.cpu_usec == 1000, "usage_usec after user_usec: %" PRIu64, r.cpu_usec);
}

static void test_bad_paths(void)
{
    jb_cgroup cg;
    char err[256] = "";
    CHECK(!jb_cgroup_open(&cg, FIXTURES "/cgroup2", "/system.slice/missing.scope", err, sizeof err),
          "a missing cgroup was accepted");
    CHECK(strstr(err, "not found") != NULL, "error: '%s'", err);
    CHECK(!jb_cgroup_open(&cg, FIXTURES "/cgroup2", "system.slice", err, sizeof err),
          "a relative path was accepted");
    CHECK(!jb_cgroup_open(&cg, FIXTURES "/cgroup2", "/../cgroup1", err, sizeof err),
          "'..' was accepted");
    CHECK(!jb_cgroup_open(&cg, FIXTURES, "/x", err, sizeof err), "a non-cgroup root accepted");
    CHECK(strstr(err, "neither") != NULL, "error: '%s'", err);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s: %s", path, strerror(errno));
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A v2 tree in a temporary folder with a live child in cgroup.procs. */
static void test_sampler_group(void)
{
    char root[] = "/tmp/jb-cgroup-test-XXXXXX", dir[512], buf[64];
    CHECK(mkdtemp(root) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(dir, sizeof dir, "%s/svc.scope", root);
    mkdir(dir, 0755);
    write_file(root, "cgroup.controllers", "cpu memory\n");
    pid_t child = spawn_child("sleep", "20", NULL);
    snprintf(buf, sizeof buf, "%d\n", (int)child);
    write_file(dir, "cgroup.procs", buf);
    write_file(dir, "memory.current", "10485760\n");
    write_file(dir, "memory.stat", "inactive_file 2097152\n");
    write_file(dir, "cpu.stat", "usage_usec 5000000\n");

    char err[256];
    jb_sampler_config cfg;
    jb_sampler_config_init(&cfg);
    cfg.cgroup_root = root;
    jb_sampler *s = jb_sampler_new(&cfg, err, sizeof err);
    CHECK(jb_sampler_add_cgroup(s, "svc", JB_GROUP_SERVICE, "/svc.scope", err, sizeof err), "%s",
          err);
    jb_sampler_sample_now(s);                            /* baseline */
    write_file(dir, "cpu.stat", "usage_usec 5250000\n"); /* +0.25 s of CPU */
    sleep_ms(100); /* stays: the two samples need an interval between them to divide by */
    jb_sampler_sample_now(s);
    jb_metric_sample m[4];
    size_t n = jb_sampler_samples(s, "svc", m, 4);
    CHECK(n == 1, "one sample after the baseline, got %zu", n);
    if (n == 1) {
        CHECK(m[0].nprocs == 1 && m[0].rss_kb > 0, "the child counted: nprocs %d", m[0].nprocs);
        CHECK(m[0].cgroup_mem_kb == (10485760 - 2097152) / 1024, "cgroup mem %lld kB",
              (long long)m[0].cgroup_mem_kb);
        double cg_cpu_s = m[0].cgroup_cpu_pct / 100.0 * m[0].interval_s;
        CHECK(fabs(cg_cpu_s - 0.25) < 1e-6, "cgroup CPU %.6f s, expected 0.25", cg_cpu_s);
        CHECK(strcmp(m[0].source, "procfs,cgroup2") == 0, "source '%s'", m[0].source);
    }
    write_file(dir, "cgroup.procs", ""); /* the container stopped */
    jb_sampler_sample_now(s);
    CHECK(jb_sampler_group_ended(s, "svc"), "an emptied cgroup did not end its series");
    CHECK(jb_sampler_samples(s, "svc", NULL, 0) == 1, "no sample after the end");
    jb_sampler_free(s);
    end_child(child);
    const char *files[] = {"cgroup.procs", "memory.current", "memory.stat", "cpu.stat"};
    for (size_t i = 0; i < 4; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    snprintf(dir, sizeof dir, "%s/cgroup.controllers", root);
    unlink(dir);
    rmdir(root);
}

/* This machine's own cgroup resolves and reads (v1 or v2, whichever). */
static void test_live(void)
{
    char path[4096], err[256];
    jb_cgroup cg;
    if (!jb_cgroup_of_pid(getpid(), path, sizeof path, err, sizeof err) ||
        !jb_cgroup_open(&cg, "/sys/fs/cgroup", path, err, sizeof err)) {
        printf("note: live cgroup not readable here (%s); fixture tests still ran\n", err);
        return;
    }
    jb_cgroup_reading r;
    jb_cgroup_read(&cg, &r);
    printf("live: cgroup v%d %s: mem %" PRIu64 " bytes, cpu %" PRIu64 " usec\n", cg.version, path,
           r.mem_bytes, r.cpu_usec);
    CHECK(r.has_mem && r.mem_bytes > 0, "live cgroup memory not read from %s", cg.mem_dir);
}

int main(void)
{
    test_v1();
    test_v2();
    test_bad_paths();
    test_sampler_group();
    test_live();
    return failures ? 1 : 0;
}
