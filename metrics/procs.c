/* procs.c - per-process figures from /proc through libproc2 (procps 4).
 *
 * Two pids_info handles, because their costs differ tenfold: the fast one
 * reads stat and statm (ticks, start time, state, resident set) at every
 * reading; the PSS one reads smaps_rollup, for which the kernel walks the
 * process's page tables, only when PSS is due. */
#include "metrics/internal.h"

#include <fnmatch.h>
#include <libproc2/misc.h>
#include <libproc2/pids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum fast_rel { F_PID, F_STATE, F_BEGAN, F_TICKS, F_RSS };
static enum pids_item fast_items[] = {PIDS_ID_PID, PIDS_STATE, PIDS_TICS_BEGAN, PIDS_TICS_ALL,
                                      PIDS_MEM_RES};
enum pss_rel { P_PID, P_PSS, P_RSS };
static enum pids_item pss_items[] = {PIDS_ID_PID, PIDS_SMAP_PSS, PIDS_MEM_RES};
enum name_rel { N_PID, N_CMD, N_CMDLINE };
static enum pids_item name_items[] = {PIDS_ID_PID, PIDS_CMD, PIDS_CMDLINE};

/* procps_pids_select refuses lists longer than its internal limit (between
 * 128 and 255 in procps 4.0.2), so larger sets go in chunks. */
#define SELECT_CHUNK 128

#define N_ITEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

#if defined(__SANITIZE_ADDRESS__)
/* libproc2 (procps 4.0.2 readproc.c) gives every thread that reads /proc two
 * 128 KiB __thread buffers it never frees: a bounded 256 KiB per sampler
 * thread, not a growing leak, and not ours to fix. Tell LeakSanitizer, for
 * every program that links the sampler. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libproc2.so\n";
}
#endif

bool proc_reader_init(proc_reader *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->hz = procps_hertz_get();
    if (r->hz <= 0)
        r->hz = 100;
    if (procps_pids_new(&r->fast, fast_items, N_ITEMS(fast_items)) < 0 ||
        procps_pids_new(&r->pss, pss_items, N_ITEMS(pss_items)) < 0) {
        snprintf(err, errlen, "libproc2 cannot read /proc (procps_pids_new failed)");
        proc_reader_free(r);
        return false;
    }
    return true;
}

void proc_reader_free(proc_reader *r)
{
    if (r->fast)
        procps_pids_unref(&r->fast);
    if (r->pss)
        procps_pids_unref(&r->pss);
    if (r->names)
        procps_pids_unref(&r->names);
    r->fast = r->pss = r->names = NULL;
}

static int cmp_stat(const void *a, const void *b)
{
    pid_t x = ((const proc_stat *)a)->pid, y = ((const proc_stat *)b)->pid;
    return (x > y) - (x < y);
}

const proc_stat *proc_find(const proc_stat *table, size_t n, pid_t pid)
{
    proc_stat key = {.pid = pid};
    return bsearch(&key, table, n, sizeof *table, cmp_stat);
}

static size_t read_fast(proc_reader *r, unsigned *ids, int n, proc_stat *out)
{
    struct pids_fetch *f = procps_pids_select(r->fast, ids, n, PIDS_SELECT_PID);
    if (!f)
        return 0;
    size_t found = 0;
    for (int i = 0; i < f->counts->total; i++) {
        struct pids_stack *st = f->stacks[i];
        proc_stat *p = &out[found++];
        p->pid = PIDS_VAL(F_PID, s_int, st, r->fast);
        p->state = PIDS_VAL(F_STATE, s_ch, st, r->fast);
        p->began = PIDS_VAL(F_BEGAN, ull_int, st, r->fast);
        p->ticks = PIDS_VAL(F_TICKS, ull_int, st, r->fast);
        p->rss_kb = (int64_t)PIDS_VAL(F_RSS, ul_int, st, r->fast);
        p->pss_kb = -1;
    }
    return found;
}

/* libproc2 reports PSS 0 when smaps_rollup cannot be read (another user's
 * process, or one holding capabilities we lack). A process with resident
 * pages has a positive PSS, so 0 next to a non-zero RSS means "unreadable". */
