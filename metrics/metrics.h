/* metrics.h - the measurement layer: per-group CPU and memory sampling,
 * runtime daemons, cgroup figures and image sizes (docs/metrics.md).
 *
 * A group is one thing the report plots as one bar: a microservice instance
 * (a native process, a container's processes, the QEMU process of a VM with
 * all its threads) or a runtime daemon (dockerd, libvirtd, ...). A sampler
 * samples all its groups together, at a fixed interval, on a background
 * thread, with libproc2 (procps 4). One sampler covers one iteration of one
 * platform: create it, add groups, start, stop, write summaries, free.
 *
 * Threading: every jb_sampler_* call may be made from any one thread while
 * the sampler thread runs; calls are serialised by the sampler's mutex.
 */
#ifndef JB_METRICS_METRICS_H
#define JB_METRICS_METRICS_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- Samples and summaries ------------------------------------------- */

typedef enum { JB_GROUP_SERVICE, JB_GROUP_RUNTIME } jb_group_kind;

/* "service" or "runtime", as stored in the kind column. */
const char *jb_group_kind_name(jb_group_kind kind);

/* Where a sample's figures came from: "procfs" (libproc2 on /proc), plus
 * ",cgroup2" or ",cgroup1" when the group is a cgroup and its files could be
 * read; "-raw" after the cgroup name when memory.stat had no inactive_file and
 * the cgroup memory figure is the raw usage. */
#define JB_SOURCE_MAX 32

/* One reading of one group. Figures that are unknown are NAN (doubles) or -1
 * (integers) and go into the database as NULL. */
typedef struct jb_metric_sample {
    double t_ms;           /* wall clock, ms since the Unix epoch */
    double interval_s;     /* wall time since this group's previous reading */
    double cpu_pct;        /* user+system ticks over wall time; 100 = one core */
    double cpu_s;          /* CPU seconds used in this interval */
    int64_t rss_kb;        /* sum of the group's resident sets */
    int64_t pss_kb;        /* sum of PSS (smaps_rollup); -1 when not due or unreadable */
    int64_t cgroup_mem_kb; /* cgroup usage minus inactive file (as docker stats) */
    double cgroup_cpu_pct; /* cgroup CPU usage over wall time */
    int nprocs;            /* processes seen in the group at this reading */
    char source[JB_SOURCE_MAX];
} jb_metric_sample;

/* Per group, over one iteration. cpu_mean is time-weighted (CPU seconds over
 * sampled wall seconds), cpu_sd the SD of the per-sample figures. */
typedef struct jb_metric_summary {
    char grp[64];
    jb_group_kind kind;
    long samples;
    double cpu_mean, cpu_sd, cpu_seconds;
    double rss_mean_kb, pss_mean_kb, cgroup_mem_mean_kb, cgroup_cpu_mean;
    int64_t rss_peak_kb, pss_peak_kb, cgroup_mem_peak_kb; /* -1 when never measured */
    char source[JB_SOURCE_MAX];
} jb_metric_summary;

/* ---- The sampler ----------------------------------------------------- */

typedef struct jb_sampler jb_sampler;

/* How every reading gets stat figures. PSS and name scans always use
 * libproc2. STATFD keeps /proc/PID/stat open per process and re-reads it:
 * about a fifth of libproc2's cost per reading (docs/metrics.md). */
typedef enum { JB_READER_STATFD, JB_READER_LIBPROC2 } jb_proc_reader_kind;

typedef struct jb_sampler_config {
    double interval_ms; /* sampling period; default 500 */
    /* PSS makes the kernel walk every page table entry of the process, a cost
     * growing with its size (1.3% of a core at 1 Hz for a Kafka JVM): read it
     * at most this often (default 5000; 0 = every sample). Other samples get
     * pss_kb -1. */
    double pss_interval_ms;
    double name_scan_ms;        /* how often process-name groups rescan /proc (2000) */
    double flush_ms;            /* how often samples are written to the database (2000) */
    const char *cgroup_root;    /* default "/sys/fs/cgroup"; tests point it at fixtures */
    jb_proc_reader_kind reader; /* default JB_READER_STATFD */
    /* Results database; NULL keeps samples in memory only. The sampler opens
     * its own connection, so it never shares a transaction with the caller. */
    const char *db_path;
    const char *run_id, *platform;
    int iteration;
    /* Called on the sampler thread, with the sampler locked, after each
     * reading of each group: print, never call back into the sampler. */
    void (*on_sample)(void *ctx, const char *grp, const jb_metric_sample *sample);
    void *on_sample_ctx;
} jb_sampler_config;

