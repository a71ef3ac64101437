/* test_libvirt.c - the libvirt driver end to end: build a microVM
 * initramfs of the fake service (under 1 MB), boot it emulated through
 * libvirt with a port forwarded from 127.0.0.1, check readiness from the
 * serial console, the QEMU PID, the boot/ready times labelled "emulated",
 * the forwarded port, a guest whose service dies, and that no domain,
 * QEMU process or forwarded port is left. SKIP (77) without libvirtd or
 * the cloud kernel. */
#include "tests/testlib.h"
#include "platforms/images.h"
#include "platforms/platform.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void quiet(void *ctx, virErrorPtr e)
{
    (void)ctx;
    (void)e;
}

/* 1 answered with want, 0 connected but other answer, -1 refused. */
static int http_get(int port, const char *want)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[512] = {0};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    bool ok = write(fd, "GET / HTTP/1.0\r\n\r\n", 18) == 18 && read(fd, buf, sizeof buf - 1) > 0;
    close(fd);
    return ok && strstr(buf, want) ? 1 : 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static bool build_image(const char *dir, const char *init, const char *fake)
{
    char vmlinuz[512], release[128], err[1024], path[4200];
    if (!jb_cloud_kernel(vmlinuz, sizeof vmlinuz, release, sizeof release, err, sizeof err))
        return false;
    snprintf(path, sizeof path, "%s/microvm", dir);
    mkdir(dir, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/microvm/fake.cpio.xz", dir);
    uint64_t bytes = 0;
    bool ok = jb_microvm_build_initramfs(path, init, fake, "fake", release, NULL, &bytes, err,
                                         sizeof err);
    CHECK(ok, "initramfs: %s", err);
    printf("initramfs %s: %llu bytes\n", path, (unsigned long long)bytes);
    CHECK(bytes > 0 && bytes < 1000000, "under 1 MB: %llu", (unsigned long long)bytes);
    return ok;
}

static void test_boot(jb_platform *p, virConnectPtr conn)
{
    char err[1024], port[16];
    int portno = test_free_port();
    snprintf(port, sizeof port, "%d", portno);
    /* the port travels as environment: the kernel hands it to init */
    char env_port[32];
    snprintf(env_port, sizeof env_port, "FAKE_PORT=%s", port);
    /* no --bind: the driver makes a service with ports listen on the guest's
     * interface; the host side is a free port of its choosing */
    const char *env[] = {env_port, NULL};
    jb_instance_spec spec = {
        .service = "fake", .index = 1, .env = env, .ports = {portno}, .free_host_ports = true};
    jb_instance *inst = jb_platform_start(p, &spec, err, sizeof err);
    CHECK(inst, "start: %s", err);
    if (!inst)
        return;
    CHECK(jb_instance_wait_ready(inst, 120000, err, sizeof err), "ready: %s", err);
    const jb_instance_info *info = jb_instance_get_info(inst);
    printf("domain %s: qemu pid %d boot %.0f ms ready %.0f ms (%s)\n", info->name,
           (int)info->pids[0], info->boot_ms, info->ready_ms, info->accel);
    pid_t qemu = info->pids[0];
    char name[160];
    snprintf(name, sizeof name, "%s", info->name);
    CHECK(info->npids == 1 && qemu > 0 && kill(qemu, 0) == 0, "qemu pid %d", (int)qemu);
    CHECK(strcmp(info->accel, "emulated") == 0, "accel label %s", info->accel);
    CHECK(info->ready_ms > info->boot_ms && info->boot_ms > 0, "boot %.0f ready %.0f",
          info->boot_ms, info->ready_ms);
    int host = info->host_ports[0];
    char want[64];
    snprintf(want, sizeof want, "http://127.0.0.1:%d", host);
    const char *http = jb_instance_ready_value(inst, "http");
    CHECK(host > 0 && host != portno, "a free host port %d for guest port %d", host, portno);
    CHECK(http && strcmp(http, want) == 0, "readiness names the host side %s: %s", want,
          http ? http : "(none)");
    int answer = -1;
    for (int i = 0; i < 20 && answer != 1; i++, usleep(250000))
        answer = http_get(host, "fake fake-1");
    CHECK(answer == 1, "forwarded port %d -> %d answers: %d", host, portno, answer);
    CHECK(jb_instance_stop(inst, err, sizeof err), "stop: %s", err);
    virDomainPtr left = virDomainLookupByName(conn, name);
    CHECK(!left, "domain %s gone", name);
    if (left)
        virDomainFree(left);
    for (int i = 0; i < 50 && kill(qemu, 0) == 0; i++)
        usleep(100000);
    CHECK(kill(qemu, 0) != 0, "qemu %d gone", (int)qemu);
    CHECK(http_get(host, "") == -1, "port %d no longer forwarded", host);
}

/* A guest with a disk through the driver's disk path (image osv; Debian's
 * kernel stands in for OSv's, an empty raw file for its image): QEMU
 * refused to start it while the NIC took the disk's PCI slot. The kernel
 * boots with the disk attached up to its panic for want of a root file
 * system, which fails the instance at once, the panic line quoted. */
static void test_disk_guest(const char *run, const char *dir, const char *vmlinuz)
{
    char disk[512], tmpl[512], err[2048];
    snprintf(disk, sizeof disk, "%s/disk.img", dir);
    FILE *f = fopen(disk, "w");
    CHECK(f && ftruncate(fileno(f), 1 << 20) == 0, "disk %s", disk);
    if (f)
        fclose(f);
    snprintf(tmpl, sizeof tmpl, "%s/{service}.img", dir);
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.driver = "libvirt";
    cfg.run_id = run;
    cfg.accel = "emulated";
    cfg.memory_mb = 128;
    cfg.image_kind = "osv";
    cfg.osv_kernel = vmlinuz;
    cfg.osv_disk = tmpl;
    cfg.osv_cmdline = "console=ttyS0 panic=-1 {args}";
    jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
    CHECK(p, "open with a disk: %s", err);
    if (!p)
        return;
    jb_instance_spec spec = {.service = "disk", .index = 1, .ports = {test_free_port()}};
    jb_instance *inst = jb_platform_start(p, &spec, err, sizeof err);
    CHECK(inst, "a guest with a disk and a NIC starts: %s", err);
    double t0 = now_ms();
    bool ready = inst && jb_instance_wait_ready(inst, 120000, err, sizeof err);
    CHECK(inst && !ready && strstr(err, "failed: \"") && strstr(err, "Kernel panic") &&
              strstr(err, "VFS: Unable to mount root fs"),
          "the kernel booted with the disk attached, its panic quoted: %s", err);
    printf("guest with a disk: kernel panicked as expected after %.0f ms\n", now_ms() - t0);
    /* the OSv path's command line as the guest got it (Linux echoes it):
     * the driver's --bind and the emulated call timeout as OSv's --env= */
    char console[8192] = "";
    FILE *c = inst ? fopen(jb_instance_get_info(inst)->log_path, "r") : NULL;
    size_t got = c ? fread(console, 1, sizeof console - 1, c) : 0;
    console[got] = '\0';
    if (c)
        fclose(c);
    char *line = strstr(console, "Kernel command line:");
    char *eol = line ? strchr(line, '\n') : NULL;
    if (eol)
        *eol = '\0';
    CHECK(line && strstr(line, "--env=JUNG_TIMEOUT_MS=30000 console=ttyS0") &&
              strstr(line, " --bind 0.0.0.0"),
          "OSv-style command line with the driver's additions: %s", line ? line : console);
    jb_platform_close(p);
    unlink(disk);
}

/* Two guests listening on the same guest port (every run's gateway on
 * 8080) at once, each forwarded from its own free host port: runs can
 * share a machine. */
static void test_shared_guest_port(jb_platform *p)
{
    char err[1024];
    const char *env[] = {"FAKE_PORT=8080", NULL};
    jb_instance *inst[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        jb_instance_spec spec = {.service = "fake",
                                 .index = 6 + i,
                                 .env = env,
                                 .ports = {8080},
                                 .free_host_ports = true};
        inst[i] = jb_platform_start(p, &spec, err, sizeof err);
        CHECK(inst[i], "start fake-%d: %s", 6 + i, err);
    }
    if (!inst[0] || !inst[1] || !jb_instances_wait_ready(inst, 2, 120000, err, sizeof err)) {
        CHECK(false, "two guests on guest port 8080 ready: %s", err);
        jb_instances_stop(inst[0] ? inst : inst + 1, inst[0] && inst[1] ? 2 : 1, err, sizeof err);
        return;
    }
    for (int i = 0; i < 2; i++) {
        int host = jb_instance_get_info(inst[i])->host_ports[0];
        char want[32];
        snprintf(want, sizeof want, "fake fake-%d", 6 + i);
        int answer = -1;
        for (int k = 0; k < 20 && answer != 1; k++, usleep(250000))
            answer = http_get(host, want);
        CHECK(answer == 1, "fake-%d answers on host port %d: %d", 6 + i, host, answer);
    }
    CHECK(jb_instances_stop(inst, 2, err, sizeof err), "stop both: %s", err);
}

static void test_service_dies(jb_platform *p)
{
    char err[1024];
    const char *args[] = {"--exit-before-ready", "3", NULL};
    jb_instance_spec spec = {.service = "fake", .index = 2, .args = args};
    jb_instance *inst = jb_platform_start(p, &spec, err, sizeof err);
    CHECK(inst, "start: %s", err);
    if (!inst)
        return;
    CHECK(!jb_instance_wait_ready(inst, 120000, err, sizeof err) &&
              strstr(err, "failing on purpose"),
          "death reported with the console's last output: %s", err);
    jb_instance_stop(inst, err, sizeof err);
    /* OSv's guest stays up after its program aborted: the console line
     * ends the wait at once, and is the reason given */
    const char *osv_abort[] = {"--abort-like-osv", NULL};
    jb_instance_spec aborts = {.service = "fake", .index = 5, .args = osv_abort};
    inst = jb_platform_start(p, &aborts, err, sizeof err);
    CHECK(inst, "start: %s", err);
    double t0 = now_ms();
    CHECK(inst && !jb_instance_wait_ready(inst, 120000, err, sizeof err) &&
              strstr(err, "failed: \"/jung-fake: failed looking up symbol sodium_init\""),
          "an aborted program fails the guest at once, its line quoted: %s", err);
    printf("aborted program reported after %.0f ms\n", now_ms() - t0);
    CHECK(now_ms() - t0 < 100000, "long before the ready timeout: %.0f ms", now_ms() - t0);
    if (inst)
        jb_instance_stop(inst, err, sizeof err);
    jb_instance_spec bad = {.service = "fake", .index = 3, .args = (const char *[]){"a b", NULL}};
    CHECK(!jb_platform_start(p, &bad, err, sizeof err) && strstr(err, "space"),
          "argument with a space refused: %s", err);
    jb_instance_spec dotted = {
        .service = "fake", .index = 4, .env = (const char *[]){"A.B=1", NULL}};
    CHECK(!jb_platform_start(p, &dotted, err, sizeof err) && strstr(err, "A.B=1"),
          "environment the kernel would not pass refused: %s", err);
    jb_instance_spec none = {.service = "no_such", .index = 1};
    CHECK(!jb_platform_start(p, &none, err, sizeof err) &&
              strstr(err, "jungbench images build microvm"),
          "missing image named with the fix: %s", err);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MICROVM_INIT FAKE_SERVICE\n", argv[0]);
        return 2;
    }
    virSetErrorFunc(NULL, quiet);
    virConnectPtr conn = virConnectOpen("qemu:///system");
    char vmlinuz[512], release[128], err[1024];
    if (!conn) {
        printf("SKIP: libvirtd not reachable at qemu:///system (virtlogd -d; libvirtd -d)\n");
        return 77;
    }
    if (!jb_cloud_kernel(vmlinuz, sizeof vmlinuz, release, sizeof release, err, sizeof err) ||
        !jb_elf_is_static(argv[1], err, sizeof err) ||
        !jb_elf_is_static(argv[2], err, sizeof err)) {
        printf("SKIP: %s\n", err);
        virConnectClose(conn);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[256], run[64];
    snprintf(run, sizeof run, "test-libvirt-%d", (int)getpid());
    snprintf(dir, sizeof dir, "/tmp/jungbench-%s-images", run);
    if (build_image(dir, argv[1], argv[2])) {
        jb_platform_config cfg;
        jb_platform_config_init(&cfg);
        cfg.driver = "libvirt";
        cfg.run_id = run;
        cfg.accel = "emulated";
        cfg.image_dir = dir;
        cfg.memory_mb = 128;
        jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
        CHECK(p, "open: %s", err);
        if (p) {
            test_boot(p, conn);
            test_shared_guest_port(p);
            test_service_dies(p);
            jb_platform_close(p);
        }
        test_disk_guest(run, dir, vmlinuz);
    }
    virConnectClose(conn);
    char rm[512];
    snprintf(rm, sizeof rm, "%s/microvm/fake.cpio.xz", dir);
    unlink(rm);
    snprintf(rm, sizeof rm, "%s/microvm", dir);
    rmdir(rm);
    rmdir(dir);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    else
        printf("test_libvirt: all checks passed\n");
    return failures ? 1 : 0;
}
