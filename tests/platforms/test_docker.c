/* test_docker.c - the docker driver end to end against the running engine:
 * build a FROM scratch image of the fake service through the API, check its
 * size, run instances with host networking and one on the bridge with its
 * port published on 127.0.0.1, check readiness, PIDs, cgroup, boot/ready
 * times and the ports, a container that fails before ready, then tear down
 * and check that no container of the run and no test image is left.
 * SKIP (77) when the engine is not running. */
#include "tests/testlib.h"
#include "platforms/docker_api.h"
#include "platforms/images.h"
#include "platforms/platform.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TAG "jbtest"
#define IMAGE "jung/fake:" TAG

static bool http_answer_contains(int port, const char *want)
{
    for (int attempt = 0; attempt < 20; attempt++) { /* docker-proxy may lag the readiness line */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        char buf[512] = {0};
        bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                  write(fd, "GET / HTTP/1.0\r\n\r\n", 18) == 18 &&
                  read(fd, buf, sizeof buf - 1) > 0;
        close(fd);
        if (ok && strstr(buf, want))
            return true;
        usleep(100000);
    }
    return false;
}

static size_t containers_of_run(jb_docker *d, const char *run)
{
    char path[512], err[512];
    snprintf(path, sizeof path,
             "/containers/json?all=1&filters=%%7B%%22label%%22%%3A%%5B%%22jungbench.run%%3D%s%%22"
             "%%5D%%7D",
             run);
    json_t *list = jb_docker_json(d, "GET", path, NULL, NULL, err, sizeof err);
    CHECK(list, "list containers: %s", err);
    size_t n = json_array_size(list);
    json_decref(list);
    return n;
}

static void test_image(jb_docker *d, const char *fake)
{
    char err[1024];
    CHECK(jb_docker_build_image(d, IMAGE, "fake", fake, NULL, err, sizeof err), "build: %s", err);
    jb_docker_layer layers[8];
    size_t n = 0;
    uint64_t total = 0;
    CHECK(jb_docker_image_layers(d, IMAGE, layers, 8, &n, &total, err, sizeof err), "layers: %s",
          err);
    printf("image %s: %llu bytes in %zu layer(s)\n", IMAGE, (unsigned long long)total, n);
    CHECK(n == 1 && layers[0].bytes == total, "one layer holding everything: %zu, %llu", n,
          (unsigned long long)(n ? layers[0].bytes : 0));
    CHECK(total > 0 && total <= 2u << 20, "at most 2 MB: %llu", (unsigned long long)total);
    CHECK(!jb_docker_build_image(d, "jung/bad:" TAG, "bad", "/bin/sh", NULL, err, sizeof err) &&
              strstr(err, "dynamically linked"),
          "dynamic executable refused: %s", err);
}

/* A dynamically linked service: a shared base layer with its loader and
 * libraries, and an image FROM it adding only the executable. */
static void test_dynamic_image(jb_docker *d, const char *run, const char *dyn)
{
    char err[1024];
    jb_runtime_files *libs = calloc(1, sizeof *libs);
    CHECK(jb_elf_runtime_files(dyn, libs, err, sizeof err), "runtime files: %s", err);
    CHECK(jb_docker_build_base(d, "jung/base:" TAG, libs, err, sizeof err), "base: %s", err);
    free(libs);
    CHECK(jb_docker_build_image(d, "jung/fakedyn:" TAG, "fakedyn", dyn, "jung/base:" TAG, err,
                                sizeof err),
          "image from the base: %s", err);
    jb_docker_layer layers[8];
    size_t n = 0;
    uint64_t total = 0;
    CHECK(jb_docker_image_layers(d, "jung/fakedyn:" TAG, layers, 8, &n, &total, err, sizeof err),
          "layers: %s", err);
    CHECK(n == 2 && layers[1].bytes < layers[0].bytes, "base layer + executable layer: %zu", n);
    printf("image jung/fakedyn:%s: %llu bytes, executable layer %llu\n", TAG,
           (unsigned long long)total, (unsigned long long)(n == 2 ? layers[1].bytes : 0));
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.driver = "docker";
    cfg.run_id = run;
    cfg.image_tag = TAG;
    jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
    CHECK(p, "open: %s", err);
    if (!p)
        return;
    jb_instance_spec spec = {.service = "fakedyn", .index = 1};
    jb_instance *inst = jb_platform_start(p, &spec, err, sizeof err);
    CHECK(inst && jb_instance_wait_ready(inst, 30000, err, sizeof err), "dynamic ready: %s", err);
    jb_platform_close(p);
}

