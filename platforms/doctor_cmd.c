/* doctor_cmd.c - `jungbench doctor`: for each platform, what works here and
 * what is missing, with the command that fixes it. */
#include "platforms/docker_api.h"
#include "platforms/images.h"
#include "platforms/internal.h"

#include "cli/cli.h"
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <grp.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD "doctor"

typedef struct doctor {
    char bin_dir[4096], init[4096];
    const char *socket, *uri, *image_dir, *brokers, *tag;
    bool probe_kvm, clean;
    int missing, warnings;
} doctor;

enum verdict { OK, WARN, MISSING };

static void report(doctor *d, enum verdict v, const char *platform, const char *check,
                   const char *fix, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void report(doctor *d, enum verdict v, const char *platform, const char *check,
                   const char *fix, const char *fmt, ...)
{
    static const char *const labels[] = {"ok", "warn", "MISSING"};
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("%-8s %-8s %-16s %s\n", labels[v], platform, check, detail);
    if (v != OK && fix)
        printf("%-8s %-8s %-16s   fix: %s\n", "", "", "", fix);
    d->missing += v == MISSING;
    d->warnings += v == WARN;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: jungbench doctor [OPTIONS] [CONFIG]\n\n"
                 "Checks each platform (process, docker, libvirt) and the broker, and prints\n"
                 "what works and what is missing with the command that fixes it. With CONFIG,\n"
                 "also each platform of that experiment: for an OSv one its kernel (present, a\n"
                 "usable ELF), its services' disks, that libvirt's QEMU user can read both, and\n"
                 "KVM or emulation. Exit status 0 when nothing is missing (warnings allowed),\n"
                 "1 otherwise.\n\n"
                 "Options:\n"
                 "  --brokers LIST    broker to check (default 127.0.0.1:9092; loopback only)\n"
                 "  --bin-dir DIR     the service executables (default <build>/jung)\n"
                 "  --socket PATH     Docker Engine socket (default /var/run/docker.sock)\n"
                 "  --tag TAG         docker image tag (default " JB_VERSION ")\n"
                 "  --uri URI         libvirt connection (default qemu:///system)\n"
                 "  --image-dir DIR   microVM images (default /var/lib/jungbench/images)\n"
                 "  --probe-kvm       boot the kernel under KVM once to see whether KVM\n"
                 "                    really works (cached; up to 20 s)\n"
                 "  --clean           remove the containers and domains of killed runs\n"
                 "                    (every jungbench run: only when none is in progress)\n"
                 "  -h, --help        this help\n");
}

/* ---- broker ------------------------------------------------------------ */

static bool tcp_reachable(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (!ok) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 1;
        socklen_t len = sizeof soerr;
        ok = poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 &&
             soerr == 0;
    }
    close(fd);
    return ok;
}

static void check_broker(doctor *d)
{
    char list[1024];
    jb_strlcpy(list, d->brokers, sizeof list);
    char *save = NULL;
    for (char *b = strtok_r(list, ",", &save); b; b = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(b, ':');
        int port = colon ? atoi(colon + 1) : 9092;
        if (colon)
            *colon = '\0';
        const char *host = strcmp(b, "localhost") == 0 ? "127.0.0.1" : b;
        if (strncmp(host, "127.", 4) != 0) {
            report(d, WARN, "broker", b, NULL, "not checked: only loopback addresses are dialled");
            continue;
        }
        if (tcp_reachable(host, port))
            report(d, OK, "broker", "reachable", NULL, "%s:%d accepts connections", host, port);
        else
            report(d, WARN, "broker", "reachable",
                   "'jungbench broker --port 9092 &' (embedded) or scripts/kafka (Apache Kafka); "
                   "configs with 'broker: embedded' need none",
                   "nothing listens on %s:%d", host, port);
    }
}

/* ---- process and docker ------------------------------------------------- */

static void check_process(doctor *d)
{
    size_t found = 0;
    char missing[512] = "";
    for (size_t i = 0; i < JB_SERVICE_COUNT; i++) {
        char exe[4096], err[512];
        if (jb_find_service_executable(d->bin_dir, jb_jung_services[i], exe, sizeof exe, err,
                                       sizeof err))
            found++;
        else
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s",
                     jb_jung_services[i]);
    }
    if (found == JB_SERVICE_COUNT)
        report(d, OK, "process", "executables", NULL, "all %d services in %s", JB_SERVICE_COUNT,
               d->bin_dir);
    else
        report(d, MISSING, "process", "executables", "ninja -C <build> (or pass --bin-dir)",
               "%zu of %d services in %s; missing:%s", found, JB_SERVICE_COUNT, d->bin_dir,
               missing);
}

