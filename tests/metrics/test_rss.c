/* test_rss.c - a child holding 64 MiB of touched memory measures RSS (and
 * PSS: the pages are private) 64 MiB more than an identical child holding
 * none, +/- 5%. */
#include "metrics/metrics.h"
#include "helpers.h"

#include <math.h>

int main(int argc, char **argv)
{
    pid_t big = spawn_child("hold", "64", "20");
    pid_t small = spawn_child("hold", "0", "20");
    if (big < 0 || small < 0) {
        end_child(big);
        end_child(small);
        return 1;
    }
    char err[256];
    jb_sampler_config cfg;
    jb_sampler_config_init(&cfg);
    if (argc > 1 && strcmp(argv[1], "libproc2") == 0)
        cfg.reader = JB_READER_LIBPROC2;
    cfg.interval_ms = 200;
    cfg.pss_interval_ms = 0; /* PSS at every sample */
    jb_sampler *s = jb_sampler_new(&cfg, err, sizeof err);
    CHECK(s != NULL, "%s", err);
    CHECK(jb_sampler_add_pids(s, "big", JB_GROUP_SERVICE, &big, 1, err, sizeof err), "%s", err);
    CHECK(jb_sampler_add_pids(s, "small", JB_GROUP_SERVICE, &small, 1, err, sizeof err), "%s", err);
    /* driven by hand: baseline plus three readings */
    for (int i = 0; i < 4; i++) {
        CHECK(jb_sampler_sample_now(s), "sample_now refused");
        sleep_ms(100);
    }
    jb_metric_summary sums[2];
    CHECK(jb_sampler_summaries(s, sums, 2) == 2, "expected two summaries");
    const double expect_kb = 64 * 1024;
    double rss_delta = sums[0].rss_mean_kb - sums[1].rss_mean_kb;
    double pss_delta = sums[0].pss_mean_kb - sums[1].pss_mean_kb;
    printf("rss big %.0f kB small %.0f kB delta %.0f kB; pss delta %.0f kB; expected %.0f\n",
           sums[0].rss_mean_kb, sums[1].rss_mean_kb, rss_delta, pss_delta, expect_kb);
    CHECK(sums[0].samples == 3, "3 samples after the baseline, got %ld", sums[0].samples);
    CHECK(fabs(rss_delta - expect_kb) <= 0.05 * expect_kb, "RSS delta %.0f kB", rss_delta);
    CHECK(fabs(pss_delta - expect_kb) <= 0.05 * expect_kb, "PSS delta %.0f kB", pss_delta);
    CHECK(sums[0].rss_peak_kb >= (int64_t)expect_kb, "peak %lld", (long long)sums[0].rss_peak_kb);
    jb_sampler_free(s);
    end_child(big);
    end_child(small);
    return failures ? 1 : 0;
}