/* An image made from another executable than the one the build tree runs
 * natively is refused, naming the rebuild; the same executable is fine.
 * bin_dir is a folder of ours holding jung-fakedyn. */
static void test_same_executable(const char *run, const char *dyn)
{
    char err[1024], dir[] = "/tmp/jb-docker-bin-XXXXXX", exe[128], cmd[512];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(exe, sizeof exe, "%s/jung-fakedyn", dir);
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.driver = "docker";
    cfg.run_id = run;
    cfg.image_tag = TAG;
    cfg.build = "dynamic";
    cfg.bin_dir = dir;
    for (int same = 0; same <= 1; same++) {
        snprintf(cmd, sizeof cmd, "cp %s %s", same ? dyn : "/bin/true", exe);
        CHECK(system(cmd) == 0, "%s", cmd);
        jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
        CHECK(p, "open: %s", err);
        if (!p)
            break;
        /* What the runner does before it starts anything. */
        const char *services[] = {"fakedyn"};
        bool ok = jb_platform_prepare(p, services, 1, err, sizeof err);
        if (same)
            CHECK(ok, "the image's own executable refused: %s", err);
        else
            CHECK(!ok && strstr(err, "holds another executable than") &&
                      strstr(err, "jungbench images build docker"),
                  "another executable accepted: %s", ok ? "(prepared)" : err);
        jb_platform_close(p);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "%s", cmd);
}

/* A container as a harness killed with SIGKILL leaves it: found by its
 * run's label, removed, gone. */
static void test_leftovers(jb_docker *d, const char *run)
{
    char err[1024], leftover_run[96], path[256];
    snprintf(leftover_run, sizeof leftover_run, "%s-killed", run);
    const char *cmd[] = {"--instance", "fake-1", NULL};
    jb_container_spec cs = {.image = IMAGE,
                            .cmd = cmd,
                            .run_id = leftover_run,
                            .service = "fake",
                            .instance = "fake-1",
                            .stop_timeout_s = 1};
    json_t *body = jb_docker_create_body(&cs);
    snprintf(path, sizeof path, "/containers/create?name=jungbench-%s-fake-1", leftover_run);
    json_t *made = jb_docker_json(d, "POST", path, body, NULL, err, sizeof err);
    json_decref(body);
    CHECK(made, "create: %s", err);
    json_decref(made);
    jb_leftovers left;
    jb_find_leftovers("/var/run/docker.sock", NULL, leftover_run, false, &left);
    CHECK(left.containers == 1 && strstr(left.names, "-killed-fake-1"), "found: %zu %s",
          left.containers, left.names);
    jb_find_leftovers("/var/run/docker.sock", NULL, leftover_run, true, &left);
    CHECK(left.containers == 1, "removed: %zu", left.containers);
    jb_find_leftovers("/var/run/docker.sock", NULL, leftover_run, false, &left);
    CHECK(left.containers == 0, "none left: %zu", left.containers);
}

static jb_instance *start(jb_platform *p, int index, const char **args, int port, char *err,
                          size_t errlen)
{
    jb_instance_spec spec = {.service = "fake", .index = index, .args = args, .ports = {port}};
    return jb_platform_start(p, &spec, err, errlen);
}

