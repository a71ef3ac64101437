/* docker.c - the "docker" driver: each instance a container made through
 * the Docker Engine API (docker_api.c), from the FROM scratch image
 * jung/<service>:<tag> that `jungbench images build docker` made.
 *
 * Readiness comes from the container's log stream (GET .../logs?follow=1,
 * read without blocking through a curl multi handle); boot time is the
 * start call's return, when the engine reports the container running. */
#include "platforms/docker_api.h"
#include "platforms/images.h"
#include "platforms/internal.h"

#include "cli/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct docker_platform {
    jb_docker api;
    char owner[160]; /* jb_owner_token(): label jungbench.owner of our containers */
} docker_platform;

typedef struct docker_instance {
    char id[80];
    CURLM *multi;
    CURL *logs;
    bool logs_done;
    unsigned char frame[8]; /* the multiplexed stream's frame header being read */
    size_t frame_have;
    size_t frame_left; /* payload bytes left in the current frame */
    FILE *log_file;    /* <work_dir>/<instance>.log: the output, kept as for processes */
} docker_instance;

static jb_docker *api_of(jb_platform *p)
{
    return &((docker_platform *)p->priv)->api;
}

/* The broker listens on the host's loopback only (every byte stays on
 * 127.0.0.1), which a bridged container cannot reach: refuse at open, before
 * anything starts, rather than let every service time out. */
static bool network_usable(const jb_platform *p, char *err, size_t errlen)
{
    if (strcmp(p->cfg.network, "host") != 0 && strcmp(p->cfg.network, "bridge") != 0) {
        snprintf(err, errlen, "docker network '%s' is not known: use host or bridge",
                 p->cfg.network);
        return false;
    }
    if (strcmp(p->cfg.network, "bridge") == 0 && !p->cfg.bridge_without_broker) {
        snprintf(err, errlen,
                 "docker network 'bridge' cannot reach the broker: in a bridged container "
                 "127.0.0.1 is the container itself, and the broker (%s) listens on the "
                 "host's loopback only; use 'network: host' (the default), which keeps all "
                 "traffic on 127.0.0.1",
                 p->cfg.brokers);
        return false;
    }
    return true;
}

static bool docker_open(jb_platform *p, char *err, size_t errlen)
{
    docker_platform *dp = calloc(1, sizeof *dp);
    if (!dp) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    if (!network_usable(p, err, errlen) ||
        !jb_docker_connect(&dp->api, p->cfg.docker_socket, err, errlen)) {
        free(dp);
        return false;
    }
    if (!jb_owner_token(dp->owner, sizeof dp->owner))
        dp->owner[0] = '\0'; /* no /proc: containers without owner, doctor --clean finds them */
    /* containers of harnesses killed with SIGKILL; a live run's stay */
    jb_remove_stale(p->cfg.docker_socket, NULL);
    p->priv = dp;
    jb_strlcpy(p->accel, "container", sizeof p->accel);
    return true;
}

static void docker_close(jb_platform *p)
{
    docker_platform *dp = p->priv;
    if (!dp)
        return;
    jb_docker_disconnect(&dp->api);
    free(dp);
    p->priv = NULL;
}

static void image_name(const jb_platform *p, const char *service, char *out, size_t outlen)
{
    snprintf(out, outlen, "jung/%s:%s", service, p->cfg.image_tag);
}

static bool docker_prepare(jb_platform *p, const char *service, char *err, size_t errlen)
{
    char image[256], path[512];
    image_name(p, service, image, sizeof image);
    snprintf(path, sizeof path, "/images/%s/json", image);
    long status = 0;
    json_t *info = jb_docker_json(api_of(p), "GET", path, NULL, &status, err, errlen);
    if (status == 404)
        snprintf(err, errlen, "image %s is missing: build it with 'jungbench images build docker'",
                 image);
    if (!info)
        return false;
    /* `images build` makes a static executable one FROM scratch layer and a
     * dynamic one a layer on jung/base: the image must hold the build the
     * platform says it runs, or native and Docker would compare linkers. */
    size_t layers = json_array_size(json_object_get(json_object_get(info, "RootFS"), "Layers"));
    const char *label = json_string_value(json_object_get(
        json_object_get(json_object_get(info, "Config"), "Labels"), JB_DOCKER_SHA_LABEL));
    char held[65];
    jb_strlcpy(held, label ? label : "", sizeof held);
    json_decref(info);
    const char *holds = layers == 1 ? "static" : "dynamic";
    if (strcmp(holds, p->cfg.build) != 0) {
        snprintf(err, errlen,
                 "image %s holds the %s build (%zu layer(s)) but the platform says 'build: %s': "
                 "rebuild the images with 'jungbench images build docker' from a build tree "
                 "with the %s services, or set 'build: %s'",
                 image, holds, layers, p->cfg.build, p->cfg.build, holds);
        return false;
    }
    return jb_image_matches_build(&p->cfg, service, p->cfg.build, image, held,
                                  "jungbench images build docker", err, errlen);
}