static void check_static(doctor *d, const char *platform)
{
    size_t good = 0;
    char why[1024] = "";
    for (size_t i = 0; i < JB_SERVICE_COUNT; i++) {
        char exe[4096], err[1024];
        if (jb_find_service_executable(d->bin_dir, jb_jung_services[i], exe, sizeof exe, err,
                                       sizeof err) &&
            jb_elf_is_static(exe, err, sizeof err))
            good++;
        else if (!why[0])
            jb_strlcpy(why, err, sizeof why);
    }
    if (good == JB_SERVICE_COUNT)
        report(d, OK, platform, "static exes", NULL, "all %d services are static executables",
               JB_SERVICE_COUNT);
    else
        report(d, WARN, platform, "static exes",
               "scripts/static-deps && cmake -DJB_STATIC_SERVICES=ON <build> && ninja -C <build>",
               "%zu of %d services static; images of the others carry their loader and "
               "libraries (a shared base layer for Docker); first: %s",
               good, JB_SERVICE_COUNT, why);
}

static void check_docker_images(doctor *d, jb_docker *api)
{
    size_t have = 0;
    for (size_t i = 0; i < JB_SERVICE_COUNT; i++) {
        char path[512], err[512];
        long status = 0;
        snprintf(path, sizeof path, "/images/jung/%s:%s/json", jb_jung_services[i], d->tag);
        json_decref(jb_docker_json(api, "GET", path, NULL, &status, err, sizeof err));
        have += status == 200;
    }
    report(d, have == JB_SERVICE_COUNT ? OK : MISSING, "docker", "images",
           "jungbench images build docker", "%zu of %d images jung/<service>:%s", have,
           JB_SERVICE_COUNT, d->tag);
}

static void check_docker(doctor *d)
{
    char err[1024];
    jb_docker api;
    if (access(d->socket, F_OK) != 0) {
        report(d, MISSING, "docker", "engine",
               "dockerd > /tmp/dockerd.log 2>&1 & (or scripts/services)", "no socket at %s",
               d->socket);
    } else if (!jb_docker_connect(&api, d->socket, err, sizeof err)) {
        report(d, MISSING, "docker", "engine", NULL, "%s", err);
    } else {
        report(d, OK, "docker", "engine", NULL, "Docker %s, API %s (negotiated) at %s",
               api.engine_version, api.api, d->socket);
        check_docker_images(d, &api);
        jb_docker_disconnect(&api);
    }
    check_static(d, "docker");
}

/* ---- libvirt ------------------------------------------------------------ */

static void quiet(void *ctx, virErrorPtr e)
{
    (void)ctx;
    (void)e;
}

static void check_kvm(doctor *d, const char *release)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        report(d, WARN, "libvirt", "kvm", "enable virtualisation (or nested KVM) for this machine",
               "/dev/kvm cannot be opened: guests will be emulated (TCG)");
        return;
    }
    close(fd);
    char cache[4300], line[512] = "";
    snprintf(cache, sizeof cache, "%s/kvm-verdict-%s", JB_KVM_VERDICT_DIR, release);
    if (d->probe_kvm) {
        unlink(cache);
        jb_platform_config cfg;
        jb_platform_config_init(&cfg);
        cfg.driver = "libvirt";
        cfg.libvirt_uri = d->uri;
        cfg.image_dir = d->image_dir;
        cfg.run_id = "doctor";
        char err[1024];
        jb_platform *p = jb_platform_open(&cfg, err, sizeof err); /* probes and caches */
        if (!p)
            report(d, WARN, "libvirt", "kvm", NULL, "probe failed: %s", err);
        jb_platform_close(p);
    }
    FILE *f = fopen(cache, "r");
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
    }
    if (!line[0])
        report(d, WARN, "libvirt", "kvm", "jungbench doctor --probe-kvm",
               "/dev/kvm opens; whether a guest boots under it was not probed yet (accel auto "
               "probes on first use)");
    else if (strncmp(line, "kvm", 3) == 0)
        report(d, OK, "libvirt", "kvm", NULL, "guests boot under KVM (%s)", cache);
    else
        report(d, WARN, "libvirt", "kvm", NULL,
               "KVM cannot boot guests here, so guests run emulated and their timings are "
               "labelled 'emulated' (%s)",
               line);
}

