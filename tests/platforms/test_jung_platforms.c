/* test_jung_platforms.c - all of Jung on one platform driver, end to end:
 * images built from this build's services (docker: a shared base layer
 * plus one layer per service; libvirt: microVM initramfs, emulated), the
 * embedded broker, the eight services started through the driver, a short
 * scenario through the API gateway (user, device, rule; readings arrive; a
 * command is accepted), PIDs and boot/ready times reported, then teardown
 * with nothing left: no process, container or domain.
 *
 * Usage: test_jung_platforms process|docker|libvirt JUNG_BIN_DIR MICROVM_INIT
 * SKIP (77) when the engine is not running or the services are not built. */
#include "tests/testlib.h"
#include "platforms/images.h"
#include "platforms/platform.h"

#include "broker/broker.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <libvirt/libvirt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAG "jbtest-e2e"

typedef struct setup {
    const char *driver, *bin_dir, *init;
    char run[64], image_dir[256], gateway[128];
    int port;
} setup;

/* ---- HTTP ---------------------------------------------------------------- */

static size_t collect(char *data, size_t size, size_t n, void *out)
{
    jb_buf_append(out, data, size * n);
    return size * n;
}

/* Returns the status; *answer gets the parsed JSON body (or NULL). */
static long http(const setup *s, const char *method, const char *path, const char *body,
                 json_t **answer)
{
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "%s%s", s->gateway, path);
    jb_buf out = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L); /* > JUNG_TIMEOUT_MS below */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    if (strncmp(path, "/users/", 7) == 0)
        curl_easy_setopt(c, CURLOPT_USERPWD, "alice:s3cret");
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (answer)
        *answer = out.len ? json_loads(out.data, 0, NULL) : NULL;
    jb_buf_free(&out);
    return status;
}

static void scenario(const setup *s)
{
    json_t *a = NULL;
    long st = http(s, "POST", "/users", "{\"username\":\"alice\",\"password\":\"s3cret\"}", NULL);
    CHECK(st == 201, "create user: %ld", st);
    st = http(s, "POST", "/users/alice/devices", "{\"id\":\"lamp\"}", NULL);
    CHECK(st == 201, "create device: %ld", st);
    st = http(s, "POST", "/users/alice/devices/lamp/rules",
              "{\"operator\":\">\",\"value\":100,\"command\":{\"value\":0}}", NULL);
    CHECK(st == 201, "create rule: %ld", st);
    json_int_t total = 0;
    for (int i = 0; i < 60 && total == 0; i++) { /* the gateway's devices report every second */
        st = http(s, "GET", "/users/alice/devices/lamp/readings?page=1&size=5", NULL, &a);
        total = json_integer_value(json_object_get(a, "total"));
        json_decref(a);
        if (total == 0)
            sleep(1);
    }
    CHECK(total > 0, "readings arrive: status %ld, total %lld", st, (long long)total);
    st = http(s, "POST", "/users/alice/devices/lamp/commands", "{\"value\":7}", NULL);
    CHECK(st == 202, "command: %ld", st);
    st = http(s, "GET", "/users/alice", NULL, &a);
    json_t *devices = json_object_get(a, "devices");
    CHECK(st == 200 && json_array_size(devices) == 1 &&
              strcmp(json_string_value(json_array_get(devices, 0)), "lamp") == 0,
          "user lists the device: %ld", st);
    json_decref(a);
    st = http(s, "GET", "/users/bob", NULL, NULL);
    CHECK(st == 401 || st == 403 || st == 404, "unknown user refused: %ld", st);
}

/* ---- images ---------------------------------------------------------------- */

static bool docker_images(const setup *s, char *why, size_t whylen)
{
    jb_docker d;
    if (!jb_docker_connect(&d, "/var/run/docker.sock", why, whylen))
        return false;
    jb_runtime_files *libs = calloc(1, sizeof *libs);
    bool ok = true;
    char exe[4096], err[1024], image[128];
    for (size_t i = 0; ok && i < JB_SERVICE_COUNT; i++)
        ok = jb_find_service_executable(s->bin_dir, jb_jung_services[i], exe, sizeof exe, err,
                                        sizeof err) &&
             (jb_elf_is_static(exe, err, sizeof err) ||
              jb_elf_runtime_files(exe, libs, err, sizeof err));
    if (ok && libs->n)
        ok = jb_docker_build_base(&d, "jung/base:" TAG, libs, err, sizeof err);
    for (size_t i = 0; ok && i < JB_SERVICE_COUNT; i++) {
        snprintf(image, sizeof image, "jung/%s:" TAG, jb_jung_services[i]);
        ok = jb_find_service_executable(s->bin_dir, jb_jung_services[i], exe, sizeof exe, err,
                                        sizeof err) &&
             jb_docker_build_image(&d, image, jb_jung_services[i], exe,
                                   jb_elf_is_static(exe, err, sizeof err) ? NULL : "jung/base:" TAG,
                                   err, sizeof err);
    }
    CHECK(ok, "docker images: %s", err);
    free(libs);
    jb_docker_disconnect(&d);
    return ok;
}