static bool docker_image_layers(jb_platform *p, const char *service, char (*ids)[512],
                                uint64_t *bytes, size_t max, size_t *n, const char **kind,
                                char *err, size_t errlen)
{
    char image[256];
    image_name(p, service, image, sizeof image);
    jb_docker_layer layers[16];
    uint64_t total = 0;
    *kind = "docker";
    if (!jb_docker_image_layers(api_of(p), image, layers, max < 16 ? max : 16, n, &total, err,
                                errlen))
        return false;
    for (size_t i = 0; i < *n; i++) {
        jb_strlcpy(ids[i], layers[i].digest, sizeof ids[0]);
        bytes[i] = layers[i].bytes;
    }
    return true;
}

/* ---- the log stream -------------------------------------------------- */

/* Without a TTY the engine multiplexes stdout and stderr into frames:
 * 1 byte stream, 3 zero bytes, 4 bytes big-endian length, payload. */
static size_t on_log_bytes(char *data, size_t size, size_t n, void *userdata)
{
    jb_instance *inst = userdata;
    docker_instance *di = inst->priv;
    size_t len = size * n, i = 0;
    while (i < len) {
        if (di->frame_left == 0) {
            di->frame[di->frame_have++] = (unsigned char)data[i++];
            if (di->frame_have == 8) {
                di->frame_left = (size_t)di->frame[4] << 24 | (size_t)di->frame[5] << 16 |
                                 (size_t)di->frame[6] << 8 | di->frame[7];
                di->frame_have = 0;
            }
            continue;
        }
        size_t take = len - i < di->frame_left ? len - i : di->frame_left;
        jb_instance_feed(inst, data + i, take);
        if (di->log_file && fwrite(data + i, 1, take, di->log_file) == take)
            fflush(di->log_file);
        di->frame_left -= take;
        i += take;
    }
    return len;
}