static void check_microvm_images(doctor *d, const char *release)
{
    size_t have = 0;
    for (size_t i = 0; i < JB_SERVICE_COUNT; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/microvm/%s.cpio.xz", d->image_dir, jb_jung_services[i]);
        have += access(path, R_OK) == 0;
    }
    report(d, have == JB_SERVICE_COUNT ? OK : MISSING, "libvirt", "microvm images",
           "jungbench images build microvm", "%zu of %d in %s/microvm", have, JB_SERVICE_COUNT,
           d->image_dir);
    char err[512];
    if (access(d->init, X_OK) == 0 && jb_elf_is_static(d->init, err, sizeof err))
        report(d, OK, "libvirt", "microvm init", NULL, "%s", d->init);
    else
        report(d, MISSING, "libvirt", "microvm init", "ninja -C <build> jb_microvm_init",
               "%s missing or not static", d->init);
    size_t mods = 0;
    for (size_t i = 0; i < 8; i++) {
        char path[512];
        snprintf(path, sizeof path, "/lib/modules/%s/%s", release, jb_microvm_modules[i]);
        mods += access(path, R_OK) == 0;
    }
    report(d, mods == 8 ? OK : MISSING, "libvirt", "virtio modules",
           "apt-get install linux-image-cloud-amd64", "%zu of 8 in /lib/modules/%s", mods, release);
}

static void check_libvirt(doctor *d)
{
    virSetErrorFunc(NULL, quiet);
    virConnectPtr conn = virConnectOpen(d->uri);
    if (!conn) {
        const char *msg = virGetLastErrorMessage();
        report(d, MISSING, "libvirt", "connection",
               "virtlogd -d; libvirtd -d (or scripts/services)", "%s: %s", d->uri,
               msg ? msg : "cannot connect");
    } else {
        unsigned long version = 0;
        virConnectGetLibVersion(conn, &version);
        report(d, OK, "libvirt", "connection", NULL, "%s, libvirt %lu.%lu.%lu", d->uri,
               version / 1000000, version / 1000 % 1000, version % 1000);
        virConnectClose(conn);
    }
    if (access("/usr/bin/qemu-system-x86_64", X_OK) == 0)
        report(d, OK, "libvirt", "qemu", NULL, "/usr/bin/qemu-system-x86_64");
    else
        report(d, MISSING, "libvirt", "qemu", "apt-get install qemu-system-x86",
               "no qemu-system-x86_64");
    char vmlinuz[512], release[128], err[512];
    if (!jb_cloud_kernel(vmlinuz, sizeof vmlinuz, release, sizeof release, err, sizeof err)) {
        report(d, MISSING, "libvirt", "kernel", "apt-get install linux-image-cloud-amd64", "%s",
               err);
        return;
    }
    report(d, OK, "libvirt", "kernel", NULL, "%s", vmlinuz);
    check_microvm_images(d, release);
    if (conn)
        check_kvm(d, release);
}

/* ---- the platforms of a config ------------------------------------------ */

/* Whether libvirt's QEMU user (libvirt-qemu, uid 64055 on Debian) can read
 * path: every folder above it searchable and the file readable, by owner,
 * group or other bits as they apply to that user. why: the first obstacle
 * and its fix. */
static bool qemu_can_read(const char *path, char *why, size_t whylen)
{
    struct passwd *pw = getpwnam("libvirt-qemu");
    uid_t uid = pw ? pw->pw_uid : 64055;
    gid_t gid = pw ? pw->pw_gid : 64055;
    char buf[4096];
    jb_strlcpy(buf, path, sizeof buf);
    for (char *s = buf + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        struct stat st;
        bool last = saved == '\0';
        mode_t need = last ? 4 : 1; /* r for the file, x for each folder */
        if (stat(buf, &st) != 0) {
            snprintf(why, whylen, "%.1000s: %s", buf, strerror(errno));
            return false;
        }
        mode_t bits = st.st_uid == uid   ? st.st_mode >> 6
                      : st.st_gid == gid ? st.st_mode >> 3
                                         : st.st_mode;
        if (!(bits & need)) {
            snprintf(why, whylen, "%.900s (mode %04o) is not %s by libvirt-qemu: chmod o+%c %.900s",
                     buf, (unsigned)(st.st_mode & 07777), last ? "readable" : "searchable",
                     last ? 'r' : 'x', buf);
            return false;
        }
        *s = saved;
        if (last)
            return true;
    }
}

