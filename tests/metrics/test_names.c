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

/* Waits (sampling every 100 ms, 10 s at most) until the group's last
 * sample counts want processes, or at least want; returns the last count. */
static size_t wait_nprocs(jb_sampler *s, const char *grp, size_t want, bool at_least)
{
    size_t n = 0, count = 0;
    for (int i = 0; i < 500; i++) {
        n = last_nprocs(s, grp, &count);
        if (n == want || (at_least && n > want))
            break;
        sleep_ms(20); /* the poll period of this wait */
    }
    return n;
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
    sleep_ms(400); /* stays: that no sample comes takes watching for a while (4 intervals) */
    size_t count = 0;
    last_nprocs(s, "daemon", &count);
    CHECK(count == 0, "samples before any matching process: %zu", count);

    pid_t a = spawn_child("sleep", marker, NULL), b = spawn_child("sleep", marker, NULL);
    size_t n = wait_nprocs(s, "daemon", 2, false);
    last_nprocs(s, "daemon", &count);
    CHECK(n == 2, "two matching processes, last sample has %zu (of %zu samples)", n, count);
    CHECK(wait_nprocs(s, "comm", 2, true) >= 2, "comm 'jb_metrics_chil' (cut at 15 bytes) matched");
    end_child(a);
    n = wait_nprocs(s, "daemon", 1, false);
    CHECK(n == 1, "after one exit, last sample has %zu processes", n);
    end_child(b);
    /* stays, as do the 500 ms below: that samples stop is seen only by
     * watching for several intervals (the last one still counts 1). */
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