static bool follow_logs(jb_platform *p, jb_instance *inst, char *err, size_t errlen)
{
    docker_instance *di = inst->priv;
    jb_docker *api = api_of(p);
    char url[512];
    snprintf(url, sizeof url, "http://docker/v%s/containers/%s/logs?follow=1&stdout=1&stderr=1",
             api->api, di->id);
    di->multi = curl_multi_init();
    di->logs = curl_easy_init();
    if (!di->multi || !di->logs) {
        snprintf(err, errlen, "libcurl failed to initialise");
        return false;
    }
    curl_easy_setopt(di->logs, CURLOPT_UNIX_SOCKET_PATH, api->socket);
    curl_easy_setopt(di->logs, CURLOPT_URL, url);
    curl_easy_setopt(di->logs, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(di->logs, CURLOPT_WRITEFUNCTION, on_log_bytes);
    curl_easy_setopt(di->logs, CURLOPT_WRITEDATA, inst);
    curl_multi_add_handle(di->multi, di->logs);
    snprintf(inst->info.log_path, sizeof inst->info.log_path, "%s/%s.log", p->cfg.work_dir,
             inst->info.instance);
    di->log_file = fopen(inst->info.log_path, "w");
    if (!di->log_file) /* the stream still feeds readiness; only the copy is lost */
        inst->info.log_path[0] = '\0';
    return true;
}

static void free_logs(docker_instance *di)
{
    if (di->multi && di->logs)
        curl_multi_remove_handle(di->multi, di->logs);
    if (di->logs)
        curl_easy_cleanup(di->logs);
    if (di->multi)
        curl_multi_cleanup(di->multi);
    di->logs = NULL;
    di->multi = NULL;
    if (di->log_file)
        fclose(di->log_file);
    di->log_file = NULL;
}

/* ---- start ----------------------------------------------------------- */

static char **container_cmd(const jb_instance *inst, const jb_instance_spec *spec)
{
    size_t nargs = 0;
    while (spec->args && spec->args[nargs])
        nargs++;
    char **cmd = calloc(nargs + 7, sizeof *cmd);
    if (!cmd)
        return NULL;
    cmd[0] = "--instance";
    cmd[1] = (char *)inst->info.instance;
    cmd[2] = "--brokers";
    cmd[3] = (char *)inst->platform->cfg.brokers;
    for (size_t i = 0; i < nargs; i++)
        cmd[4 + i] = (char *)spec->args[i];
    /* On the host's network the gateway listens on the advertised address
     * itself; bridged, the published port is bound there (docker_api.c). */
    if (jb_spec_is_gateway(spec) && strcmp(inst->platform->cfg.network, "host") == 0) {
        cmd[4 + nargs] = "--bind";
        cmd[5 + nargs] = (char *)inst->platform->cfg.advertise;
    }
    return cmd;
}

static bool create_container(jb_platform *p, jb_docker *conn, jb_instance *inst,
                             const jb_instance_spec *spec, char *err, size_t errlen)
{
    docker_instance *di = inst->priv;
    char image[256], path[512];
    image_name(p, spec->service, image, sizeof image);
    char **cmd = container_cmd(inst, spec);
    if (!cmd) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    jb_container_spec cs = {.image = image,
                            .cmd = (const char *const *)cmd,
                            .env = spec->env,
                            .run_id = p->cfg.run_id,
                            .service = spec->service,
                            .instance = inst->info.instance,
                            .owner = ((docker_platform *)p->priv)->owner[0]
                                         ? ((docker_platform *)p->priv)->owner
                                         : NULL,
                            .bridge = strcmp(p->cfg.network, "bridge") == 0,
                            .ports = spec->ports,
                            .host_ip = p->cfg.advertise,
                            .cpus = p->cfg.cpus,
                            .memory_mb = p->cfg.memory_mb,
                            .stop_timeout_s = (int)ceil(p->cfg.stop_grace_ms / 1000.0)};
    json_t *body = jb_docker_create_body(&cs);
    free(cmd);
    snprintf(path, sizeof path, "/containers/create?name=%s", inst->info.name);
    long status = 0;
    json_t *answer = jb_docker_json(conn, "POST", path, body, &status, err, errlen);
    if (status == 409) { /* a container of a crashed earlier run has our name: ours to remove */
        snprintf(path, sizeof path, "/containers/%s?force=1&v=1", inst->info.name);
        json_decref(jb_docker_json(conn, "DELETE", path, NULL, NULL, err, errlen));
        snprintf(path, sizeof path, "/containers/create?name=%s", inst->info.name);
        answer = jb_docker_json(conn, "POST", path, body, &status, err, errlen);
    }
    json_decref(body);
    if (status == 404)
        snprintf(err, errlen, "image %s is missing: build it with 'jungbench images build docker'",
                 image);
    const char *id = json_string_value(json_object_get(answer, "Id"));
    if (id)
        jb_strlcpy(di->id, id, sizeof di->id);
    json_decref(answer);
    return id != NULL;
}

/* The container's main process and its cgroup (as /proc/PID/cgroup names
 * it: the unified "0::" line, or the memory controller's on cgroup v1). */
static void read_pid_and_cgroup(jb_docker *conn, jb_instance *inst)
{
    docker_instance *di = inst->priv;
    char path[256], err[256];
    snprintf(path, sizeof path, "/containers/%s/json", di->id);
    json_t *c = jb_docker_json(conn, "GET", path, NULL, NULL, err, sizeof err);
    json_int_t pid = json_integer_value(json_object_get(json_object_get(c, "State"), "Pid"));
    json_decref(c);
    if (pid <= 0)
        return;
    inst->info.pids[0] = (pid_t)pid;
    inst->info.npids = 1;
    snprintf(path, sizeof path, "/proc/%lld/cgroup", (long long)pid);
    FILE *f = fopen(path, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *colon = strchr(line, ':');
        char *second = colon ? strchr(colon + 1, ':') : NULL;
        if (!second)
            continue;
        bool unified = strncmp(line, "0::", 3) == 0;
        bool memory = strstr(colon, "memory") && second > colon;
        if (unified || memory)
            jb_strlcpy(inst->info.cgroup, second + 1, sizeof inst->info.cgroup);
        if (memory)
            break;
    }
    if (f)
        fclose(f);
}

static void remove_container(jb_docker *conn, docker_instance *di)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "/containers/%s?force=1&v=1", di->id);
    json_decref(jb_docker_json(conn, "DELETE", path, NULL, NULL, err, sizeof err));
}

/* A connection of its own for one start: starts of one platform may run
 * on several threads (jb_platform_start_many), and a curl handle serves one
 * at a time. The API version is the platform's, negotiated at open. */
static bool open_start_connection(jb_platform *p, jb_docker *conn, char *err, size_t errlen)
{
    *conn = *api_of(p);
    conn->curl = curl_easy_init();
    if (!conn->curl)
        snprintf(err, errlen, "libcurl failed to initialise");
    return conn->curl != NULL;
}