static void check_osv_kernel(doctor *d, const jb_config_platform *pl)
{
    char err[2048], fix[512];
    snprintf(fix, sizeof fix,
             "jungbench images build osv --kernel <OSv's loader-stripped.elf> --image-dir %s, "
             "then osv: {kernel: %s/osv/kernel.elf}",
             pl->image_dir, pl->image_dir);
    if (!jb_osv_kernel_usable(pl->osv_kernel, err, sizeof err))
        report(d, MISSING, pl->name, "osv kernel", fix, "%s", err);
    else if (!qemu_can_read(pl->osv_kernel, err, sizeof err))
        report(d, MISSING, pl->name, "osv kernel", fix, "%s", err);
    else
        report(d, OK, pl->name, "osv kernel", NULL, "%s: x86-64 ELF executable, readable by QEMU",
               pl->osv_kernel);
}

static void check_osv_disks(doctor *d, const jb_config *cfg, const jb_config_platform *pl)
{
    char fix[512], first[2048] = "";
    snprintf(fix, sizeof fix,
             "jungbench images build osv --kernel <OSv's loader-stripped.elf> "
             "--image-dir %s",
             pl->image_dir);
    size_t have = 0;
    for (size_t i = 0; i < cfg->nservices; i++) {
        char path[4096], why[2048];
        if (!jb_expand_template(pl->osv_disk, cfg->services[i].name, "", path, sizeof path))
            snprintf(why, sizeof why, "osv.disk '%s' is too long", pl->osv_disk);
        else if (qemu_can_read(path, why, sizeof why)) {
            have++;
            continue;
        }
        if (!first[0])
            jb_strlcpy(first, why, sizeof first);
    }
    if (have == cfg->nservices)
        report(d, OK, pl->name, "osv disks", NULL, "%zu of %zu (%s), readable by QEMU", have,
               cfg->nservices, pl->osv_disk);
    else
        report(d, MISSING, pl->name, "osv disks", fix, "%zu of %zu (%s); first: %s", have,
               cfg->nservices, pl->osv_disk, first);
}

/* The verdict the driver cached for an OSv kernel (accel auto), if any. */
static void check_osv_accel(doctor *d, const jb_config_platform *pl)
{
    if (strcmp(pl->accel, "emulated") == 0) {
        report(d, OK, pl->name, "accel", NULL, "emulated (accel: emulated): timings labelled so");
        return;
    }
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        report(d, strcmp(pl->accel, "kvm") == 0 ? MISSING : WARN, pl->name, "accel",
               "enable virtualisation (or nested KVM), or set accel: emulated",
               "/dev/kvm cannot be opened: %s",
               strcmp(pl->accel, "kvm") == 0 ? "accel: kvm cannot work"
                                             : "guests will be emulated (TCG)");
        return;
    }
    close(fd);
    glob_t g;
    char line[512] = "";
    if (glob(JB_KVM_VERDICT_DIR "/kvm-verdict-osv*", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        FILE *f = fopen(g.gl_pathv[g.gl_pathc - 1], "r");
        if (f) {
            if (!fgets(line, sizeof line, f))
                line[0] = '\0';
            fclose(f);
        }
        line[strcspn(line, "\n")] = '\0';
    }
    globfree(&g);
    bool kvm = strncmp(line, "kvm", 3) == 0;
    if (!line[0])
        report(d, WARN, pl->name, "accel", NULL,
               "accel %s; /dev/kvm opens; whether OSv boots under KVM is probed on first use",
               pl->accel);
    else if (kvm)
        report(d, OK, pl->name, "accel", NULL, "accel %s: OSv boots under KVM (%s)", pl->accel,
               line);
    else
        report(d, WARN, pl->name, "accel",
               strcmp(pl->accel, "kvm") == 0 ? "set accel: auto (or emulated)" : NULL,
               "accel %s: KVM cannot boot OSv here, so guests run emulated and their timings are "
               "labelled 'emulated' (%s)",
               pl->accel, line);
}

