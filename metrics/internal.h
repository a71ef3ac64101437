/* internal.h - private to metrics/: the libproc2 reader and the sampler's
 * state, shared by sampler.c, procs.c and series.c. */
#ifndef JB_METRICS_INTERNAL_H
#define JB_METRICS_INTERNAL_H

#include "metrics/metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- procs.c: reading /proc through libproc2 ---- */

/* One process at one reading. */
typedef struct proc_stat {
    pid_t pid;
    char state;               /* 'Z' and 'X' count as exited */
    unsigned long long began; /* start time, ticks since boot */
    unsigned long long ticks; /* utime + stime, all threads */
    int64_t rss_kb;
    int64_t pss_kb; /* -1 when not read or unreadable */
} proc_stat;

/* statfd.c: /proc/PID/stat on kept descriptors, sorted by PID. */
typedef struct statfd {
    pid_t pid;
    int fd;
} statfd;
typedef struct statfd_cache {
    statfd *e;
    size_t n, cap;
    long page_kb;
} statfd_cache;
/* Reads the given PIDs (sorted, unique) into out (sorted); exited ones are
 * absent and their descriptors closed. */
size_t statfd_read(statfd_cache *c, const pid_t *pids, size_t npids, proc_stat *out);
void statfd_close_all(statfd_cache *c);
bool statfd_parse(const char *buf, long page_kb, proc_stat *out);

typedef struct proc_reader {
    struct pids_info *fast;  /* stat: every reading */
    struct pids_info *pss;   /* stat + smaps_rollup: when PSS is due */
    struct pids_info *names; /* comm (+ cmdline) of every process: name scans */
    bool names_cmdline;
    long hz;
    long page_kb;
    jb_proc_reader_kind kind;
    statfd_cache fds;
} proc_reader;

bool proc_reader_init(proc_reader *r, jb_proc_reader_kind kind, char *err, size_t errlen);
void proc_reader_free(proc_reader *r);
/* Reads the given PIDs (sorted, unique) into out, sorted by PID; returns the
 * number found (exited processes are absent). */
size_t proc_read(proc_reader *r, const pid_t *pids, size_t npids, bool want_pss, proc_stat *out);
/* The same through libproc2 alone, leaving the descriptor cache alone: for
 * checking PIDs when a group is added. */
size_t proc_lookup(proc_reader *r, const pid_t *pids, size_t npids, bool want_pss, proc_stat *out);
/* Binary search in a proc_read result. */
const proc_stat *proc_find(const proc_stat *table, size_t n, pid_t pid);

/* One process seen by a name scan. */
typedef struct proc_name {
    pid_t pid;
    char comm[64];
    char *cmdline; /* NULL unless a pattern asks for cmdline: */
} proc_name;
/* Every process on the machine; caller frees with proc_names_free. */
size_t proc_scan_names(proc_reader *r, bool with_cmdline, proc_name **out);
void proc_names_free(proc_name *names, size_t n);
bool proc_name_matches(const proc_name *p, const char *pattern);

/* ---- the sampler ---- */

typedef enum { SRC_PIDS, SRC_CGROUP, SRC_NAMES } group_source;

/* A process's last reading, to turn cumulative ticks into a delta. */
typedef struct proc_prev {
    pid_t pid;
    unsigned long long began, ticks;
} proc_prev;

typedef struct group {
    char name[64];
    jb_group_kind kind;
    group_source src;
    bool ended, removed, seen_procs;
    /* members: fixed for SRC_PIDS (with their start times, against PID
     * reuse), refreshed at each reading for the others */
    pid_t *pids;
    unsigned long long *began;
    size_t npids, cap_pids;
    jb_cgroup cg;
    char **patterns;
    size_t npatterns;
    /* the previous reading */
    bool primed, cg_primed;
    double prev_mono_ms;
    unsigned long long prev_boot_ticks;
    uint64_t prev_cg_usec;
    proc_prev *prev;
    size_t nprev;
    /* the series */
    jb_metric_sample *samples;
    size_t nsamples, cap_samples, flushed;
} group;

struct jb_sampler {
    jb_sampler_config cfg;
    char cgroup_root[4096], db_path[4096], run_id[128], platform[128];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stop_flag, store_open;
    group **groups;
    size_t ngroups;
    proc_reader reader;
    double last_reading_ms, last_pss_ms, last_scan_ms, last_flush_ms;
    long nreadings;
    double start_mono_ms, stop_mono_ms, self_cpu_s;
    jb_store store;
    jb_store_metric_samples samples_writer;
};

/* ---- series.c: summaries and the database ---- */

bool series_append(group *g, const jb_metric_sample *sample);
void series_summary(const group *g, jb_metric_summary *out);
bool series_open_store(jb_sampler *s, char *err, size_t errlen);
/* Writes every group's unflushed samples in one transaction. */
bool series_flush(jb_sampler *s, bool final, char *err, size_t errlen);
bool series_write_summaries(jb_sampler *s, char *err, size_t errlen);
void series_close_store(jb_sampler *s);

#endif
