/* sampler.c - groups of processes sampled together on a background thread.
 *
 * Every reading reads all groups' processes in one pass (procs.c), so N
 * groups cost one read of each of their PIDs, not N. CPU comes from
 * cumulative user+system ticks: each process's delta since the previous
 * reading, with a process that started since then counted from its start,
 * and one seen for the first time in a group counted from now on. */
#include "metrics/internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

const char *jb_group_kind_name(jb_group_kind kind)
{
    return kind == JB_GROUP_RUNTIME ? "runtime" : "service";
}

void jb_sampler_config_init(jb_sampler_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->interval_ms = 500;
    cfg->pss_interval_ms = 5000;
    cfg->name_scan_ms = 2000;
    cfg->flush_ms = 2000;
    cfg->cgroup_root = "/sys/fs/cgroup";
    cfg->run_id = "standalone";
    cfg->platform = "native";
    cfg->iteration = 1;
}

static bool check_config(const jb_sampler_config *cfg, char *err, size_t errlen)
{
    if (!(cfg->interval_ms >= 10 && cfg->interval_ms <= 3600e3)) {
        snprintf(err, errlen, "interval %g ms is out of range: use 10 ms to 1 hour",
                 cfg->interval_ms);
        return false;
    }
    if (!(cfg->pss_interval_ms >= 0) || !(cfg->name_scan_ms >= 0) || !(cfg->flush_ms >= 0)) {
        snprintf(err, errlen, "pss, name-scan and flush intervals must be 0 or more ms");
        return false;
    }
    return true;
}

jb_sampler *jb_sampler_new(const jb_sampler_config *cfg, char *err, size_t errlen)
{
    if (!check_config(cfg, err, errlen))
        return NULL;
    jb_sampler *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    snprintf(s->cgroup_root, sizeof s->cgroup_root, "%s",
             cfg->cgroup_root ? cfg->cgroup_root : "/sys/fs/cgroup");
    snprintf(s->db_path, sizeof s->db_path, "%s", cfg->db_path ? cfg->db_path : "");
    snprintf(s->run_id, sizeof s->run_id, "%s", cfg->run_id ? cfg->run_id : "standalone");
    snprintf(s->platform, sizeof s->platform, "%s", cfg->platform ? cfg->platform : "native");
    /* the config's strings belong to the caller: point at our copies */
    s->cfg.cgroup_root = s->cgroup_root;
    s->cfg.db_path = s->db_path[0] ? s->db_path : NULL;
    s->cfg.run_id = s->run_id;
    s->cfg.platform = s->platform;
    if (!proc_reader_init(&s->reader, cfg->reader, err, errlen)) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    return s;
}

static void group_free(group *g)
{
    for (size_t i = 0; i < g->npatterns; i++)
        free(g->patterns[i]);
    free(g->patterns);
    free(g->pids);
    free(g->began);
    free(g->prev);
    free(g->samples);
    free(g);
}