void jb_sampler_config_init(jb_sampler_config *cfg);

/* NULL with a message in err when the configuration is invalid. */
jb_sampler *jb_sampler_new(const jb_sampler_config *cfg, char *err, size_t errlen);
/* Stops the thread if running; does not write summaries. */
void jb_sampler_free(jb_sampler *sampler);

/* Groups. Names are unique per sampler (at most 63 bytes). Each returns false
 * with a reason in err (a PID that does not exist, a duplicate name, a cgroup
 * that is not there) and leaves the sampler unchanged. */

/* Fixed processes; each PID is a process (all its threads count). */
bool jb_sampler_add_pids(jb_sampler *sampler, const char *name, jb_group_kind kind,
                         const pid_t *pids, size_t npids, char *err, size_t errlen);
/* The processes of a cgroup, re-read from cgroup.procs at every sample, plus
 * the cgroup's own memory and CPU figures. path is as in /proc/PID/cgroup
 * (e.g. "/docker/<id>" on cgroup v1, "/system.slice/docker-<id>.scope" on v2). */
bool jb_sampler_add_cgroup(jb_sampler *sampler, const char *name, jb_group_kind kind,
                           const char *path, char *err, size_t errlen);
/* The cgroup that process pid belongs to (a container's init PID, as from
 * the Engine API's State.Pid). */
bool jb_sampler_add_container(jb_sampler *sampler, const char *name, jb_group_kind kind, pid_t pid,
                              char *err, size_t errlen);
/* Every process whose name matches one of the fnmatch(3) patterns, rescanned
 * every name_scan_ms. A pattern matches the kernel's 15-byte command name
 * (comm), or, written "cmdline:PATTERN", the command line joined by spaces. */
bool jb_sampler_add_process_name(jb_sampler *sampler, const char *name, jb_group_kind kind,
                                 const char *const *patterns, size_t npatterns, char *err,
                                 size_t errlen);

enum {
    JB_DAEMONS_DOCKER = 1,  /* dockerd, containerd, containerd-shim (all shims) */
    JB_DAEMONS_LIBVIRT = 2, /* libvirtd, virtlogd, virtqemud */
    JB_DAEMONS_BROKER = 4,  /* a local Kafka broker: cmdline "*kafka.Kafka*" */
};
/* Adds one runtime group per daemon in the set (figure 24). A daemon that is
 * not running records nothing until it appears. Returns false only on a
 * duplicate name. */
bool jb_sampler_add_runtime_daemons(jb_sampler *sampler, unsigned daemons, char *err,
                                    size_t errlen);

/* Stops sampling a group; its samples still count in the summaries. */
bool jb_sampler_remove(jb_sampler *sampler, const char *name);

/* Takes the baseline reading (so the first sample has a CPU figure), opens
 * the database if configured, and starts the thread. */
bool jb_sampler_start(jb_sampler *sampler, char *err, size_t errlen);
/* Takes a last reading (when at least half an interval has passed), stops
 * and joins the thread, and flushes samples to the database. Idempotent. */
bool jb_sampler_stop(jb_sampler *sampler, char *err, size_t errlen);
/* One reading of every group now, on the calling thread; only while the
 * sampler is not running (tests, and callers that drive the clock). */
bool jb_sampler_sample_now(jb_sampler *sampler);

/* Copies up to max samples of group grp into out (oldest first); returns the
 * total number of samples the group has (which may exceed max). */
size_t jb_sampler_samples(jb_sampler *sampler, const char *grp, jb_metric_sample *out, size_t max);
/* True when every process of the group exited (or its cgroup went away), so
 * its series ended; false while it is sampled and for unknown names. */