static void remove_docker_images(void)
{
    jb_docker d;
    char err[512], path[256];
    if (!jb_docker_connect(&d, "/var/run/docker.sock", err, sizeof err))
        return;
    for (size_t i = 0; i <= JB_SERVICE_COUNT; i++) {
        snprintf(path, sizeof path, "/images/jung/%s:" TAG "?force=1",
                 i < JB_SERVICE_COUNT ? jb_jung_services[i] : "base");
        json_decref(jb_docker_json(&d, "DELETE", path, NULL, NULL, err, sizeof err));
    }
    jb_docker_disconnect(&d);
}

static bool microvm_images(const setup *s)
{
    char vmlinuz[512], release[128], err[1024], dir[512], out[600], exe[4096];
    bool ok = jb_cloud_kernel(vmlinuz, sizeof vmlinuz, release, sizeof release, err, sizeof err);
    snprintf(dir, sizeof dir, "%s/microvm", s->image_dir);
    mkdir(s->image_dir, 0755);
    ok = ok && (mkdir(dir, 0755) == 0 || errno == EEXIST);
    for (size_t i = 0; ok && i < JB_SERVICE_COUNT; i++) {
        const char *svc = jb_jung_services[i];
        jb_runtime_files *libs = calloc(1, sizeof *libs);
        uint64_t bytes;
        snprintf(out, sizeof out, "%s/%s.cpio.xz", dir, svc);
        ok = jb_find_service_executable(s->bin_dir, svc, exe, sizeof exe, err, sizeof err);
        bool is_static = ok && jb_elf_is_static(exe, err, sizeof err);
        ok = ok && (is_static || jb_elf_runtime_files(exe, libs, err, sizeof err)) &&
             jb_microvm_build_initramfs(out, s->init, exe, svc, release, is_static ? NULL : libs,
                                        &bytes, err, sizeof err);
        free(libs);
    }
    CHECK(ok, "microVM images: %s", err);
    return ok;
}

