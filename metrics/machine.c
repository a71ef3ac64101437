/* machine.c - how busy the whole machine is (metrics.h's noise guard). */
#include "metrics/metrics.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool jb_machine_read(jb_machine_times *t)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen("/proc/loadavg", "r");
    bool ok = f && fscanf(f, "%lf", &t->load1) == 1;
    if (f)
        fclose(f);
    unsigned long long v[10] = {0};
    f = fopen("/proc/stat", "r");
    int n = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                       &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9])
              : 0;
    if (f)
        fclose(f);
    /* user nice system idle iowait irq softirq steal (guest time is in user) */
    for (int i = 0; i < 8 && i < n; i++)
        t->total += v[i];
    t->idle = v[3] + v[4];
    t->steal = v[7];
    return ok && n >= 8;
}

void jb_machine_between(const jb_machine_times *a, const jb_machine_times *b, double *idle_pct,
                        double *steal_pct)
{
    double total = b->total > a->total ? (double)(b->total - a->total) : 0;
    *idle_pct = total > 0 ? 100.0 * (double)(b->idle - a->idle) / total : 0;
    *steal_pct = total > 0 ? 100.0 * (double)(b->steal - a->steal) / total : 0;
}

bool jb_machine_busy(double probe_ms, char *why, size_t whylen)
{
    jb_machine_times a, b;
    if (!jb_machine_read(&a))
        return false;
    usleep((useconds_t)(probe_ms * 1000));
    if (!jb_machine_read(&b))
        return false;
    double idle, steal;
    jb_machine_between(&a, &b, &idle, &steal);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    bool busy =
        idle < JB_MACHINE_IDLE_PCT || b.load1 > 0.5 * (double)(cores > 0 ? cores : 1) || steal > 5;
    snprintf(why, whylen,
             "load average %.2f on %ld core(s), %.0f %% CPU free and %.1f %% stolen "
             "over %.1f s",
             b.load1, cores, idle, steal, probe_ms / 1000);
    return busy;
}
