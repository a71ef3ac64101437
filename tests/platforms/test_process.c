/* test_process.c - the process driver end to end with the fake service:
 * readiness parsing, start/ready timing, PIDs, a port that answers, an
 * instance that dies before ready, SIGKILL after the grace period, a
 * missing executable, and nothing left behind after close. */
#include "tests/testlib.h"
#include "platforms/platform.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool http_answer_contains(int port, const char *want)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[512] = {0};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
              write(fd, "GET / HTTP/1.0\r\n\r\n", 18) == 18 && read(fd, buf, sizeof buf - 1) > 0;
    close(fd);
    return ok && strstr(buf, want);
}

static bool pid_gone(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static void test_parse(void)
{
    jb_instance_info info = {0};
    CHECK(jb_parse_ready_line("jung api_gateway ready instance=api_gateway-1 "
                              "http=http://127.0.0.1:8080",
                              "api_gateway", &info),
          "gateway line");
    CHECK(info.nready == 2 && strcmp(info.ready_keys[1], "http") == 0 &&
              strcmp(info.ready_values[1], "http://127.0.0.1:8080") == 0,
          "key/values: %zu", info.nready);
    CHECK(jb_parse_ready_line("[    2.1] x jung rule_engine ready instance=r-1\r", NULL, &info),
          "console noise before the line, CR after");
    CHECK(strcmp(info.ready_values[0], "r-1") == 0, "CR stripped: '%s'", info.ready_values[0]);
    CHECK(!jb_parse_ready_line("jung api_gateway ready", "user_registry", &info), "other service");
    CHECK(!jb_parse_ready_line("jung api_gateway starting", NULL, &info), "not ready");
    CHECK(!jb_parse_ready_line("", NULL, &info), "empty");
}

static jb_instance *start_fake(jb_platform *p, const char *exe, int index, const char **args,
                               char *err, size_t errlen)
{
    jb_instance_spec spec = {.service = "fake", .index = index, .args = args, .executable = exe};
    return jb_platform_start(p, &spec, err, errlen);
}

static void test_ready_and_stop(jb_platform *p, const char *exe)
{
    char err[1024], port[16];
    int portno = test_free_port();
    snprintf(port, sizeof port, "%d", portno);
    const char *args[] = {"--port", port, "--delay-ms", "50", NULL};
    jb_instance *inst = start_fake(p, exe, 1, args, err, sizeof err);
    CHECK(inst, "start: %s", err);
    if (!inst)
        return;
    CHECK(jb_instance_wait_ready(inst, 10000, err, sizeof err), "ready: %s", err);
    const jb_instance_info *info = jb_instance_get_info(inst);
    pid_t pid = info->pids[0];
    CHECK(info->npids == 1 && pid > 0, "pid %d", (int)pid);
    CHECK(info->boot_ms >= 0 && info->ready_ms >= 50 && info->ready_ms >= info->boot_ms,
          "boot %.1f ready %.1f (the fake waits 50 ms)", info->boot_ms, info->ready_ms);
    CHECK(strcmp(info->instance, "fake-1") == 0, "instance %s", info->instance);
    CHECK(strcmp(info->accel, "native") == 0, "accel %s", info->accel);
    const char *http = jb_instance_ready_value(inst, "http");
    char want[64];
    snprintf(want, sizeof want, "http://127.0.0.1:%d", portno);
    CHECK(http && strcmp(http, want) == 0, "http=%s", http ? http : "(none)");
    CHECK(http_answer_contains(portno, "fake fake-1"), "port %d answers", portno);
    CHECK(jb_instance_alive(inst), "alive");
    CHECK(jb_instance_stop(inst, err, sizeof err), "stop: %s", err);
    CHECK(pid_gone(pid), "pid %d gone after stop", (int)pid);
}

static void test_dies_before_ready(jb_platform *p, const char *exe)
{
    char err[1024];
    const char *args[] = {"--exit-before-ready", "3", NULL};
    jb_instance *inst = start_fake(p, exe, 2, args, err, sizeof err);
    CHECK(inst, "start: %s", err);
    if (!inst)
        return;
    CHECK(!jb_instance_wait_ready(inst, 10000, err, sizeof err), "must fail");
    CHECK(strstr(err, "status 3") && strstr(err, "failing on purpose"), "reason: %s", err);
    CHECK(!jb_instance_alive(inst), "not alive");
    jb_instance_stop(inst, err, sizeof err);
}

static void test_kill_after_grace(const char *exe)
{
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.run_id = "test-process-grace";
    cfg.stop_grace_ms = 300;
    char err[1024];
    jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
    CHECK(p, "open: %s", err);
    if (!p)
        return;
    const char *args[] = {"--ignore-term", NULL};
    jb_instance *inst = start_fake(p, exe, 1, args, err, sizeof err);
    CHECK(inst && jb_instance_wait_ready(inst, 10000, err, sizeof err), "ready: %s", err);
    if (inst) {
        pid_t pid = jb_instance_get_info(inst)->pids[0];
        CHECK(!jb_instance_stop(inst, err, sizeof err) && strstr(err, "SIGTERM"),
              "stop reports the SIGKILL: %s", err);
        CHECK(pid_gone(pid), "pid %d killed", (int)pid);
    }
    jb_platform_close(p);
}

static void test_errors(jb_platform *p)
{
    char err[1024];
    jb_instance_spec spec = {.service = "no_such_service", .index = 1};
    CHECK(!jb_platform_start(p, &spec, err, sizeof err) && strstr(err, "jung-no-such-service") &&
              strstr(err, "ninja"),
          "missing executable named with the fix: %s", err);
    const char *svc[] = {"no_such_service"};
    CHECK(!jb_platform_prepare(p, svc, 1, err, sizeof err) && strstr(err, "ninja"), "prepare: %s",
          err);
    jb_instance_spec bad = {.service = "../etc", .index = 1};
    CHECK(!jb_platform_start(p, &bad, err, sizeof err) && strstr(err, "not valid"), "bad name: %s",
          err);
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.driver = "vmware";
    CHECK(!jb_platform_open(&cfg, err, sizeof err) && strstr(err, "vmware"), "driver: %s", err);
}

/* Several instances waited for together; close stops the ones left. */
static void test_many_then_close(const char *exe)
{
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.run_id = "test-process-many";
    char err[1024];
    jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
    CHECK(p, "open: %s", err);
    if (!p)
        return;
    enum { N = 5 };
    jb_instance *insts[N];
    pid_t pids[N];
    size_t started = 0;
    for (int i = 0; i < N; i++) {
        const char *args[] = {"--delay-ms", i % 2 ? "100" : "0", NULL};
        insts[i] = start_fake(p, exe, i + 1, args, err, sizeof err);
        CHECK(insts[i], "start %d: %s", i, err);
        if (!insts[i])
            break;
        pids[i] = jb_instance_get_info(insts[i])->pids[0];
        started++;
    }
    CHECK(jb_instances_wait_ready(insts, started, 10000, err, sizeof err), "all ready: %s", err);
    for (size_t i = 0; i < started; i++)
        CHECK(jb_instance_get_info(insts[i])->ready, "instance %zu ready", i);
    jb_platform_close(p);
    for (size_t i = 0; i < started; i++)
        CHECK(pid_gone(pids[i]), "pid %d gone after close", (int)pids[i]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FAKE_SERVICE\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    test_parse();
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.run_id = "test-process";
    char err[1024];
    jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
    CHECK(p, "open: %s", err);
    if (p) {
        test_ready_and_stop(p, argv[1]);
        test_dies_before_ready(p, argv[1]);
        test_errors(p);
        jb_platform_close(p);
    }
    test_kill_after_grace(argv[1]);
    test_many_then_close(argv[1]);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    else
        printf("test_process: all checks passed\n");
    return failures ? 1 : 0;
}
