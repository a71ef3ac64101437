/* docker_api.c - Docker Engine API over the unix socket (libcurl). */
#include "platforms/docker_api.h"

#include "platforms/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool jb_buf_append(jb_buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return false;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return true;
}

void jb_buf_free(jb_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

bool jb_buf_read_file(const char *path, jb_buf *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    char chunk[65536];
    size_t got;
    bool ok = true;
    while (ok && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        ok = jb_buf_append(out, chunk, got);
    fclose(f);
    if (!ok)
        snprintf(err, errlen, "out of memory reading %s", path);
    return ok;
}

/* "1.41" -> 141; -1 when not MAJOR.MINOR. */
static int api_number(const char *v)
{
    int major, minor;
    char tail;
    if (!v || sscanf(v, "%d.%d%c", &major, &minor, &tail) != 2 || major < 1 || minor < 0 ||
        minor > 99)
        return -1;
    return major * 100 + minor;
}

bool jb_docker_negotiate(const char *version_json, char *api, size_t apilen, char *engine,
                         size_t enginelen, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loads(version_json, 0, &jerr);
    if (!json_is_object(root)) {
        snprintf(err, errlen, "the engine's /version answer is not a JSON object: %s", jerr.text);
        json_decref(root);
        return false;
    }
    const char *server = json_string_value(json_object_get(root, "ApiVersion"));
    const char *server_min = json_string_value(json_object_get(root, "MinAPIVersion"));
    const char *version = json_string_value(json_object_get(root, "Version"));
    jb_strlcpy(engine, version ? version : "unknown", enginelen);
    int have = api_number(server), have_min = server_min ? api_number(server_min) : have;
    int ours_min = api_number(JB_DOCKER_API_MIN), ours_max = api_number(JB_DOCKER_API_MAX);
    bool ok = false;
    if (have < 0 || have_min < 0)
        snprintf(err, errlen, "the engine's /version answer has no valid ApiVersion ('%s')",
                 server ? server : "");
    else if (have < ours_min)
        snprintf(err, errlen,
                 "Docker engine %s speaks API %s, older than %s (Docker 20.10): upgrade the engine",
                 engine, server, JB_DOCKER_API_MIN);
    else if (have_min > ours_max)
        snprintf(err, errlen,
                 "Docker engine %s needs API %s or newer; jungbench speaks %s to %s: update "
                 "JB_DOCKER_API_MAX after checking the API changes",
                 engine, server_min, JB_DOCKER_API_MIN, JB_DOCKER_API_MAX);
    else {
        int use = have < ours_max ? have : ours_max;
        snprintf(api, apilen, "%d.%d", use / 100, use % 100);
        ok = true;
    }
    json_decref(root);
    return ok;
}

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
    jb_buf *b = userdata;
    return jb_buf_append(b, data, size * n) ? size * n : 0;
}

static long raw_call(jb_docker *d, const char *method, const char *url, const char *content_type,
                     const void *body, size_t bodylen, jb_buf *out, char *err, size_t errlen)
{
    CURL *c = d->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->socket);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    jb_buf sink = {0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out ? out : &sink);
    struct curl_slist *headers = NULL;
    if (body || strcmp(method, "POST") == 0) {
        char ct[128];
        snprintf(ct, sizeof ct, "Content-Type: %s",
                 content_type ? content_type : "application/json");
        headers = curl_slist_append(headers, ct);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? bodylen : 0));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errlen,
                 "Docker engine at %s: %s (is dockerd running? start it with "
                 "'dockerd > /tmp/dockerd.log 2>&1 &' or scripts/services)",
                 d->socket, curl_easy_strerror(rc));
    curl_slist_free_all(headers);
    jb_buf_free(&sink);
    return status;
}

bool jb_docker_connect(jb_docker *d, const char *socket, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    jb_strlcpy(d->socket, socket, sizeof d->socket);
    d->curl = curl_easy_init();
    if (!d->curl) {
        snprintf(err, errlen, "libcurl failed to initialise");
        return false;
    }
    jb_buf out = {0};
    long status = raw_call(d, "GET", "http://docker/version", NULL, NULL, 0, &out, err, errlen);
    bool ok = status == 200;
    if (status != 0 && status != 200)
        snprintf(err, errlen, "Docker engine at %s answered GET /version with HTTP %ld", socket,
                 status);
    if (ok)
        ok = jb_docker_negotiate(out.data ? out.data : "", d->api, sizeof d->api, d->engine_version,
                                 sizeof d->engine_version, err, errlen);
    jb_buf_free(&out);
    if (!ok)
        jb_docker_disconnect(d);
    return ok;
}

