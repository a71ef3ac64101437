/* test_exit.c - processes that exit mid-run: their series ends cleanly,
 * the other groups go on, a zombie counts as exited, bad PIDs are refused
 * with a reason, and a group of several PIDs lives until its last one. */
#include "metrics/metrics.h"
#include "helpers.h"

#include <math.h>

static void test_bad_pids(jb_sampler *s)
{
    char err[256] = "";
    pid_t gone = spawn_child("sleep", "0", NULL);
    waitpid(gone, NULL, 0); /* reaped: its PID is free now */
    CHECK(!jb_sampler_add_pids(s, "gone", JB_GROUP_SERVICE, &gone, 1, err, sizeof err),
          "a PID that exited was accepted");
    CHECK(strstr(err, "no such process") != NULL, "error should say why: '%s'", err);
    pid_t zero = 0;
    CHECK(!jb_sampler_add_pids(s, "zero", JB_GROUP_SERVICE, &zero, 1, err, sizeof err),
          "PID 0 was accepted");
    pid_t self = getpid();
    CHECK(jb_sampler_add_pids(s, "self", JB_GROUP_SERVICE, &self, 1, err, sizeof err), "%s", err);
    CHECK(!jb_sampler_add_pids(s, "self", JB_GROUP_SERVICE, &self, 1, err, sizeof err),
          "a duplicate group name was accepted");
}

/* Waits (10 s at most) for what the checks below look at: short's series
 * ended, pair down to one process, self sampled after short ended. */
static void wait_for_exits(jb_sampler *s)
{
    jb_metric_sample m[64];
    for (int i = 0; i < 500; i++) {
        size_t n_pair = jb_sampler_samples(s, "pair", m, 64);
        bool pair_one = n_pair >= 1 && n_pair <= 64 && m[n_pair - 1].nprocs == 1;
        if (jb_sampler_group_ended(s, "short") && pair_one &&
            jb_sampler_samples(s, "self", NULL, 0) > jb_sampler_samples(s, "short", NULL, 0))
            return;
        sleep_ms(20); /* the poll period of this wait */
    }
}

int main(void)
{
    char err[256];
    jb_sampler_config cfg;
    jb_sampler_config_init(&cfg);
    cfg.interval_ms = 200;
    jb_sampler *s = jb_sampler_new(&cfg, err, sizeof err);
    CHECK(s != NULL, "%s", err);
    test_bad_pids(s);
    /* short exits after ~1 s and stays a zombie (not reaped) until the end;
     * pair is two processes of which one exits early */
    pid_t shortlived = spawn_child("sleep", "1", NULL);
    pid_t pair[2] = {spawn_child("sleep", "0.6", NULL), spawn_child("sleep", "20", NULL)};
    CHECK(jb_sampler_add_pids(s, "short", JB_GROUP_SERVICE, &shortlived, 1, err, sizeof err), "%s",
          err);
    CHECK(jb_sampler_add_pids(s, "pair", JB_GROUP_SERVICE, pair, 2, err, sizeof err), "%s", err);
    CHECK(jb_sampler_start(s, err, sizeof err), "%s", err);
    wait_for_exits(s);
    CHECK(jb_sampler_stop(s, err, sizeof err), "%s", err);

    jb_metric_sample m[64];
    size_t n_short = jb_sampler_samples(s, "short", m, 64);
    CHECK(jb_sampler_group_ended(s, "short"), "the exited child's series did not end");
    CHECK(n_short >= 1 && n_short <= 7, "short: %zu samples for ~1 s at 200 ms", n_short);
    for (size_t i = 0; i < n_short && i < 64; i++)
        CHECK(m[i].nprocs == 1 && !isnan(m[i].cpu_pct), "short sample %zu: nprocs %d", i,
              m[i].nprocs);
    size_t n_self = jb_sampler_samples(s, "self", NULL, 0);
    CHECK(!jb_sampler_group_ended(s, "self"), "a live group ended");
    CHECK(n_self > n_short, "self kept sampling after short ended: %zu vs %zu", n_self, n_short);
    size_t n_pair = jb_sampler_samples(s, "pair", m, 64);
    CHECK(!jb_sampler_group_ended(s, "pair"), "pair ended with one process alive");
    /* one of the pair exits after 0.6 s: the series goes on with one */
    CHECK(n_pair >= 1 && m[n_pair - 1].nprocs == 1, "pair: %zu samples, last nprocs %d", n_pair,
          n_pair ? m[n_pair - 1].nprocs : -1);
    for (size_t i = 0; i < n_pair && i < 64; i++)
        CHECK(m[i].nprocs == 1 || m[i].nprocs == 2, "pair sample %zu: nprocs %d", i, m[i].nprocs);
    jb_metric_summary sums[4];
    size_t ns = jb_sampler_summaries(s, sums, 4);
    CHECK(ns == 3, "three groups with samples, got %zu", ns);
    printf("short: %zu samples, self: %zu, pair: %zu (last nprocs %d)\n", n_short, n_self, n_pair,
           n_pair ? m[n_pair - 1].nprocs : -1);
    jb_sampler_free(s);
    end_child(shortlived);
    end_child(pair[0]);
    end_child(pair[1]);
    return failures ? 1 : 0;
}
