/* statfd.c - the every-reading fast path: /proc/PID/stat through a file
 * descriptor kept open per process, re-read with pread.
 *
 * Why not libproc2 here: procps_pids_select opens status (for the Tgid) and
 * stat for every PID, and /proc/uptime, at every call. At 10 Hz over 20 PIDs
 * on a loaded 2-core machine that alone measured 0.55% of a core, over the
 * 0.5% budget (bench/metrics-overhead); pread on a kept descriptor measured
 * 0.11%. A kept descriptor also pins the process: once it exits, read fails
 * with ESRCH even if its PID is reused. libproc2 still does PSS, name scans
 * and the JB_READER_LIBPROC2 mode (docs/metrics.md). */
#include "metrics/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Fields after "pid (comm) ": 3 state, 14 utime, 15 stime, 22 starttime,
 * 24 rss (pages), as proc(5) numbers them. comm may hold spaces and ')', so
 * parsing starts after the last ')'. */
bool statfd_parse(const char *buf, long page_kb, proc_stat *out)
{
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return false;
    out->state = p[2];
    p += 3;
    unsigned long long utime = 0, stime = 0;
    for (int field = 4; field <= 24; field++) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || errno == ERANGE)
            return false;
        if (field == 14)
            utime = v;
        else if (field == 15)
            stime = v;
        else if (field == 22)
            out->began = v;
        else if (field == 24)
            out->rss_kb = (int64_t)v * page_kb;
        p = end;
    }
    out->ticks = utime + stime;
    out->pss_kb = -1;
    return true;
}

static int open_stat(pid_t pid)
{
    char path[48];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* Reads one process; false when it has exited (or never existed). */
static bool read_one(int fd, pid_t pid, long page_kb, proc_stat *out)
{
    char buf[1024];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    out->pid = pid;
    return statfd_parse(buf, page_kb, out);
}

bool jb_process_start_time(pid_t pid, unsigned long long *ticks)
{
    int fd = open_stat(pid);
    proc_stat st;
    bool ok = fd >= 0 && read_one(fd, pid, 4, &st);
    if (fd >= 0)
        close(fd);
    if (ok)
        *ticks = st.began;
    return ok;
}

size_t statfd_read(statfd_cache *c, const pid_t *pids, size_t npids, proc_stat *out)
{
    /* c->e and pids are both sorted: one merge pass keeps the descriptors of
     * listed PIDs, opens new ones, and closes the rest */
    statfd *next = malloc((npids ? npids : 1) * sizeof *next);
    if (!next)
        return 0;
    size_t i = 0, k = 0, found = 0;
    for (size_t j = 0; j < npids; j++) {
        while (i < c->n && c->e[i].pid < pids[j])
            close(c->e[i++].fd);
        int fd = -1;
        if (i < c->n && c->e[i].pid == pids[j])
            fd = c->e[i++].fd;
        else
            fd = open_stat(pids[j]);
        if (fd < 0)
            continue;
        if (read_one(fd, pids[j], c->page_kb, &out[found])) {
            found++;
            next[k++] = (statfd){pids[j], fd};
        } else {
            close(fd); /* exited: ESRCH, even if the PID is reused later */
        }
    }
    while (i < c->n)
        close(c->e[i++].fd);
    free(c->e);
    c->e = next;
    c->n = k;
    c->cap = npids ? npids : 1;
    return found;
}

void statfd_close_all(statfd_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        close(c->e[i].fd);
    free(c->e);
    c->e = NULL;
    c->n = c->cap = 0;
}