bool jb_sampler_group_ended(jb_sampler *sampler, const char *grp);
/* Summaries of every group with at least one sample, in the order the groups
 * were added; returns how many (may exceed max). */
size_t jb_sampler_summaries(jb_sampler *sampler, jb_metric_summary *out, size_t max);
/* Writes those summaries into metric_summaries (replacing earlier rows for
 * the same run, platform, iteration and group). Needs db_path. */
bool jb_sampler_write_summaries(jb_sampler *sampler, char *err, size_t errlen);
/* CPU time the sampler thread itself has used, and the wall time it ran:
 * the sampler's overhead is the one over the other. */
void jb_sampler_overhead(jb_sampler *sampler, double *cpu_s, double *wall_s);

/* ---- One process ------------------------------------------------------ */

/* The start time of pid (clock ticks after boot, field 22 of
 * /proc/PID/stat): with the boot id it names a process uniquely, even after
 * its PID is reused. False when the process does not exist. */
bool jb_process_start_time(pid_t pid, unsigned long long *ticks);

/* ---- cgroup figures (exposed for platforms and tests) ----------------- */

typedef struct jb_cgroup {
    int version; /* 1 or 2 */
    char procs_path[4200];
    char mem_dir[4096]; /* holds memory.current / memory.usage_in_bytes and memory.stat */
    char cpu_dir[4096]; /* holds cpu.stat (v2) / cpuacct.usage (v1) */
} jb_cgroup;

typedef struct jb_cgroup_reading {
    bool has_mem, has_cpu;
    bool mem_raw;         /* inactive_file missing: mem_bytes is the raw usage */
    uint64_t mem_bytes;   /* usage minus inactive file */
    uint64_t usage_bytes; /* memory.current / memory.usage_in_bytes */
    uint64_t cpu_usec;    /* cpu.stat usage_usec / cpuacct.usage (ns) / 1000 */
} jb_cgroup_reading;

/* Resolves path (as in /proc/PID/cgroup) under root ("/sys/fs/cgroup"),
 * telling v1 (a memory controller folder under root) from v2
 * (root/cgroup.controllers). False with a reason when the cgroup is missing. */
bool jb_cgroup_open(jb_cgroup *cg, const char *root, const char *path, char *err, size_t errlen);
/* The cgroup path of pid for the memory controller (v1) or the unified
 * hierarchy (v2), read from /proc/PID/cgroup. */
bool jb_cgroup_of_pid(pid_t pid, char *path, size_t pathlen, char *err, size_t errlen);
/* Reads the memory and CPU figures; a missing file leaves has_* false. */
void jb_cgroup_read(const jb_cgroup *cg, jb_cgroup_reading *out);
/* Reads cgroup.procs into pids (up to max); returns the count, or -1 when the
 * file cannot be read (the cgroup was removed). */
long jb_cgroup_procs(const jb_cgroup *cg, pid_t *pids, size_t max);

/* ---- Command --------------------------------------------------------- */

/* jungbench metrics: sample PIDs, cgroups or daemons and print a table. */
/* ---- how busy the machine is (noise guard) ------------------------------ */

/* /proc/loadavg's 1-minute load and /proc/stat's CPU time of all cores. */
typedef struct jb_machine_times {
    double load1;
    unsigned long long total, idle, steal; /* clock ticks, all CPUs */
} jb_machine_times;
bool jb_machine_read(jb_machine_times *t);
/* The share of CPU time between two readings that was idle, and stolen
 * by the hypervisor, in %. */
void jb_machine_between(const jb_machine_times *a, const jb_machine_times *b, double *idle_pct,
                        double *steal_pct);
/* Below this share of free CPU an iteration ran on a busy machine. */
#define JB_MACHINE_IDLE_PCT 80.0
/* Probes probe_ms: true when the machine is not idle (free CPU below
 * JB_MACHINE_IDLE_PCT, load average over half the cores, or steal over
 * 5 %); why says the figures either way. */
bool jb_machine_busy(double probe_ms, char *why, size_t whylen);

int metrics_main(int argc, char **argv);

#endif
