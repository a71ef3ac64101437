/* cgroup.c - a container's memory and CPU as its cgroup counts them.
 *
 * Memory is usage minus inactive file cache, the figure `docker stats`
 * shows: v2 memory.current - memory.stat:inactive_file, v1
 * memory.usage_in_bytes - memory.stat:total_inactive_file. CPU is v2
 * cpu.stat:usage_usec or v1 cpuacct.usage (nanoseconds). */
#include "metrics/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* v1 mounts cpuacct alone or co-mounted with cpu, depending on the distro. */
static void find_v1_cpu_dir(jb_cgroup *cg, const char *root, const char *path)
{
    static const char *const names[] = {"cpuacct", "cpu,cpuacct", "cpuacct,cpu", "cpu"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(cg->cpu_dir, sizeof cg->cpu_dir, "%s/%s%s", root, names[i], path);
        if (is_dir(cg->cpu_dir))
            return;
    }
    cg->cpu_dir[0] = '\0';
}

/* A ".." component would let a caller read outside the cgroup root. */
static bool has_dotdot(const char *path)
{
    for (const char *p = strstr(path, ".."); p; p = strstr(p + 1, ".."))
        if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return true;
    return false;
}

bool jb_cgroup_open(jb_cgroup *cg, const char *root, const char *path, char *err, size_t errlen)
{
    memset(cg, 0, sizeof *cg);
    if (!path || path[0] != '/') {
        snprintf(err, errlen, "cgroup path '%s' must start with '/' (as in /proc/PID/cgroup)",
                 path ? path : "");
        return false;
    }
    if (has_dotdot(path)) {
        snprintf(err, errlen, "cgroup path '%s' must not contain '..'", path);
        return false;
    }
    const char *p = strcmp(path, "/") == 0 ? "" : path;
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/memory", root);
    if (is_dir(probe)) {
        cg->version = 1;
        snprintf(cg->mem_dir, sizeof cg->mem_dir, "%s/memory%s", root, p);
        find_v1_cpu_dir(cg, root, p);
    } else {
        snprintf(probe, sizeof probe, "%s/cgroup.controllers", root);
        if (!exists(probe)) {
            snprintf(err, errlen,
                     "%s is neither a cgroup v1 root (no memory/ folder) nor a cgroup v2 root "
                     "(no cgroup.controllers)",
                     root);
            return false;
        }
        cg->version = 2;
        snprintf(cg->mem_dir, sizeof cg->mem_dir, "%s%s", root, p);
        snprintf(cg->cpu_dir, sizeof cg->cpu_dir, "%s%s", root, p);
    }
    if (!is_dir(cg->mem_dir)) {
        snprintf(err, errlen, "cgroup v%d '%s' not found: %s is not a folder", cg->version, path,
                 cg->mem_dir);
        return false;
    }
    snprintf(cg->procs_path, sizeof cg->procs_path, "%s/cgroup.procs", cg->mem_dir);
    return true;
}

bool jb_cgroup_of_pid(pid_t pid, char *path, size_t pathlen, char *err, size_t errlen)
{
    char file[64], line[4096];
    snprintf(file, sizeof file, "/proc/%d/cgroup", (int)pid);
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s (is PID %d running?)", file, strerror(errno),
                 (int)pid);
        return false;
    }
    bool found_v1 = false, found_v2 = false;
    char v2[4096] = "";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        /* hierarchy-ID:controller-list:path */
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *controllers = c1 + 1, *cgpath = c2 + 1;
        if (controllers[0] == '\0') {
            snprintf(v2, sizeof v2, "%s", cgpath);
            found_v2 = true;
            continue;
        }
        /* the controller list is comma separated: match "memory" exactly */
        char list[256];
        snprintf(list, sizeof list, ",%s,", controllers);
        if (strstr(list, ",memory,")) {
            snprintf(path, pathlen, "%s", cgpath);
            found_v1 = true;
        }
    }
    fclose(f);
    if (!found_v1 && found_v2)
        snprintf(path, pathlen, "%s", v2);
    if (!found_v1 && !found_v2) {
        snprintf(err, errlen, "%s names no memory or unified cgroup", file);
        return false;
    }
    return true;
}

static bool read_u64_file(const char *dir, const char *name, uint64_t *out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    unsigned long long v = 0;
    bool ok = fscanf(f, "%llu", &v) == 1;
    fclose(f);
    *out = v;
    return ok;
}

/* Finds "key value" in a flat-keyed file such as memory.stat or cpu.stat. */
static bool read_key(const char *dir, const char *name, const char *key, uint64_t *out)
{
    char path[4200], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t klen = strlen(key);
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(line + klen + 1, &end, 10);
            found = errno == 0 && end != line + klen + 1;
            *out = v;
        }
    }
    fclose(f);
    return found;
}

static void read_memory(const jb_cgroup *cg, jb_cgroup_reading *out)
{
    const char *usage_file = cg->version == 2 ? "memory.current" : "memory.usage_in_bytes";
    if (!read_u64_file(cg->mem_dir, usage_file, &out->usage_bytes))
        return;
    out->has_mem = true;
    uint64_t inactive = 0;
    bool has_inactive =
        cg->version == 2
            ? read_key(cg->mem_dir, "memory.stat", "inactive_file", &inactive)
            : (read_key(cg->mem_dir, "memory.stat", "total_inactive_file", &inactive) ||
               read_key(cg->mem_dir, "memory.stat", "inactive_file", &inactive));
    out->mem_raw = !has_inactive;
    /* docker stats: subtract only when it does not go below zero */
    out->mem_bytes = has_inactive && inactive < out->usage_bytes ? out->usage_bytes - inactive
                                                                 : out->usage_bytes;
}

static void read_cpu(const jb_cgroup *cg, jb_cgroup_reading *out)
{
    if (cg->cpu_dir[0] == '\0')
        return;
    if (cg->version == 2) {
        out->has_cpu = read_key(cg->cpu_dir, "cpu.stat", "usage_usec", &out->cpu_usec);
        return;
    }
    uint64_t ns = 0;
    out->has_cpu = read_u64_file(cg->cpu_dir, "cpuacct.usage", &ns);
    out->cpu_usec = ns / 1000;
}

void jb_cgroup_read(const jb_cgroup *cg, jb_cgroup_reading *out)
{
    memset(out, 0, sizeof *out);
    read_memory(cg, out);
    read_cpu(cg, out);
}

long jb_cgroup_procs(const jb_cgroup *cg, pid_t *pids, size_t max)
{
    FILE *f = fopen(cg->procs_path, "r");
    if (!f)
        return -1;
    long n = 0;
    long long v;
    while (fscanf(f, "%lld", &v) == 1)
        if (v > 0 && (size_t)n < max)
            pids[n++] = (pid_t)v;
    fclose(f);
    return n;
}
