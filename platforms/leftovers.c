/* leftovers.c - finding (and removing) what a killed run left behind.
 *
 * Processes die with their run in the normal case, and libvirt destroys
 * our domains when the harness's connection closes (they are started with
 * VIR_DOMAIN_START_AUTODESTROY), but containers outlive a harness killed
 * with SIGKILL. They carry the label jungbench.run, domains the name prefix
 * jungbench-, so they can be found again; both also name their owner
 * (jb_owner_token), so a driver that opens removes those whose owner is
 * gone without touching a run in progress. */
#include "metrics/metrics.h"
#include "platforms/docker_api.h"
#include "platforms/internal.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool read_boot_id(char *out, size_t outlen)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    bool ok = f && fgets(out, (int)outlen, f);
    if (f)
        fclose(f);
    if (ok)
        out[strcspn(out, "\n")] = '\0';
    return ok && out[0];
}

/* Field 22 of /proc/PID/stat, after the parenthesised command name. */
bool jb_owner_token(char *out, size_t outlen)
{
    char boot[64];
    unsigned long long start;
    if (!read_boot_id(boot, sizeof boot) || !jb_process_start_time(getpid(), &start))
        return false;
    snprintf(out, outlen, "%s %ld %llu", boot, (long)getpid(), start);
    return true;
}

bool jb_owner_alive(const char *token)
{
    char boot[64], here[64];
    long pid;
    unsigned long long start, now;
    if (!token || sscanf(token, "%63s %ld %llu", boot, &pid, &start) != 3 || pid <= 0 ||
        !read_boot_id(here, sizeof here))
        return true;
    if (strcmp(boot, here) != 0)
        return false; /* started before this boot: its owner is long gone */
    return jb_process_start_time((pid_t)pid, &now) && now == start;
}

static void note_name(jb_leftovers *out, const char *name)
{
    size_t len = strlen(out->names);
    if (len + strlen(name) + 2 < sizeof out->names)
        snprintf(out->names + len, sizeof out->names - len, "%s%s", len ? " " : "", name);
}

/* Which leftovers: those of runs starting with run_prefix (NULL: all), or
 * only those whose owner token names a process that is gone. */
typedef struct leftover_filter {
    const char *run_prefix;
    bool stale_only;
} leftover_filter;

static bool ours(const char *run, const char *owner, const leftover_filter *f)
{
    if (f->stale_only)
        return owner && !jb_owner_alive(owner);
    return run && (!f->run_prefix || strncmp(run, f->run_prefix, strlen(f->run_prefix)) == 0);
}

static void docker_leftovers(const char *socket, const leftover_filter *filter_by, bool remove,
                             jb_leftovers *out)
{
    jb_docker d;
    char err[512], path[512];
    if (!jb_docker_connect(&d, socket, err, sizeof err))
        return; /* no engine, no containers */
    char *filter = curl_easy_escape(d.curl, "{\"label\":[\"jungbench.run\"]}", 0);
    snprintf(path, sizeof path, "/containers/json?all=1&filters=%s", filter ? filter : "");
    curl_free(filter);
    json_t *list = jb_docker_json(&d, "GET", path, NULL, NULL, err, sizeof err);
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        json_t *labels = json_object_get(c, "Labels");
        const char *run = json_string_value(json_object_get(labels, "jungbench.run"));
        const char *owner = json_string_value(json_object_get(labels, "jungbench.owner"));
        const char *id = json_string_value(json_object_get(c, "Id"));
        const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
        if (!id || !ours(run, owner, filter_by))
            continue;
        out->containers++;
        note_name(out, name ? name + (name[0] == '/') : id);
        if (remove) {
            snprintf(path, sizeof path, "/containers/%s?force=1&v=1", id);
            json_decref(jb_docker_json(&d, "DELETE", path, NULL, NULL, err, sizeof err));
        }
    }
    json_decref(list);
    jb_docker_disconnect(&d);
}

static bool domain_ours(virDomainPtr dom, const char *name, const leftover_filter *f)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "jungbench-%s", f->run_prefix ? f->run_prefix : "");
    if (strncmp(name, prefix, strlen(prefix)) != 0)
        return false;
    if (!f->stale_only)
        return true;
    char *desc = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_DESCRIPTION, NULL, 0);
    const char *owner = desc && strncmp(desc, "jungbench owner ", 16) == 0 ? desc + 16 : NULL;
    bool stale = owner && !jb_owner_alive(owner);
    free(desc);
    virResetLastError(); /* a domain without a description is not an error here */
    return stale;
}

static void libvirt_leftovers(const char *uri, const leftover_filter *filter_by, bool remove,
                              jb_leftovers *out)
{
    virConnectPtr conn = virConnectOpen(uri);
    if (!conn)
        return;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    for (int i = 0; i < n; i++) {
        const char *name = virDomainGetName(doms[i]);
        if (name && domain_ours(doms[i], name, filter_by)) {
            out->domains++;
            note_name(out, name);
            if (remove) {
                if (virDomainIsActive(doms[i]) == 1)
                    virDomainDestroy(doms[i]);
                if (virDomainIsPersistent(doms[i]) == 1)
                    virDomainUndefine(doms[i]);
            }
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    virConnectClose(conn);
}

static void collect(const char *docker_socket, const char *libvirt_uri,
                    const leftover_filter *filter_by, bool remove, jb_leftovers *out)
{
    memset(out, 0, sizeof *out);
    if (docker_socket)
        docker_leftovers(docker_socket, filter_by, remove, out);
    if (libvirt_uri)
        libvirt_leftovers(libvirt_uri, filter_by, remove, out);
}

void jb_find_leftovers(const char *docker_socket, const char *libvirt_uri, const char *run_prefix,
                       bool remove, jb_leftovers *out)
{
    collect(docker_socket, libvirt_uri, &(leftover_filter){.run_prefix = run_prefix}, remove, out);
}

size_t jb_remove_stale(const char *docker_socket, const char *libvirt_uri)
{
    jb_leftovers gone;
    collect(docker_socket, libvirt_uri, &(leftover_filter){.stale_only = true}, true, &gone);
    size_t removed = gone.containers + gone.domains;
    if (gone.containers > 0 && gone.domains > 0)
        fprintf(stderr, "jungbench: removed %zu container(s) and %zu domain(s)", gone.containers,
                gone.domains);
    else if (removed > 0)
        fprintf(stderr, "jungbench: removed %zu %s", removed,
                gone.containers ? "container(s)" : "domain(s)");
    if (removed > 0)
        fprintf(stderr, " of jungbench processes that are gone: %s\n", gone.names);
    return removed;
}