void jb_docker_disconnect(jb_docker *d)
{
    if (d->curl)
        curl_easy_cleanup(d->curl);
    d->curl = NULL;
}

long jb_docker_call(jb_docker *d, const char *method, const char *path, const char *content_type,
                    const void *body, size_t bodylen, jb_buf *out, char *err, size_t errlen)
{
    char url[4096];
    snprintf(url, sizeof url, "http://docker/v%s%s", d->api, path);
    return raw_call(d, method, url, content_type, body, bodylen, out, err, errlen);
}

json_t *jb_docker_json(jb_docker *d, const char *method, const char *path, json_t *body,
                       long *status_out, char *err, size_t errlen)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    jb_buf out = {0};
    long status =
        jb_docker_call(d, method, path, NULL, text, text ? strlen(text) : 0, &out, err, errlen);
    free(text);
    if (status_out)
        *status_out = status;
    json_t *answer = NULL;
    if (status >= 200 && status < 300) {
        answer = out.len ? json_loads(out.data, 0, NULL) : json_object();
        if (!answer)
            snprintf(err, errlen, "%s %s: the engine's answer is not JSON", method, path);
    } else if (status != 0) {
        json_t *e = out.len ? json_loads(out.data, 0, NULL) : NULL;
        const char *msg = json_string_value(json_object_get(e, "message"));
        snprintf(err, errlen, "%s %s: HTTP %ld: %s", method, path, status,
                 msg ? msg : (out.data ? out.data : "(no message)"));
        json_decref(e);
    }
    jb_buf_free(&out);
    return answer;
}

static json_t *string_array(const char *const *list)
{
    json_t *a = json_array();
    for (size_t i = 0; list && list[i]; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

/* Bridge networking publishes each port on one address only, the
 * platform's advertised one (loopback by default): nothing is reachable
 * from another. */
static void add_ports(json_t *body, json_t *host, const int *ports, const char *host_ip)
{
    json_t *exposed = json_object(), *bindings = json_object();
    for (size_t i = 0; ports && ports[i]; i++) {
        char key[32], port[16];
        snprintf(key, sizeof key, "%d/tcp", ports[i]);
        snprintf(port, sizeof port, "%d", ports[i]);
        json_object_set_new(exposed, key, json_object());
        json_object_set_new(
            bindings, key,
            json_pack("[{s:s, s:s}]", "HostIp", host_ip ? host_ip : "127.0.0.1", "HostPort", port));
    }
    json_object_set_new(body, "ExposedPorts", exposed);
    json_object_set_new(host, "PortBindings", bindings);
}

json_t *jb_docker_create_body(const jb_container_spec *spec)
{
    json_t *host = json_object();
    json_object_set_new(host, "NetworkMode", json_string(spec->bridge ? "bridge" : "host"));
    if (spec->cpus > 0)
        json_object_set_new(host, "NanoCpus", json_integer((json_int_t)(spec->cpus * 1e9)));
    if (spec->memory_mb > 0)
        json_object_set_new(host, "Memory", json_integer((json_int_t)spec->memory_mb << 20));
    json_object_set_new(host, "AutoRemove", json_false());
    json_t *body = json_pack(
        "{s:s, s:o, s:o, s:{s:s, s:s, s:s}, s:i, s:b, s:b}", "Image", spec->image, "Cmd",
        string_array(spec->cmd), "Env", string_array(spec->env), "Labels", "jungbench.run",
        spec->run_id, "jungbench.service", spec->service, "jungbench.instance", spec->instance,
        "StopTimeout", spec->stop_timeout_s, "AttachStdout", true, "AttachStderr", true);
    if (spec->owner)
        json_object_set_new(json_object_get(body, "Labels"), "jungbench.owner",
                            json_string(spec->owner));
    if (spec->bridge)
        add_ports(body, host, spec->ports, spec->host_ip);
    json_object_set_new(body, "HostConfig", host);
    return body;
}