static void check_config(doctor *d, const char *path)
{
    jb_config *cfg = calloc(1, sizeof *cfg); /* ~100 KB: not for the stack */
    char err[2048];
    if (!cfg) {
        report(d, MISSING, "config", "load", NULL, "out of memory");
        return;
    }
    if (!jb_config_load(path, 0, cfg, err, sizeof err)) {
        report(d, MISSING, "config", "load", "fix the config (docs/config.md)", "%s", err);
        free(cfg);
        return;
    }
    report(d, OK, "config", "load", NULL, "%s: %zu platform(s), %zu service(s)", path,
           cfg->nplatforms, cfg->nservices);
    for (size_t i = 0; i < cfg->nplatforms; i++) {
        const jb_config_platform *pl = &cfg->platforms[i];
        if (strcmp(pl->driver, "libvirt") != 0 || strcmp(pl->image, "osv") != 0) {
            report(d, OK, pl->name, "platform", NULL, "driver %s%s%s: see the %s checks above",
                   pl->driver, strcmp(pl->driver, "libvirt") == 0 ? ", image " : "",
                   strcmp(pl->driver, "libvirt") == 0 ? pl->image : "", pl->driver);
            continue;
        }
        check_osv_kernel(d, pl);
        check_osv_disks(d, cfg, pl);
        check_osv_accel(d, pl);
    }
    free(cfg);
}

static void check_leftovers(doctor *d)
{
    jb_leftovers left;
    jb_find_leftovers(d->socket, d->uri, NULL, d->clean, &left);
    if (left.containers + left.domains == 0)
        report(d, OK, "all", "leftovers", NULL, "no jungbench container or domain is left");
    else if (d->clean)
        report(d, OK, "all", "leftovers", NULL, "removed %zu container(s), %zu domain(s): %s",
               left.containers, left.domains, left.names);
    else
        report(d, WARN, "all", "leftovers", "jungbench doctor --clean (when no run is in progress)",
               "%zu container(s), %zu domain(s) of jungbench runs exist: %s", left.containers,
               left.domains, left.names);
}

int doctor_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"brokers", required_argument, NULL, 'B'},
                                             {"bin-dir", required_argument, NULL, 'b'},
                                             {"socket", required_argument, NULL, 'S'},
                                             {"tag", required_argument, NULL, 't'},
                                             {"uri", required_argument, NULL, 'u'},
                                             {"image-dir", required_argument, NULL, 'i'},
                                             {"probe-kvm", no_argument, NULL, 'k'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    doctor d = {.socket = "/var/run/docker.sock",
                .uri = "qemu:///system",
                .image_dir = "/var/lib/jungbench/images",
                .brokers = "127.0.0.1:9092",
                .tag = JB_VERSION};
    char exe_dir[4096] = ".";
    jb_exe_dir(exe_dir, sizeof exe_dir);
    snprintf(d.bin_dir, sizeof d.bin_dir, "%s/jung", exe_dir);
    snprintf(d.init, sizeof d.init, "%s/platforms/jb_microvm_init", exe_dir);
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'B':
            d.brokers = optarg;
            break;
        case 'b':
            jb_strlcpy(d.bin_dir, optarg, sizeof d.bin_dir);
            break;
        case 'S':
            d.socket = optarg;
            break;
        case 't':
            d.tag = optarg;
            break;
        case 'u':
            d.uri = optarg;
            break;
        case 'i':
            d.image_dir = optarg;
            break;
        case 'k':
            d.probe_kvm = true;
            break;
        case 'h':
            usage(stdout);
            return JB_EXIT_OK;
        default:
            return jb_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return jb_usage_error(CMD, "unexpected argument '%s'", argv[optind + 1]);
    const char *config = optind < argc ? argv[optind] : NULL;
    jb_install_stop_handlers();
    check_broker(&d);
    check_process(&d);
    check_docker(&d);
    check_libvirt(&d);
    if (config)
        check_config(&d, config);
    check_leftovers(&d);
    printf("\n%d missing, %d warning(s)\n", d.missing, d.warnings);
    return d.missing ? JB_EXIT_FAIL : JB_EXIT_OK;
}