void jb_sampler_free(jb_sampler *s)
{
    if (!s)
        return;
    jb_sampler_stop(s, NULL, 0);
    series_close_store(s);
    for (size_t i = 0; i < s->ngroups; i++)
        group_free(s->groups[i]);
    free(s->groups);
    proc_reader_free(&s->reader);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- groups ---- */

static group *find_group(jb_sampler *s, const char *name)
{
    for (size_t i = 0; i < s->ngroups; i++)
        if (strcmp(s->groups[i]->name, name) == 0)
            return s->groups[i];
    return NULL;
}

static bool set_members(group *g, const pid_t *pids, size_t n)
{
    if (n > g->cap_pids) {
        size_t cap = n + 16;
        pid_t *p = realloc(g->pids, cap * sizeof *p);
        if (!p)
            return false;
        g->pids = p;
        unsigned long long *b = realloc(g->began, cap * sizeof *b);
        if (!b)
            return false;
        g->began = b;
        g->cap_pids = cap;
    }
    if (n)
        memcpy(g->pids, pids, n * sizeof *pids);
    g->npids = n;
    return true;
}

static group *new_group(jb_sampler *s, const char *name, jb_group_kind kind, group_source src,
                        char *err, size_t errlen)
{
    if (!name || !name[0] || strlen(name) >= sizeof((group *)0)->name) {
        snprintf(err, errlen, "group name '%s' must be 1 to 63 bytes", name ? name : "");
        return NULL;
    }
    if (find_group(s, name)) {
        snprintf(err, errlen, "a group named '%s' already exists", name);
        return NULL;
    }
    group *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(g->name, sizeof g->name, "%s", name);
    g->kind = kind;
    g->src = src;
    return g;
}

static bool attach_group(jb_sampler *s, group *g, char *err, size_t errlen)
{
    group **gs = realloc(s->groups, (s->ngroups + 1) * sizeof *gs);
    if (!gs) {
        snprintf(err, errlen, "out of memory");
        group_free(g);
        return false;
    }
    s->groups = gs;
    s->groups[s->ngroups++] = g;
    return true;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

static size_t sort_unique(pid_t *pids, size_t n)
{
    if (n == 0)
        return 0;
    qsort(pids, n, sizeof *pids, cmp_pid);
    size_t out = 1;
    for (size_t i = 1; i < n; i++)
        if (pids[i] != pids[out - 1])
            pids[out++] = pids[i];
    return out;
}

/* Checks every PID is a live process now and remembers its start time, so
 * a PID reused later by an unrelated process is not mistaken for it. */
static bool resolve_pids(jb_sampler *s, group *g, const pid_t *pids, size_t n, char *err,
                         size_t errlen)
{
    pid_t *sorted = malloc((n ? n : 1) * sizeof *sorted);
    proc_stat *found = malloc((n ? n : 1) * sizeof *found);
    bool ok = sorted && found;
    if (ok) {
        memcpy(sorted, pids, n * sizeof *pids);
        n = sort_unique(sorted, n);
        size_t nfound = proc_lookup(&s->reader, sorted, n, false, found);
        for (size_t i = 0; ok && i < n; i++) {
            const proc_stat *p = proc_find(found, nfound, sorted[i]);
            if (!p || p->state == 'Z' || p->state == 'X') {
                snprintf(err, errlen, "PID %d: %s", (int)sorted[i],
                         p ? "the process has exited (zombie)" : "no such process");
                ok = false;
            }
        }
        ok = ok && set_members(g, sorted, n);
        for (size_t i = 0; ok && i < n; i++)
            g->began[i] = proc_find(found, nfound, sorted[i])->began;
    } else {
        snprintf(err, errlen, "out of memory");
    }
    free(sorted);
    free(found);
    return ok;
}

bool jb_sampler_add_pids(jb_sampler *s, const char *name, jb_group_kind kind, const pid_t *pids,
                         size_t npids, char *err, size_t errlen)
{
    if (npids == 0) {
        snprintf(err, errlen, "group '%s' needs at least one PID", name ? name : "");
        return false;
    }
    for (size_t i = 0; i < npids; i++)
        if (pids[i] <= 0) {
            snprintf(err, errlen, "PID %d is not a process ID (must be positive)", (int)pids[i]);
            return false;
        }
    pthread_mutex_lock(&s->mu);
    group *g = new_group(s, name, kind, SRC_PIDS, err, errlen);
    bool ok = g && resolve_pids(s, g, pids, npids, err, errlen);
    if (g && !ok)
        group_free(g);
    ok = ok && attach_group(s, g, err, errlen);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool jb_sampler_add_cgroup(jb_sampler *s, const char *name, jb_group_kind kind, const char *path,
                           char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    group *g = new_group(s, name, kind, SRC_CGROUP, err, errlen);
    bool ok = g && jb_cgroup_open(&g->cg, s->cgroup_root, path, err, errlen);
    if (g && !ok)
        group_free(g);
    ok = ok && attach_group(s, g, err, errlen);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool jb_sampler_add_container(jb_sampler *s, const char *name, jb_group_kind kind, pid_t pid,
                              char *err, size_t errlen)
{
    char path[4096];
    if (pid <= 0) {
        snprintf(err, errlen, "PID %d is not a process ID (must be positive)", (int)pid);
        return false;
    }
    if (!jb_cgroup_of_pid(pid, path, sizeof path, err, errlen))
        return false;
    return jb_sampler_add_cgroup(s, name, kind, path, err, errlen);
}

bool jb_sampler_add_process_name(jb_sampler *s, const char *name, jb_group_kind kind,
                                 const char *const *patterns, size_t npatterns, char *err,
                                 size_t errlen)
{
    if (npatterns == 0) {
        snprintf(err, errlen, "group '%s' needs at least one name pattern", name ? name : "");
        return false;
    }
    pthread_mutex_lock(&s->mu);
    group *g = new_group(s, name, kind, SRC_NAMES, err, errlen);
    bool ok = g && (g->patterns = calloc(npatterns, sizeof *g->patterns)) != NULL;
    for (size_t i = 0; ok && i < npatterns; i++) {
        ok = patterns[i] && patterns[i][0] && (g->patterns[i] = strdup(patterns[i])) != NULL;
        g->npatterns += ok;
    }
    if (g && !ok) {
        snprintf(err, errlen, "group '%s': empty name pattern or out of memory", name);
        group_free(g);
    }
    /* scan at the next reading, whatever the scan period */
    s->last_scan_ms = ok ? 0 : s->last_scan_ms;
    ok = ok && attach_group(s, g, err, errlen);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool jb_sampler_add_runtime_daemons(jb_sampler *s, unsigned daemons, char *err, size_t errlen)
{
    static const struct {
        unsigned set;
        const char *name, *pattern;
    } table[] = {
        {JB_DAEMONS_DOCKER, "dockerd", "dockerd"},
        {JB_DAEMONS_DOCKER, "containerd", "containerd"},
        /* comm is cut at 15 bytes: containerd-shim-runc-v2 shows as containerd-shim */
        {JB_DAEMONS_DOCKER, "containerd-shim", "containerd-shim*"},
        {JB_DAEMONS_LIBVIRT, "libvirtd", "libvirtd"},
        {JB_DAEMONS_LIBVIRT, "virtlogd", "virtlogd"},
        {JB_DAEMONS_LIBVIRT, "virtqemud", "virtqemud"},
        {JB_DAEMONS_BROKER, "broker", "cmdline:*kafka.Kafka*"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!(daemons & table[i].set))
            continue;
        const char *pattern = table[i].pattern;
        if (!jb_sampler_add_process_name(s, table[i].name, JB_GROUP_RUNTIME, &pattern, 1, err,
                                         errlen))
            return false;
    }
    return true;
}

bool jb_sampler_remove(jb_sampler *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    group *g = find_group(s, name);
    if (g)
        g->removed = true;
    pthread_mutex_unlock(&s->mu);
    return g != NULL;
}

/* ---- one reading ---- */

static bool group_active(const group *g)
{
    return !g->ended && !g->removed;
}

static bool any_cmdline_pattern(jb_sampler *s)
{
    for (size_t i = 0; i < s->ngroups; i++)
        for (size_t j = 0; group_active(s->groups[i]) && j < s->groups[i]->npatterns; j++)
            if (strncmp(s->groups[i]->patterns[j], "cmdline:", 8) == 0)
                return true;
    return false;
}

static void refresh_name_groups(jb_sampler *s, double now_ms)
{
    bool have = false;
    for (size_t i = 0; i < s->ngroups; i++)
        have |= s->groups[i]->src == SRC_NAMES && group_active(s->groups[i]);
    if (!have || (s->last_scan_ms > 0 && now_ms - s->last_scan_ms < s->cfg.name_scan_ms))
        return;
    s->last_scan_ms = now_ms;
    proc_name *names = NULL;
    size_t n = proc_scan_names(&s->reader, any_cmdline_pattern(s), &names);
    pid_t *match = malloc((n ? n : 1) * sizeof *match);
    for (size_t i = 0; match && i < s->ngroups; i++) {
        group *g = s->groups[i];
        if (g->src != SRC_NAMES || !group_active(g))
            continue;
        size_t m = 0;
        for (size_t k = 0; k < n; k++)
            for (size_t j = 0; j < g->npatterns; j++)
                if (proc_name_matches(&names[k], g->patterns[j])) {
                    match[m++] = names[k].pid;
                    break;
                }
        m = sort_unique(match, m);
        if (set_members(g, match, m) && m)
            memset(g->began, 0, m * sizeof *g->began);
    }
    free(match);
    proc_names_free(names, n);
}

/* A cgroup's members are whatever cgroup.procs says now; a cgroup that is
 * gone (container removed) or emptied after it had processes has ended. */
static void refresh_cgroup_group(group *g)
{
    pid_t pids[4096];
    long n = jb_cgroup_procs(&g->cg, pids, sizeof pids / sizeof pids[0]);
    if (n < 0 || (n == 0 && g->seen_procs)) {
        g->ended = true;
        return;
    }
    size_t m = sort_unique(pids, (size_t)n);
    if (set_members(g, pids, m) && m)
        memset(g->began, 0, m * sizeof *g->began);
}

/* Every active group's PIDs, sorted and unique, for one libproc2 pass. */
static size_t collect_pids(jb_sampler *s, pid_t **out)
{
    size_t total = 0;
    for (size_t i = 0; i < s->ngroups; i++)
        total += group_active(s->groups[i]) ? s->groups[i]->npids : 0;
    pid_t *all = malloc((total ? total : 1) * sizeof *all);
    size_t n = 0;
    for (size_t i = 0; all && i < s->ngroups; i++) {
        const group *g = s->groups[i];
        if (group_active(g) && g->npids) {
            memcpy(all + n, g->pids, g->npids * sizeof *all);
            n += g->npids;
        }
    }
    *out = all;
    return all ? sort_unique(all, n) : 0;
}

typedef struct reading {
    double mono_ms, wall_ms;
    unsigned long long boot_ticks;
    bool pss_due;
    const proc_stat *procs;
    size_t nprocs;
} reading;

static const proc_prev *find_prev(const group *g, pid_t pid, unsigned long long began)
{
    for (size_t i = 0; i < g->nprev; i++)
        if (g->prev[i].pid == pid && g->prev[i].began == began)
            return &g->prev[i];
    return NULL;
}

/* Sums the group's live processes into sample; returns the tick delta, and
 * replaces g->prev with this reading. */
static unsigned long long sum_procs(group *g, const reading *r, jb_metric_sample *sample)
{
    proc_prev *next = malloc((g->npids ? g->npids : 1) * sizeof *next);
    size_t nnext = 0;
    unsigned long long delta = 0;
    bool pss_ok = r->pss_due;
    sample->rss_kb = 0;
    sample->pss_kb = 0;
    for (size_t i = 0; next && i < g->npids; i++) {
        const proc_stat *p = proc_find(r->procs, r->nprocs, g->pids[i]);
        if (!p || p->state == 'Z' || p->state == 'X')
            continue;
        if (g->began[i] && g->began[i] != p->began)
            continue; /* the PID now belongs to another process */
        sample->nprocs++;
        sample->rss_kb += p->rss_kb;
        if (p->pss_kb < 0)
            pss_ok = false;
        else
            sample->pss_kb += p->pss_kb;
        const proc_prev *prev = find_prev(g, p->pid, p->began);
        if (prev)
            delta += p->ticks >= prev->ticks ? p->ticks - prev->ticks : 0;
        else if (g->primed && p->began >= g->prev_boot_ticks)
            delta += p->ticks; /* started since the last reading */
        next[nnext++] = (proc_prev){p->pid, p->began, p->ticks};
    }
    if (!pss_ok)
        sample->pss_kb = -1;
    free(g->prev);
    g->prev = next;
    g->nprev = next ? nnext : 0;
    return delta;
}

static void add_cgroup_figures(group *g, double interval_s, jb_metric_sample *sample)
{
    jb_cgroup_reading cr;
    jb_cgroup_read(&g->cg, &cr);
    if (cr.has_mem)
        sample->cgroup_mem_kb = (int64_t)(cr.mem_bytes / 1024);
    if (cr.has_cpu) {
        if (g->cg_primed && interval_s > 0 && cr.cpu_usec >= g->prev_cg_usec)
            sample->cgroup_cpu_pct =
                (double)(cr.cpu_usec - g->prev_cg_usec) / (interval_s * 1e6) * 100.0;
        g->prev_cg_usec = cr.cpu_usec;
        g->cg_primed = true;
    }
    if (cr.has_mem || cr.has_cpu)
        snprintf(sample->source, sizeof sample->source, "procfs,cgroup%d%s", g->cg.version,
                 cr.has_mem && cr.mem_raw ? "-raw" : "");
}

static void read_group(jb_sampler *s, group *g, const reading *r, long hz)
{
    jb_metric_sample sample = {
        .t_ms = r->wall_ms, .cgroup_mem_kb = -1, .cgroup_cpu_pct = NAN, .source = "procfs"};
    sample.interval_s = g->primed ? (r->mono_ms - g->prev_mono_ms) / 1e3 : 0;
    unsigned long long delta = sum_procs(g, r, &sample);
    if (sample.nprocs == 0) {
        /* fixed PIDs all gone, or an emptied cgroup: the series ends here */
        if (g->src == SRC_PIDS || (g->src == SRC_CGROUP && g->seen_procs))
            g->ended = true;
        g->primed = false; /* a name group that comes back starts a new baseline */
        return;
    }
    g->seen_procs = true;
    if (g->src == SRC_CGROUP)
        add_cgroup_figures(g, sample.interval_s, &sample);
    bool emit = g->primed && sample.interval_s > 0;
    g->primed = true;
    g->prev_mono_ms = r->mono_ms;
    g->prev_boot_ticks = r->boot_ticks;
    if (!emit)
        return; /* the baseline: ticks so far are not this run's */
    sample.cpu_s = (double)delta / (double)hz;
    sample.cpu_pct = sample.cpu_s / sample.interval_s * 100.0;
    if (series_append(g, &sample) && s->cfg.on_sample)
        s->cfg.on_sample(s->cfg.on_sample_ctx, g->name, &sample);
}

/* Caller holds the lock. */
static void take_reading(jb_sampler *s)
{
    reading r = {.mono_ms = clock_ms(CLOCK_MONOTONIC), .wall_ms = clock_ms(CLOCK_REALTIME)};
    r.boot_ticks = (unsigned long long)(clock_ms(CLOCK_BOOTTIME) / 1e3 * (double)s->reader.hz);
    /* not at the baseline (it records nothing); half an interval of slack,
     * so jitter does not skip a due PSS reading */
    r.pss_due = s->nreadings > 0 &&
                (s->last_pss_ms <= 0 ||
                 r.mono_ms - s->last_pss_ms >= s->cfg.pss_interval_ms - s->cfg.interval_ms / 2);
    s->nreadings++;
    refresh_name_groups(s, r.mono_ms);
    for (size_t i = 0; i < s->ngroups; i++)
        if (s->groups[i]->src == SRC_CGROUP && group_active(s->groups[i]))
            refresh_cgroup_group(s->groups[i]);
    pid_t *pids = NULL;
    size_t npids = collect_pids(s, &pids);
    proc_stat *procs = malloc((npids ? npids : 1) * sizeof *procs);
    if (pids && procs) {
        r.procs = procs;
        r.nprocs = proc_read(&s->reader, pids, npids, r.pss_due, procs);
        for (size_t i = 0; i < s->ngroups; i++)
            if (group_active(s->groups[i]))
                read_group(s, s->groups[i], &r, s->reader.hz);
        if (r.pss_due)
            s->last_pss_ms = r.mono_ms;
    }
    free(pids);
    free(procs);
    s->last_reading_ms = r.mono_ms;
}

bool jb_sampler_sample_now(jb_sampler *s)
{
    pthread_mutex_lock(&s->mu);
    bool ok = !s->running;
    if (ok) {
        if (s->start_mono_ms <= 0)
            s->start_mono_ms = clock_ms(CLOCK_MONOTONIC);
        take_reading(s);
        s->stop_mono_ms = s->last_reading_ms;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* ---- the thread ---- */

static struct timespec to_timespec(double ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1e3);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1e3) * 1e6);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void maybe_flush(jb_sampler *s, double now_ms)
{
    if (!s->store_open || now_ms - s->last_flush_ms < s->cfg.flush_ms)
        return;
    /* a busy database is retried at the next flush; samples stay queued */
    if (series_flush(s, false, NULL, 0))
        s->last_flush_ms = now_ms;
}

static void *sampler_thread(void *arg)
{
    jb_sampler *s = arg;
    pthread_mutex_lock(&s->mu);
    double next = s->last_reading_ms + s->cfg.interval_ms;
    while (!s->stop_flag) {
        struct timespec until = to_timespec(next);
        int rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
        if (s->stop_flag)
            break;
        double now = clock_ms(CLOCK_MONOTONIC);
        if (rc != ETIMEDOUT && now < next)
            continue; /* woken early (a new group, a spurious wake-up) */
        take_reading(s);
        next += s->cfg.interval_ms;
        if (next <= now) /* fell behind (a stalled machine): skip, do not burst */
            next = now + s->cfg.interval_ms;
        maybe_flush(s, now);
        s->self_cpu_s = clock_ms(CLOCK_THREAD_CPUTIME_ID) / 1e3;
    }
    s->self_cpu_s = clock_ms(CLOCK_THREAD_CPUTIME_ID) / 1e3;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

bool jb_sampler_start(jb_sampler *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    bool ok = !s->running;
    if (!ok)
        snprintf(err, errlen, "the sampler is already running");
    if (ok && s->cfg.db_path && !s->store_open)
        ok = series_open_store(s, err, errlen);
    if (ok) {
        s->start_mono_ms = clock_ms(CLOCK_MONOTONIC);
        s->last_flush_ms = s->start_mono_ms;
        take_reading(s); /* baseline */
        s->stop_flag = false;
        int rc = pthread_create(&s->thread, NULL, sampler_thread, s);
        ok = rc == 0;
        if (!ok)
            snprintf(err, errlen, "cannot start the sampler thread: %s", strerror(rc));
        s->running = ok;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool jb_sampler_stop(jb_sampler *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    bool was_running = s->running;
    s->stop_flag = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (!was_running)
        return true;
    pthread_join(s->thread, NULL);
    pthread_mutex_lock(&s->mu);
    s->running = false;
    double now = clock_ms(CLOCK_MONOTONIC);
    if (now - s->last_reading_ms >= s->cfg.interval_ms / 2)
        take_reading(s);
    s->stop_mono_ms = s->last_reading_ms;
    bool ok = !s->store_open || series_flush(s, true, err, errlen);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* ---- results ---- */

size_t jb_sampler_samples(jb_sampler *s, const char *grp, jb_metric_sample *out, size_t max)
{
    pthread_mutex_lock(&s->mu);
    const group *g = find_group(s, grp);
    size_t n = g ? g->nsamples : 0;
    if (g && out && max && n)
        memcpy(out, g->samples, (n < max ? n : max) * sizeof *out);
    pthread_mutex_unlock(&s->mu);
    return n;
}

bool jb_sampler_group_ended(jb_sampler *s, const char *grp)
{
    pthread_mutex_lock(&s->mu);
    const group *g = find_group(s, grp);
    bool ended = g && g->ended;
    pthread_mutex_unlock(&s->mu);
    return ended;
}

size_t jb_sampler_summaries(jb_sampler *s, jb_metric_summary *out, size_t max)
{
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (size_t i = 0; i < s->ngroups; i++) {
        if (s->groups[i]->nsamples == 0)
            continue;
        if (out && n < max)
            series_summary(s->groups[i], &out[n]);
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

bool jb_sampler_write_summaries(jb_sampler *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    bool ok = true;
    if (!s->cfg.db_path) {
        snprintf(err, errlen, "no results database configured (db_path)");
        ok = false;
    }
    if (ok && !s->store_open)
        ok = series_open_store(s, err, errlen);
    ok = ok && (s->running || series_flush(s, true, err, errlen));
    ok = ok && series_write_summaries(s, err, errlen);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void jb_sampler_overhead(jb_sampler *s, double *cpu_s, double *wall_s)
{
    pthread_mutex_lock(&s->mu);
    double end = s->running ? clock_ms(CLOCK_MONOTONIC) : s->stop_mono_ms;
    *cpu_s = s->self_cpu_s;
    *wall_s = s->start_mono_ms > 0 && end > s->start_mono_ms ? (end - s->start_mono_ms) / 1e3 : 0;
    pthread_mutex_unlock(&s->mu);
}