static void test_host(const char *run)
{
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.driver = "docker";
    cfg.run_id = run;
    cfg.image_tag = TAG;
    cfg.build = "static"; /* the fake service is linked -static in every build */
    cfg.stop_grace_ms = 2000;
    cfg.cpus = 1;
    cfg.memory_mb = 64;
    char err[1024], port[16];
    jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
    CHECK(p, "open: %s", err);
    if (!p)
        return;
    const char *svc[] = {"fake"}, *missing[] = {"no_such"};
    CHECK(jb_platform_prepare(p, svc, 1, err, sizeof err), "prepare: %s", err);
    CHECK(!jb_platform_prepare(p, missing, 1, err, sizeof err) &&
              strstr(err, "jung/no_such:" TAG) && strstr(err, "jungbench images build docker"),
          "missing image named with the fix: %s", err);
    int portno = test_free_port();
    snprintf(port, sizeof port, "%d", portno);
    const char *args[] = {"--port", port, NULL};
    jb_instance *a = start(p, 1, args, 0, err, sizeof err);
    CHECK(a, "start 1: %s", err);
    jb_instance *b = start(p, 2, NULL, 0, err, sizeof err);
    CHECK(b, "start 2: %s", err);
    if (a && b) {
        jb_instance *both[] = {a, b};
        CHECK(jb_instances_wait_ready(both, 2, 30000, err, sizeof err), "ready: %s", err);
        const jb_instance_info *info = jb_instance_get_info(a);
        printf("container %s: pid %d boot %.1f ms ready %.1f ms cgroup %s\n", info->name,
               (int)info->pids[0], info->boot_ms, info->ready_ms, info->cgroup);
        CHECK(info->npids == 1 && info->pids[0] > 0 && kill(info->pids[0], 0) == 0, "pid %d",
              (int)info->pids[0]);
        CHECK(info->cgroup[0] == '/', "cgroup '%s'", info->cgroup);
        CHECK(info->boot_ms > 0 && info->ready_ms >= info->boot_ms, "boot %.1f ready %.1f",
              info->boot_ms, info->ready_ms);
        CHECK(strcmp(info->name, "jungbench-") > 0 && strstr(info->name, "-fake-1"), "name %s",
              info->name);
        CHECK(http_answer_contains(portno, "fake fake-1"), "host network port %d", portno);
    }
    /* a container that dies before it is ready */
    const char *fail_args[] = {"--exit-before-ready", "7", NULL};
    jb_instance *c = start(p, 3, fail_args, 0, err, sizeof err);
    CHECK(c, "start 3: %s", err);
    if (c)
        CHECK(!jb_instance_wait_ready(c, 30000, err, sizeof err) && strstr(err, "status 7") &&
                  strstr(err, "failing on purpose"),
              "failure reported with its output: %s", err);
    jb_platform_close(p);
}

static void test_bridge(const char *run)
{
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.driver = "docker";
    cfg.run_id = run;
    cfg.image_tag = TAG;
    cfg.network = "bridge";
    cfg.brokers = "127.0.0.1:9092";
    char err[1024], port[16];
    jb_platform *refused = jb_platform_open(&cfg, err, sizeof err);
    CHECK(!refused && strstr(err, "network: host") && strstr(err, "127.0.0.1:9092"),
          "bridge with a loopback broker refused, naming the fix: %s", err);
    cfg.bridge_without_broker = true; /* the fake service needs no broker */
    cfg.stop_grace_ms = 1000;
    jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
    CHECK(p, "open: %s", err);
    if (!p)
        return;
    int portno = test_free_port();
    snprintf(port, sizeof port, "%d", portno);
    const char *args[] = {"--port", port, "--bind", "0.0.0.0", NULL};
    jb_instance *a = start(p, 1, args, portno, err, sizeof err);
    CHECK(a, "start: %s", err);
    if (a) {
        CHECK(jb_instance_wait_ready(a, 30000, err, sizeof err), "ready: %s", err);
        CHECK(http_answer_contains(portno, "fake fake-1"), "port %d published on 127.0.0.1",
              portno);
        CHECK(jb_instance_stop(a, err, sizeof err), "stop: %s", err);
    }
    jb_platform_close(p);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s FAKE_SERVICE FAKE_SERVICE_DYNAMIC\n", argv[0]);
        return 2;
    }
    char err[1024];
    jb_docker d;
    if (!jb_docker_connect(&d, "/var/run/docker.sock", err, sizeof err)) {
        printf("SKIP: %s\n", err);
        return 77;
    }
    if (!jb_elf_is_static(argv[1], err, sizeof err)) {
        printf("SKIP: the fake service is not static (sanitizer build?): %s\n", err);
        jb_docker_disconnect(&d);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    char run[64];
    snprintf(run, sizeof run, "test-docker-%d", (int)getpid());
    test_image(&d, argv[1]);
    test_host(run);
    test_bridge(run);
    test_dynamic_image(&d, run, argv[2]);
    test_same_executable(run, argv[2]);
    test_leftovers(&d, run);
    CHECK(containers_of_run(&d, run) == 0, "no container of run %s left", run);
    json_decref(
        jb_docker_json(&d, "DELETE", "/images/" IMAGE "?force=1", NULL, NULL, err, sizeof err));
    long status = 0;
    json_decref(
        jb_docker_json(&d, "GET", "/images/" IMAGE "/json", NULL, &status, err, sizeof err));
    CHECK(status == 404, "test image removed: HTTP %ld", status);
    jb_docker_disconnect(&d);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    else
        printf("test_docker: all checks passed\n");
    return failures ? 1 : 0;
}
