/* leftovers.c - finding (and removing) what a killed run left behind.
 *
 * Processes die with their run in the normal case, and libvirt destroys
 * our domains when the harness's connection closes (they are started with
 * VIR_DOMAIN_START_AUTODESTROY), but containers outlive a harness killed
 * with SIGKILL. They carry the label jungbench.run, domains the name prefix
 * jungbench-, so they can be found again. */
#include "platforms/docker_api.h"
#include "platforms/internal.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdlib.h>
#include <string.h>

static void note_name(jb_leftovers *out, const char *name)
{
    size_t len = strlen(out->names);
    if (len + strlen(name) + 2 < sizeof out->names)
        snprintf(out->names + len, sizeof out->names - len, "%s%s", len ? " " : "", name);
}

static bool ours(const char *run, const char *run_prefix)
{
    return run && (!run_prefix || strncmp(run, run_prefix, strlen(run_prefix)) == 0);
}

static void docker_leftovers(const char *socket, const char *run_prefix, bool remove,
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
        const char *run =
            json_string_value(json_object_get(json_object_get(c, "Labels"), "jungbench.run"));
        const char *id = json_string_value(json_object_get(c, "Id"));
        const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
        if (!id || !ours(run, run_prefix))
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

static void libvirt_leftovers(const char *uri, const char *run_prefix, bool remove,
                              jb_leftovers *out)
{
    virConnectPtr conn = virConnectOpen(uri);
    if (!conn)
        return;
    char prefix[256];
    snprintf(prefix, sizeof prefix, "jungbench-%s", run_prefix ? run_prefix : "");
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    for (int i = 0; i < n; i++) {
        const char *name = virDomainGetName(doms[i]);
        if (name && strncmp(name, prefix, strlen(prefix)) == 0) {
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

void jb_find_leftovers(const char *docker_socket, const char *libvirt_uri, const char *run_prefix,
                       bool remove, jb_leftovers *out)
{
    memset(out, 0, sizeof *out);
    if (docker_socket)
        docker_leftovers(docker_socket, run_prefix, remove, out);
    if (libvirt_uri)
        libvirt_leftovers(libvirt_uri, run_prefix, remove, out);
}