static void read_pss(proc_reader *r, unsigned *ids, int n, proc_stat *table, size_t ntable)
{
    struct pids_fetch *f = procps_pids_select(r->pss, ids, n, PIDS_SELECT_PID);
    if (!f)
        return;
    for (int i = 0; i < f->counts->total; i++) {
        struct pids_stack *st = f->stacks[i];
        proc_stat *p = (proc_stat *)proc_find(table, ntable, PIDS_VAL(P_PID, s_int, st, r->pss));
        if (!p)
            continue;
        unsigned long pss = PIDS_VAL(P_PSS, ul_int, st, r->pss);
        unsigned long rss = PIDS_VAL(P_RSS, ul_int, st, r->pss);
        p->pss_kb = pss == 0 && rss > 0 ? -1 : (int64_t)pss;
    }
}

size_t proc_read(proc_reader *r, const pid_t *pids, size_t npids, bool want_pss, proc_stat *out)
{
    unsigned ids[SELECT_CHUNK];
    size_t found = 0;
    for (size_t at = 0; at < npids; at += SELECT_CHUNK) {
        int n = (int)(npids - at < SELECT_CHUNK ? npids - at : SELECT_CHUNK);
        for (int i = 0; i < n; i++)
            ids[i] = (unsigned)pids[at + (size_t)i];
        found += read_fast(r, ids, n, out + found);
    }
    qsort(out, found, sizeof *out, cmp_stat);
    if (want_pss) {
        for (size_t at = 0; at < found; at += SELECT_CHUNK) {
            int n = (int)(found - at < SELECT_CHUNK ? found - at : SELECT_CHUNK);
            for (int i = 0; i < n; i++)
                ids[i] = (unsigned)out[at + (size_t)i].pid;
            read_pss(r, ids, n, out, found);
        }
    }
    return found;
}

size_t proc_scan_names(proc_reader *r, bool with_cmdline, proc_name **out)
{
    *out = NULL;
    if (!r->names || r->names_cmdline != with_cmdline) {
        if (r->names)
            procps_pids_unref(&r->names);
        /* reading every process's cmdline costs, so only when a pattern asks */
        int n = with_cmdline ? N_ITEMS(name_items) : N_ITEMS(name_items) - 1;
        if (procps_pids_new(&r->names, name_items, n) < 0) {
            r->names = NULL;
            return 0;
        }
        r->names_cmdline = with_cmdline;
    }
    struct pids_fetch *f = procps_pids_reap(r->names, PIDS_FETCH_TASKS_ONLY);
    if (!f || f->counts->total <= 0)
        return 0;
    proc_name *names = calloc((size_t)f->counts->total, sizeof *names);
    if (!names)
        return 0;
    size_t n = 0;
    for (int i = 0; i < f->counts->total; i++) {
        struct pids_stack *st = f->stacks[i];
        proc_name *p = &names[n++];
        p->pid = PIDS_VAL(N_PID, s_int, st, r->names);
        const char *cmd = PIDS_VAL(N_CMD, str, st, r->names);
        snprintf(p->comm, sizeof p->comm, "%s", cmd ? cmd : "");
        if (with_cmdline) {
            const char *cl = PIDS_VAL(N_CMDLINE, str, st, r->names);
            p->cmdline = strdup(cl ? cl : "");
        }
    }
    *out = names;
    return n;
}

void proc_names_free(proc_name *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i].cmdline);
    free(names);
}

bool proc_name_matches(const proc_name *p, const char *pattern)
{
    static const char prefix[] = "cmdline:";
    if (strncmp(pattern, prefix, sizeof prefix - 1) == 0)
        return p->cmdline && fnmatch(pattern + sizeof prefix - 1, p->cmdline, 0) == 0;
    return fnmatch(pattern, p->comm, 0) == 0;
}
