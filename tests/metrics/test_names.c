/* test_names.c - process-name groups (how runtime daemons are found): a
 * group waits for its processes, picks them up when they start, follows
 * them as they exit, and never ends; comm is matched as the kernel cuts it
 * (15 bytes), cmdline with a "cmdline:" pattern. */
#include "metrics/metrics.h"
#include "helpers.h"

static size_t last_nprocs(jb_sampler *s, const char *grp, size_t *count)
{
    jb_metric_sample m[256];
    size_t n = jb_sampler_samples(s, grp, m, 256);
    *count = n;
    return n && n <= 256 ? (size_t)m[n - 1].nprocs : 0;
}

int main(void)
{
    char err[256], marker[32], pattern[96];
    /* a cmdline no other test's child has: this test's PID in the seconds */
    snprintf(marker, sizeof marker, "30.%d", (int)getpid());
    snprintf(pattern, sizeof pattern, "cmdline:* sleep %s", marker);
    const char *by_cmdline = pattern, *by_comm = "jb_metrics_chil";
    jb_sampler_config cfg;
    jb_sampler_config_init(&cfg);
    cfg.interval_ms = 100;
    cfg.name_scan_ms = 100;
    jb_sampler *s = jb_sampler_new(&cfg, err, sizeof err);
    CHECK(s && jb_sampler_add_process_name(s, "daemon", JB_GROUP_RUNTIME, &by_cmdline, 1, err,
                                           sizeof err),
          "%s", err);
    CHECK(jb_sampler_add_process_name(s, "comm", JB_GROUP_RUNTIME, &by_comm, 1, err, sizeof err),
          "%s", err);
    CHECK(!jb_sampler_add_process_name(s, "empty", JB_GROUP_RUNTIME, NULL, 0, err, sizeof err),
          "a group without patterns was accepted");
    CHECK(jb_sampler_start(s, err, sizeof err), "%s", err);
    sleep_ms(400);
    size_t count = 0;
    last_nprocs(s, "daemon", &count);
    CHECK(count == 0, "samples before any matching process: %zu", count);

    pid_t a = spawn_child("sleep", marker, NULL), b = spawn_child("sleep", marker, NULL);
    sleep_ms(800);
    size_t n = last_nprocs(s, "daemon", &count);
    CHECK(n == 2, "two matching processes, last sample has %zu (of %zu samples)", n, count);
    CHECK(last_nprocs(s, "comm", &count) >= 2, "comm 'jb_metrics_chil' (cut at 15 bytes) matched");
    end_child(a);
    sleep_ms(800);
    n = last_nprocs(s, "daemon", &count);
    CHECK(n == 1, "after one exit, last sample has %zu processes", n);
    end_child(b);
    sleep_ms(600);
    size_t before = 0, after = 0;
    last_nprocs(s, "daemon", &before);
    sleep_ms(500);
    last_nprocs(s, "daemon", &after);
    CHECK(after == before, "no samples while no process matches (%zu then %zu)", before, after);
    CHECK(!jb_sampler_group_ended(s, "daemon"), "a name group ended");
    CHECK(jb_sampler_stop(s, err, sizeof err), "%s", err);
    jb_metric_summary sums[4];
    size_t ns = jb_sampler_summaries(s, sums, 4);
    CHECK(ns == 2 && sums[0].kind == JB_GROUP_RUNTIME, "summaries: %zu", ns);
    jb_sampler_free(s);
    return failures ? 1 : 0;
}
