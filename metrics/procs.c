/* procs.c - per-process figures from /proc.
 *
 * Every reading needs stat (ticks, start time, state, resident set): by
 * default from kept descriptors (statfd.c, the cheap path), or through
 * libproc2 in JB_READER_LIBPROC2 mode. PSS always comes through libproc2
 * (smaps_rollup, for which the kernel walks the process's page tables, so
 * only when due), as do name scans. */
#include "metrics/internal.h"

#include <fnmatch.h>
#include <libproc2/misc.h>
#include <libproc2/pids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum fast_rel { F_PID, F_STATE, F_BEGAN, F_TICKS, F_RSS, F_PSS };
/* PIDS_RSS (stat: rss, pages) rather than PIDS_MEM_RES: the same kernel
 * figure, without opening statm too. The PSS handle reads the same items plus
 * smaps_rollup, so a reading with PSS is still one pass. */
static enum pids_item fast_items[] = {PIDS_ID_PID,   PIDS_STATE, PIDS_TICS_BEGAN,
                                      PIDS_TICS_ALL, PIDS_RSS,   PIDS_SMAP_PSS};
#define N_FAST 5
#define N_FULL 6
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

bool proc_reader_init(proc_reader *r, jb_proc_reader_kind kind, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->hz = procps_hertz_get();
    long page = sysconf(_SC_PAGESIZE);
    r->page_kb = page > 0 ? page / 1024 : 4;
    if (r->hz <= 0)
        r->hz = 100;
    r->fds.page_kb = r->page_kb;
    if (procps_pids_new(&r->fast, fast_items, N_FAST) < 0 ||
        procps_pids_new(&r->pss, fast_items, N_FULL) < 0) {
        snprintf(err, errlen, "libproc2 cannot read /proc (procps_pids_new failed)");
        proc_reader_free(r);
        return false;
    }
    return true;
}

void proc_reader_free(proc_reader *r)
{
    statfd_close_all(&r->fds);
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

/* libproc2 reports PSS 0 when smaps_rollup cannot be read (another user's
 * process, or one holding capabilities we lack). A process with resident
 * pages has a positive PSS, so 0 next to a non-zero RSS means "unreadable". */
static size_t read_chunk(proc_reader *r, unsigned *ids, int n, bool want_pss, proc_stat *out)
{
    struct pids_info *info = want_pss ? r->pss : r->fast;
    struct pids_fetch *f = procps_pids_select(info, ids, n, PIDS_SELECT_PID);
    if (!f)
        return 0;
    size_t found = 0;
    for (int i = 0; i < f->counts->total; i++) {
        struct pids_stack *st = f->stacks[i];
        proc_stat *p = &out[found++];
        p->pid = PIDS_VAL(F_PID, s_int, st, info);
        p->state = PIDS_VAL(F_STATE, s_ch, st, info);
        p->began = PIDS_VAL(F_BEGAN, ull_int, st, info);
        p->ticks = PIDS_VAL(F_TICKS, ull_int, st, info);
        p->rss_kb = (int64_t)PIDS_VAL(F_RSS, ul_int, st, info) * r->page_kb;
        p->pss_kb = -1;
        if (want_pss) {
            unsigned long pss = PIDS_VAL(F_PSS, ul_int, st, info);
            p->pss_kb = pss == 0 && p->rss_kb > 0 ? -1 : (int64_t)pss;
        }
    }
    return found;
}

/* PSS for processes already read (table sorted by PID). */
static void add_pss(proc_reader *r, proc_stat *table, size_t n)
{
    unsigned ids[SELECT_CHUNK];
    proc_stat chunk[SELECT_CHUNK];
    for (size_t at = 0; at < n; at += SELECT_CHUNK) {
        int len = (int)(n - at < SELECT_CHUNK ? n - at : SELECT_CHUNK);
        for (int i = 0; i < len; i++)
            ids[i] = (unsigned)table[at + (size_t)i].pid;
        size_t got = read_chunk(r, ids, len, true, chunk);
        for (size_t i = 0; i < got; i++) {
            proc_stat *p = (proc_stat *)proc_find(table, n, chunk[i].pid);
            if (p && p->began == chunk[i].began)
                p->pss_kb = chunk[i].pss_kb;
        }
    }
}

size_t proc_read(proc_reader *r, const pid_t *pids, size_t npids, bool want_pss, proc_stat *out)
{
    if (r->kind == JB_READER_STATFD) {
        size_t found = statfd_read(&r->fds, pids, npids, out);
        if (want_pss)
            add_pss(r, out, found);
        return found;
    }
    return proc_lookup(r, pids, npids, want_pss, out);
}

size_t proc_lookup(proc_reader *r, const pid_t *pids, size_t npids, bool want_pss, proc_stat *out)
{
    unsigned ids[SELECT_CHUNK];
    size_t found = 0;
    for (size_t at = 0; at < npids; at += SELECT_CHUNK) {
        int n = (int)(npids - at < SELECT_CHUNK ? npids - at : SELECT_CHUNK);
        for (int i = 0; i < n; i++)
            ids[i] = (unsigned)pids[at + (size_t)i];
        found += read_chunk(r, ids, n, want_pss, out + found);
    }
    qsort(out, found, sizeof *out, cmp_stat);
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