static bool docker_start(jb_platform *p, jb_instance *inst, const jb_instance_spec *spec, char *err,
                         size_t errlen)
{
    docker_instance *di = calloc(1, sizeof *di);
    if (!di) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    inst->priv = di;
    jb_docker conn;
    bool ok = open_start_connection(p, &conn, err, errlen) &&
              create_container(p, &conn, inst, spec, err, errlen);
    if (ok) {
        char path[256];
        snprintf(path, sizeof path, "/containers/%s/start", di->id);
        json_t *answer = jb_docker_json(&conn, "POST", path, NULL, NULL, err, errlen);
        ok = answer != NULL;
        json_decref(answer);
    }
    if (ok) {
        inst->info.boot_ms = jb_instance_elapsed_ms(inst);
        read_pid_and_cgroup(&conn, inst);
        ok = follow_logs(p, inst, err, errlen);
    }
    if (!ok) {
        free_logs(di);
        if (di->id[0] && conn.curl)
            remove_container(&conn, di);
        free(di);
        inst->priv = NULL;
    }
    if (conn.curl)
        jb_docker_disconnect(&conn);
    return ok;
}

/* ---- poll and stop --------------------------------------------------- */

static void read_exit_reason(jb_instance *inst)
{
    docker_instance *di = inst->priv;
    char path[256], err[256];
    snprintf(path, sizeof path, "/containers/%s/json", di->id);
    json_t *c = jb_docker_json(api_of(inst->platform), "GET", path, NULL, NULL, err, sizeof err);
    json_t *state = json_object_get(c, "State");
    if (state && !json_is_true(json_object_get(state, "Running"))) {
        long long code = (long long)json_integer_value(json_object_get(state, "ExitCode"));
        snprintf(inst->exit_reason, sizeof inst->exit_reason, "exited with status %lld%s%s", code,
                 json_is_true(json_object_get(state, "OOMKilled")) ? " (out of memory)" : "", "");
        /* The engine reports a death by signal N as 128 + N. */
        inst->stop.exit_code = code > 128 ? (int)(128 - code) : (int)code;
        jb_strlcpy(inst->stop.exit, inst->exit_reason, sizeof inst->stop.exit);
    }
    json_decref(c);
}

/* The log stream ends when the container stops: that is the exit signal. */
static bool docker_poll(jb_instance *inst)
{
    docker_instance *di = inst->priv;
    if (di->logs_done)
        return false;
    int running = 0;
    curl_multi_perform(di->multi, &running);
    if (running)
        return true;
    di->logs_done = true;
    read_exit_reason(inst);
    return false;
}

/* The engine's stop call blocks until the container ended: to stop many at
 * once, send them SIGTERM first. */
static void docker_signal_stop(jb_instance *inst)
{
    docker_instance *di = inst->priv;
    char path[256], err[256];
    snprintf(path, sizeof path, "/containers/%s/kill?signal=SIGTERM", di->id);
    json_decref(jb_docker_json(api_of(inst->platform), "POST", path, NULL, NULL, err, sizeof err));
}

/* platform.c sent the SIGTERM (docker_signal_stop) and waited up to
 * stop_grace_ms for the log stream to end: a container still running now is
 * killed at once (t=0), since the engine's stop would send SIGTERM again. */
static bool docker_stop(jb_instance *inst, char *err, size_t errlen)
{
    docker_instance *di = inst->priv;
    jb_platform *p = inst->platform;
    char path[256];
    bool running = !di->logs_done;
    snprintf(path, sizeof path, "/containers/%s/stop?t=0", di->id);
    long status = 0;
    json_decref(jb_docker_json(api_of(p), "POST", path, NULL, &status, err, errlen));
    bool ok = status == 204 || status == 304; /* 304: already stopped */
    if (running && status == 204) {
        inst->stop.killed = true;
        snprintf(err, errlen, "%s did not stop within %.0f ms of SIGTERM: killed", inst->info.name,
                 p->cfg.stop_grace_ms);
        ok = false;
    }
    if (running && inst->stop.exit_code == -1000)
        read_exit_reason(inst);
    free_logs(di);
    snprintf(path, sizeof path, "/containers/%s?force=1&v=1", di->id);
    char rm_err[512];
    json_decref(jb_docker_json(api_of(p), "DELETE", path, NULL, &status, rm_err, sizeof rm_err));
    if (status != 204 && status != 404) {
        snprintf(err, errlen, "container %s (%s) could not be removed: %s", inst->info.name, di->id,
                 rm_err);
        ok = false;
    }
    free(di);
    inst->priv = NULL;
    return ok;
}

const jb_driver jb_driver_docker = {
    .name = "docker",
    .daemons = 1, /* JB_DAEMONS_DOCKER */
    .open = docker_open,
    .close = docker_close,
    .prepare = docker_prepare,
    .start = docker_start,
    .concurrent_start = true,
    .poll = docker_poll,
    .signal_stop = docker_signal_stop,
    .image_layers = docker_image_layers,
    .stop = docker_stop,
};