static void remove_microvm_images(const setup *s)
{
    char path[600];
    for (size_t i = 0; i < JB_SERVICE_COUNT; i++) {
        snprintf(path, sizeof path, "%s/microvm/%s.cpio.xz", s->image_dir, jb_jung_services[i]);
        unlink(path);
        strcat(path, ".sha256");
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/microvm", s->image_dir);
    rmdir(path);
    rmdir(s->image_dir);
}

/* image_sizes rows for the eight services: one each plus the cumulative
 * total, which counts shared parts once. */
static void check_image_sizes(jb_platform *p, const setup *s)
{
    char path[512], err[1024];
    snprintf(path, sizeof path, "/tmp/jungbench-%s-sizes.db", s->run);
    jb_store store;
    CHECK(jb_store_open(&store, path, err, sizeof err), "store: %s", err);
    bool ok = jb_platform_store_image_sizes(p, &store, s->run, s->driver, jb_jung_services,
                                            JB_SERVICE_COUNT, err, sizeof err);
    CHECK(ok, "image sizes: %s", err);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(store.db,
                       "SELECT count(*), sum(bytes) FILTER (WHERE service != '_cumulative'),"
                       " max(bytes) FILTER (WHERE service = '_cumulative') FROM image_sizes",
                       -1, &st, NULL);
    if (ok && sqlite3_step(st) == SQLITE_ROW) {
        long long rows = sqlite3_column_int64(st, 0), sum = sqlite3_column_int64(st, 1),
                  total = sqlite3_column_int64(st, 2);
        printf("%s images: %lld bytes for all eight (%lld summed per service)\n", s->driver, total,
               sum);
        CHECK(rows == JB_SERVICE_COUNT + 1 && total > 0 && total <= sum,
              "rows %lld, total %lld, sum %lld", rows, total, sum);
    }
    sqlite3_finalize(st);
    jb_store_close(&store);
    unlink(path);
    snprintf(path + strlen(path), sizeof path - strlen(path), "-wal");
    unlink(path);
    path[strlen(path) - 4] = '\0';
    snprintf(path + strlen(path), sizeof path - strlen(path), "-shm");
    unlink(path);
}

/* ---- bring up, check, tear down ------------------------------------------ */

static void run_jung(setup *s, const char *brokers)
{
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.driver = s->driver;
    cfg.run_id = s->run;
    cfg.brokers = brokers;
    cfg.bin_dir = s->bin_dir;
    cfg.image_tag = TAG;
    cfg.image_dir = s->image_dir;
    cfg.accel = "emulated";
    cfg.memory_mb = strcmp(s->driver, "libvirt") == 0 ? 192 : 0;
    char err[2048], port[16];
    jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
    CHECK(p, "open: %s", err);
    if (!p)
        return;
    s->port = test_free_port();
    snprintf(port, sizeof port, "%d", s->port);
    jb_instance *insts[JB_SERVICE_COUNT], *gateway = NULL;
    size_t n = 0;
    for (size_t i = 0; i < JB_SERVICE_COUNT; i++) {
        bool gw = strcmp(jb_jung_services[i], "api_gateway") == 0;
        /* As the runner does: no --bind and no call timeout of our own (a
         * guest's driver sets both), the host port where the driver says. */
        const char *gw_args[] = {"--port", port, NULL};
        jb_instance_spec spec = {.service = jb_jung_services[i],
                                 .index = 1,
                                 .args = gw ? gw_args : NULL,
                                 .ports = {gw ? s->port : 0},
                                 .free_host_ports = true};
        insts[n] = jb_platform_start(p, &spec, err, sizeof err);
        CHECK(insts[n], "start %s: %s", jb_jung_services[i], err);
        if (gw)
            gateway = insts[n];
        if (insts[n])
            n++;
    }
    pid_t pids[JB_SERVICE_COUNT];
    bool ready =
        n == JB_SERVICE_COUNT && jb_instances_wait_ready(insts, n, 300000, err, sizeof err);
    CHECK(ready, "all ready: %s", err);
    const char *http = ready && gateway ? jb_instance_ready_value(gateway, "http") : NULL;
    snprintf(s->gateway, sizeof s->gateway, "%s", http ? http : "");
    CHECK(!ready || strncmp(s->gateway, "http://127.0.0.1:", 17) == 0,
          "the gateway's readiness names the host's side: %s", s->gateway);
    for (size_t i = 0; i < n; i++) {
        const jb_instance_info *info = jb_instance_get_info(insts[i]);
        pids[i] = info->pids[0];
        printf("%-8s %-17s pid %6d boot %7.0f ms ready %7.0f ms (%s)\n", s->driver, info->service,
               (int)pids[i], info->boot_ms, info->ready_ms, info->accel);
        CHECK(info->npids >= 1 && pids[i] > 0 && kill(pids[i], 0) == 0, "%s pid", info->service);
        CHECK(!ready || (info->boot_ms >= 0 && info->ready_ms >= info->boot_ms),
              "%s boot %.0f ready %.0f", info->service, info->boot_ms, info->ready_ms);
    }
    if (ready)
        scenario(s);
    check_image_sizes(p, s);
    jb_platform_close(p);
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 50 && kill(pids[i], 0) == 0; k++)
            usleep(100000);
        CHECK(kill(pids[i], 0) != 0, "pid %d gone after close", (int)pids[i]);
    }
    jb_leftovers left;
    jb_find_leftovers("/var/run/docker.sock", "qemu:///system", s->run, false, &left);
    CHECK(left.containers == 0 && left.domains == 0, "nothing left: %s", left.names);
}

static int skip(const char *why)
{
    printf("SKIP: %s\n", why);
    return 77;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s process|docker|libvirt JUNG_BIN_DIR MICROVM_INIT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setup s = {.driver = argv[1], .bin_dir = argv[2], .init = argv[3]};
    snprintf(s.run, sizeof s.run, "test-jung-%s-%d", s.driver, (int)getpid());
    snprintf(s.image_dir, sizeof s.image_dir, "/tmp/jungbench-%s-images", s.run);
    char exe[4096], err[1024];
    for (size_t i = 0; i < JB_SERVICE_COUNT; i++)
        if (!jb_find_service_executable(s.bin_dir, jb_jung_services[i], exe, sizeof exe, err,
                                        sizeof err))
            return skip(err);
    bool docker = strcmp(s.driver, "docker") == 0, libvirt = strcmp(s.driver, "libvirt") == 0;
    jb_docker d;
    if (docker && !jb_docker_connect(&d, "/var/run/docker.sock", err, sizeof err))
        return skip(err);
    if (docker)
        jb_docker_disconnect(&d);
    if (libvirt) {
        virConnectPtr conn = virConnectOpen("qemu:///system");
        if (!conn)
            return skip("libvirtd not reachable at qemu:///system (virtlogd -d; libvirtd -d)");
        virConnectClose(conn);
        if (!jb_elf_is_static(s.init, err, sizeof err))
            return skip(err);
    }
    jb_broker_options bo = {0};
    jb_broker *broker = jb_broker_start(&bo, err, sizeof err);
    CHECK(broker, "broker: %s", err);
    if (broker && (!docker || docker_images(&s, err, sizeof err)) &&
        (!libvirt || microvm_images(&s)))
        run_jung(&s, jb_broker_bootstrap(broker));
    jb_broker_stop(broker);
    if (docker)
        remove_docker_images();
    if (libvirt)
        remove_microvm_images(&s);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    else
        printf("test_jung_platforms %s: all checks passed\n", s.driver);
    return failures ? 1 : 0;
}
