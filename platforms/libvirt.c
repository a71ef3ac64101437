/* libvirt.c - the "libvirt" driver: each instance a transient QEMU guest
 * through the libvirt C API (qemu:///system): a Linux microVM (Debian's
 * cloud kernel + our initramfs, microvm.c) or a user-built OSv image.
 *
 * Domains start with VIR_DOMAIN_START_AUTODESTROY, so libvirtd destroys
 * them when our connection closes, even if the harness is killed: nothing
 * is left running and no port stays forwarded. The serial console goes to
 * <work_dir>/<instance>.console, where the readiness line is read. Whether
 * guests run under KVM or TCG emulation is decided once per platform (see
 * kvm_probe) and labelled on every instance (info.accel). */
#include "platforms/domain_xml.h"
#include "platforms/images.h"
#include "platforms/internal.h"

#include "cli/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOST_FROM_GUEST "10.0.2.2" /* QEMU user networking: the host's loopback */
/* OSv's loader options, then the program: the root is our ROFS image */
#define JB_OSV_CMDLINE "--rootfs=rofs /jung-{service} {args}"

typedef struct libvirt_platform {
    virConnectPtr conn;
    bool kvm, osv;
    char kernel[4096], release[128];
    char disk[4096], cmdline[2048]; /* osv: templates with {service}, {args} */
    char owner[160];                /* jb_owner_token(): in each domain's <description> */
} libvirt_platform;

typedef struct libvirt_instance {
    virDomainPtr dom;
    jb_follow console;
    double next_state_check_ms;
    bool endpoints_rewritten; /* readiness values now name the host's side */
    int guest_ports[8];       /* spec.ports: what the readiness line names */
} libvirt_instance;

static void quiet_errors(void *ctx, virErrorPtr error)
{
    (void)ctx;
    (void)error; /* messages are read with virGetLastErrorMessage where they matter */
}

static const char *last_error(void)
{
    const char *msg = virGetLastErrorMessage();
    return msg ? msg : "unknown libvirt error";
}

/* ---- KVM or emulation ------------------------------------------------ */

static bool console_has(const char *path, const char *const *needles, size_t n)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        for (size_t i = 0; i < n && !found; i++)
            found = strstr(line, needles[i]) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* Boots the kernel alone under KVM: a Linux kernel that really runs gets
 * as far as "Kernel panic ... VFS: Unable to mount root fs" within seconds;
 * OSv, told to mount nothing and run a program that does not exist, as far
 * as "Failed to load object: ... Powering off" (its whole boot, drivers
 * and scheduler included). On a KVM that cannot run it QEMU stops with an
 * emulation failure (the domain pauses or crashes) or nothing appears. */
static bool kvm_boots(libvirt_platform *lp, const char *work_dir, char *why, size_t whylen)
{
    char console[4200], xml[8192], err[512];
    snprintf(console, sizeof console, "%s/kvm-probe.console", work_dir);
    unlink(console);
    jb_domain_spec spec = {.name = "jungbench-kvm-probe",
                           .kvm = true,
                           .vcpus = 1,
                           .memory_mb = 128,
                           .kernel = lp->kernel,
                           .cmdline = lp->osv ? "--nomount --noinit /jungbench-kvm-probe"
                                              : "console=ttyS0 panic=-1",
                           .console_path = console};
    if (!jb_domain_xml(&spec, xml, sizeof xml, err, sizeof err)) {
        jb_strlcpy(why, err, whylen);
        return false;
    }
    virDomainPtr old = virDomainLookupByName(lp->conn, spec.name);
    if (old) {
        virDomainDestroy(old);
        virDomainFree(old);
    }
    virDomainPtr dom = virDomainCreateXML(lp->conn, xml, VIR_DOMAIN_START_AUTODESTROY);
    if (!dom) {
        snprintf(why, whylen, "KVM guest did not start: %s", last_error());
        return false;
    }
    const char *booted[] = {"Kernel panic", "VFS: Unable to mount", "Failed to load object",
                            "Powering off"};
    bool ok = false;
    double deadline = jb_now_ms() + 20000;
    snprintf(why, whylen, "a KVM guest did not boot within 20 s");
    while (jb_now_ms() < deadline && !jb_stop_requested()) {
        if (console_has(console, booted, 4)) {
            ok = true;
            break;
        }
        int state = 0, reason = 0;
        if (virDomainGetState(dom, &state, &reason, 0) != 0 || state != VIR_DOMAIN_RUNNING) {
            snprintf(why, whylen,
                     "a KVM guest stopped before booting (libvirt state %d, "
                     "reason %d: emulation failure?)",
                     state, reason);
            break;
        }
        jb_sleep_ms(100);
    }
    virDomainDestroy(dom);
    virDomainFree(dom);
    return ok;
}

/* auto: KVM only when /dev/kvm opens and a guest really boots under it,
 * OSv's kernel as much as Linux's; the verdict is a property of the machine
 * and the kernel, so it is cached in JB_KVM_VERDICT_DIR/kvm-verdict-<release>
 * (an OSv kernel: osv-<file name>-<size>; `jungbench doctor --probe-kvm`
 * probes again). */
static bool choose_accel(jb_platform *p, libvirt_platform *lp, char *err, size_t errlen)
{
    const char *accel = p->cfg.accel;
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    bool have_kvm = fd >= 0;
    if (fd >= 0)
        close(fd);
    if (strcmp(accel, "emulated") == 0) {
        lp->kvm = false;
        return true;
    }
    if (strcmp(accel, "kvm") == 0) {
        if (!have_kvm)
            snprintf(err, errlen, "accel kvm: /dev/kvm cannot be opened: use accel emulated");
        lp->kvm = have_kvm;
        return have_kvm;
    }
    if (strcmp(accel, "auto") != 0) {
        snprintf(err, errlen, "accel '%s' is not known: use auto, kvm or emulated", accel);
        return false;
    }
    lp->kvm = false;
    if (!have_kvm)
        return true;
    char cache[4300], line[256] = "";
    snprintf(cache, sizeof cache, "%s/kvm-verdict-%s", JB_KVM_VERDICT_DIR, lp->release);
    FILE *f = fopen(cache, "r");
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
        lp->kvm = strncmp(line, "kvm", 3) == 0;
        return true;
    }
    char why[256] = "";
    lp->kvm = kvm_boots(lp, p->cfg.work_dir, why, sizeof why);
    fprintf(stderr, "jungbench: libvirt: %s\n",
            lp->kvm ? "KVM boots guests: using kvm" : "KVM cannot boot guests here: emulating");
    if (!lp->kvm)
        fprintf(stderr, "jungbench: libvirt: (%s); timings will be labelled 'emulated'\n", why);
    char dir_err[256];
    if (jb_mkdirs(JB_KVM_VERDICT_DIR, dir_err, sizeof dir_err) && (f = fopen(cache, "w"))) {
        fprintf(f, "%s %s\n", lp->kvm ? "kvm" : "emulated", why);
        fclose(f);
    }
    return true;
}

/* ---- open/close ------------------------------------------------------ */

static bool check_image_config(jb_platform *p, libvirt_platform *lp, char *err, size_t errlen)
{
    if (strcmp(p->cfg.image_kind, "microvm") == 0)
        return jb_cloud_kernel(lp->kernel, sizeof lp->kernel, lp->release, sizeof lp->release, err,
                               errlen);
    if (strcmp(p->cfg.image_kind, "osv") != 0) {
        snprintf(err, errlen, "image kind '%s' is not known: use microvm or osv",
                 p->cfg.image_kind);
        return false;
    }
    lp->osv = true;
    if (!p->cfg.osv_kernel || !p->cfg.osv_kernel[0]) {
        snprintf(err, errlen,
                 "image kind osv needs the OSv kernel: set osv: {kernel: PATH} on the platform "
                 "(PATH: the copy of OSv's loader-stripped.elf that 'jungbench images build osv "
                 "--kernel FILE' makes, %s/osv/kernel.elf; docs/osv.md)",
                 p->cfg.image_dir ? p->cfg.image_dir : "/var/lib/jungbench/images");
        return false;
    }
    /* osv.disk and osv.cmdline default to what `images build osv` makes */
    if (p->cfg.osv_disk && p->cfg.osv_disk[0])
        jb_strlcpy(lp->disk, p->cfg.osv_disk, sizeof lp->disk);
    else
        snprintf(lp->disk, sizeof lp->disk, "%s/osv/{service}.img",
                 p->cfg.image_dir ? p->cfg.image_dir : "/var/lib/jungbench/images");
    jb_strlcpy(lp->cmdline,
               p->cfg.osv_cmdline && p->cfg.osv_cmdline[0] ? p->cfg.osv_cmdline : JB_OSV_CMDLINE,
               sizeof lp->cmdline);
    jb_strlcpy(lp->kernel, p->cfg.osv_kernel, sizeof lp->kernel);
    /* names the KVM verdict's cache: another OSv kernel is probed anew */
    struct stat st;
    const char *base = strrchr(lp->kernel, '/');
    snprintf(lp->release, sizeof lp->release, "osv-%.80s-%lld", base ? base + 1 : lp->kernel,
             stat(lp->kernel, &st) == 0 ? (long long)st.st_size : 0LL);
    return true;
}

static bool libvirt_open(jb_platform *p, char *err, size_t errlen)
{
    libvirt_platform *lp = calloc(1, sizeof *lp);
    if (!lp) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    virSetErrorFunc(NULL, quiet_errors);
    bool ok = check_image_config(p, lp, err, errlen);
    if (ok) {
        lp->conn = virConnectOpen(p->cfg.libvirt_uri);
        if (!lp->conn)
            snprintf(err, errlen,
                     "cannot connect to libvirt at %s: %s; start the daemons with 'virtlogd -d; "
                     "libvirtd -d' (or scripts/services)",
                     p->cfg.libvirt_uri, last_error());
        ok = lp->conn != NULL;
    }
    ok = ok && choose_accel(p, lp, err, errlen);
    if (!ok) {
        if (lp->conn)
            virConnectClose(lp->conn);
        free(lp);
        return false;
    }
    if (!jb_owner_token(lp->owner, sizeof lp->owner))
        lp->owner[0] = '\0'; /* no /proc: domains without owner, doctor --clean finds them */
    /* AUTODESTROY takes a dead harness's domains down with its connection;
     * this catches the rest (libvirtd restarted meanwhile, hand-defined) */
    jb_remove_stale(NULL, p->cfg.libvirt_uri);
    p->priv = lp;
    jb_strlcpy(p->accel, lp->kvm ? "kvm" : "emulated", sizeof p->accel);
    return true;
}

static void libvirt_close(jb_platform *p)
{
    libvirt_platform *lp = p->priv;
    if (!lp)
        return;
    virConnectClose(lp->conn);
    free(lp);
    p->priv = NULL;
}

static void initrd_path(const jb_platform *p, const char *service, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/microvm/%s.cpio.xz", p->cfg.image_dir, service);
}

/* The image's <image>.sha256 (written by `images build osv|microvm`)
 * against the executable this build tree runs natively: OSv runs the static
 * build, a microVM the platform's. */
static bool guest_image_matches_build(jb_platform *p, const char *service, const char *image,
                                      const char *kind, const char *build, const char *rebuild,
                                      char *err, size_t errlen)
{
    char side[4200], held[65] = "";
    snprintf(side, sizeof side, "%s.sha256", image);
    FILE *f = fopen(side, "r");
    if (f) {
        if (!fgets(held, sizeof held, f))
            held[0] = '\0';
        fclose(f);
    }
    held[strcspn(held, "\n")] = '\0';
    char what[4300];
    snprintf(what, sizeof what, "%s %s", kind, image);
    return jb_image_matches_build(&p->cfg, service, build, what, held, rebuild, err, errlen);
}

static bool libvirt_prepare(jb_platform *p, const char *service, char *err, size_t errlen)
{
    libvirt_platform *lp = p->priv;
    char path[4096];
    if (lp->osv) {
        if (!jb_expand_template(lp->disk, service, "", path, sizeof path))
            path[0] = '\0';
        bool disk = access(path, R_OK) == 0, kernel = access(lp->kernel, R_OK) == 0;
        if (disk && kernel)
            return guest_image_matches_build(p, service, path, "OSv disk", "static",
                                             "jungbench images build osv --kernel PATH", err,
                                             errlen);
        snprintf(err, errlen,
                 "OSv image of %s missing: osv.%s '%s' %s; build the images with 'jungbench "
                 "images build osv --kernel PATH' (PATH: OSv's loader-stripped.elf) and set "
                 "osv: {kernel: <image_dir>/osv/kernel.elf} (docs/osv.md)",
                 service, kernel ? "disk" : "kernel", kernel ? path : lp->kernel,
                 access(kernel ? path : lp->kernel, F_OK) == 0 ? "is not readable"
                                                               : "does not exist");
        return false;
    }
    initrd_path(p, service, path, sizeof path);
    if (access(path, R_OK) == 0)
        return guest_image_matches_build(p, service, path, "microVM initramfs", p->cfg.build,
                                         "jungbench images build microvm", err, errlen);
    snprintf(err, errlen,
             "microVM image %s missing: build it with 'jungbench images build "
             "microvm'",
             path);
    return false;
}

/* A guest's image: the kernel (shared by all services) and the initramfs
 * or disk of the service. */
static bool libvirt_image_layers(jb_platform *p, const char *service, char (*ids)[512],
                                 uint64_t *bytes, size_t max, size_t *n, const char **kind,
                                 char *err, size_t errlen)
{
    libvirt_platform *lp = p->priv;
    char path[4096];
    if (lp->osv)
        jb_expand_template(lp->disk, service, "", path, sizeof path);
    else
        initrd_path(p, service, path, sizeof path);
    *kind = "vm";
    *n = 0;
    return jb_file_layer(lp->kernel, ids, bytes, max, n, err, errlen) &&
           jb_file_layer(path, ids, bytes, max, n, err, errlen);
}

/* ---- start ----------------------------------------------------------- */

/* The broker list as the guest must dial it: the host's loopback is
 * 10.0.2.2 inside QEMU user networking. */
static void guest_brokers(const char *brokers, char *out, size_t outlen)
{
    size_t j = 0;
    for (const char *s = brokers; *s && j + 16 < outlen;) {
        if (strncmp(s, "127.0.0.1", 9) == 0 || strncmp(s, "localhost", 9) == 0) {
            j += (size_t)snprintf(out + j, outlen - j, "%s", HOST_FROM_GUEST);
            s += 9;
        } else {
            out[j++] = *s++;
        }
    }
    out[j] = '\0';
}

/* The service options, space-separated: the kernel command line has no
 * quoting we could rely on, so an argument with a space is refused. */
static bool service_args(jb_platform *p, jb_instance *inst, const jb_instance_spec *spec, char *out,
                         size_t outlen, char *err, size_t errlen)
{
    char brokers[512];
    guest_brokers(p->cfg.brokers, brokers, sizeof brokers);
    int n = snprintf(out, outlen, "--instance %s --brokers %s --broker-map 127.0.0.1=%s",
                     inst->info.instance, brokers, HOST_FROM_GUEST);
    for (size_t i = 0; spec->args && spec->args[i]; i++) {
        if (strpbrk(spec->args[i], " \t\n\"'") || !spec->args[i][0]) {
            snprintf(err, errlen,
                     "argument '%s' of %s has a space or quote, which a guest's "
                     "kernel command line cannot carry",
                     spec->args[i], inst->info.instance);
            return false;
        }
        n += snprintf(out + n, outlen - (size_t)n, " %s", spec->args[i]);
        if ((size_t)n >= outlen)
            break;
    }
    /* The forwards arrive on the guest's interface, not its loopback, and
     * the gateway listens on 127.0.0.1 by default: the driver, not each
     * caller, says where (last, so it wins over a --bind of the caller). */
    if (spec->ports[0] && (size_t)n < outlen)
        n += snprintf(out + n, outlen - (size_t)n, " --bind 0.0.0.0");
    if ((size_t)n >= outlen) {
        snprintf(err, errlen, "the arguments of %s are too long for a kernel command line",
                 inst->info.instance);
        return false;
    }
    return true;
}

/* The spec's environment for the guest: a microVM's kernel hands
 * "NAME=VALUE" words before "--" to init as its environment (names without
 * a dot); OSv takes "--env=NAME=VALUE" before the program. */
static bool guest_env(jb_instance *inst, const jb_instance_spec *spec, bool osv, bool emulated,
                      char *out, size_t outlen, char *err, size_t errlen)
{
    size_t n = 0;
    out[0] = '\0';
    long call_ms = JB_JUNG_CALL_TIMEOUT_MS;
    for (size_t i = 0; spec->env && spec->env[i]; i++) {
        const char *kv = spec->env[i], *eq = strchr(kv, '=');
        if (emulated && strncmp(kv, "JUNG_TIMEOUT_MS=", 16) == 0) {
            call_ms = atol(kv + 16) > 0 ? atol(kv + 16) : call_ms;
            continue; /* scaled below */
        }
        if (!eq || eq == kv || memchr(kv, '.', (size_t)(eq - kv)) || strpbrk(kv, " \t\n\"'")) {
            snprintf(err, errlen,
                     "environment '%s' of %s cannot go on a guest's kernel command "
                     "line (NAME=VALUE, no dot in NAME, no space or quote)",
                     kv, inst->info.instance);
            return false;
        }
        n += (size_t)snprintf(out + n, outlen - n, "%s%s ", osv ? "--env=" : "", kv);
        if (n >= outlen)
            break;
    }
    /* Emulated, every service is several times slower, and calls between
     * services (5 s by default) time out during set-up on a busy host. */
    if (emulated && n < outlen)
        n += (size_t)snprintf(out + n, outlen - n, "%sJUNG_TIMEOUT_MS=%ld ", osv ? "--env=" : "",
                              call_ms * JB_EMULATION_TIMEOUT_SCALE);
    if (n >= outlen) {
        snprintf(err, errlen, "the environment of %s is too long for a kernel command line",
                 inst->info.instance);
        return false;
    }
    return true;
}

static bool guest_cmdline(jb_platform *p, jb_instance *inst, const jb_instance_spec *spec,
                          char *out, size_t outlen, char *err, size_t errlen)
{
    libvirt_platform *lp = p->priv;
    char args[1800], env[1024];
    if (!service_args(p, inst, spec, args, sizeof args, err, errlen) ||
        !guest_env(inst, spec, lp->osv, !lp->kvm, env, sizeof env, err, errlen))
        return false;
    if (jb_guest_cmdline(lp->osv ? lp->cmdline : NULL, spec->service, env, args, out, outlen))
        return true;
    snprintf(err, errlen, "the command line of %s is too long", inst->info.instance);
    return false;
}

static void read_qemu_pid(jb_instance *inst)
{
    char path[512];
    snprintf(path, sizeof path, "/run/libvirt/qemu/%s.pid", inst->info.name);
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f && fscanf(f, "%d", &pid) == 1 && pid > 0) {
        inst->info.pids[0] = pid;
        inst->info.npids = 1;
    }
    if (f)
        fclose(f);
}

/* A port of the advertised address that was free a moment ago (bind port
 * 0, read, close): QEMU binds it a few ms later; the rare loser of that
 * race retries. */
static int free_host_port(const char *address)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1)
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool choose_host_ports(jb_instance *inst, const jb_instance_spec *spec, char *err,
                              size_t errlen)
{
    for (size_t i = 0; i < 8 && spec->ports[i]; i++) {
        inst->info.host_ports[i] =
            spec->free_host_ports ? free_host_port(inst->platform->cfg.advertise) : spec->ports[i];
        if (inst->info.host_ports[i] <= 0) {
            snprintf(err, errlen, "no free loopback port for %s: %s", inst->info.instance,
                     strerror(errno));
            return false;
        }
    }
    return true;
}

/* OSv's images may be qcow2 or raw (what jungbench writes): the file says. */
static const char *disk_format(const char *path)
{
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(magic, 1, sizeof magic, f) : 0;
    if (f)
        fclose(f);
    return got == 4 && memcmp(magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
}

/* A readiness value naming the guest's side of a forwarded port,
 * "http://0.0.0.0:8080/...", becomes the host's, "http://ADDR:H/..." with
 * ADDR the advertised address (127.0.0.1 by default): that is where the
 * harness and the load reach the service. */
static void rewrite_endpoints(jb_instance *inst, const libvirt_instance *li)
{
    jb_instance_info *info = &inst->info;
    for (size_t k = 0; k < info->nready; k++) {
        char *v = info->ready_values[k], *host = strstr(v, "://");
        char *colon = host ? strchr(host + 3, ':') : NULL;
        if (!colon)
            continue;
        char *rest = NULL;
        long port = strtol(colon + 1, &rest, 10);
        for (size_t i = 0; i < 8 && li->guest_ports[i]; i++) {
            if (port != li->guest_ports[i])
                continue;
            char out[sizeof info->ready_values[0]];
            snprintf(out, sizeof out, "%.*s://%s:%d%s", (int)(host - v), v,
                     inst->platform->cfg.advertise, info->host_ports[i], rest);
            jb_strlcpy(v, out, sizeof info->ready_values[0]);
            break;
        }
    }
}

/* A domain of ours left by a crashed run has our name: destroy it. */
static void destroy_leftover(libvirt_platform *lp, const char *name)
{
    virDomainPtr old = virDomainLookupByName(lp->conn, name);
    if (old) {
        virDomainDestroy(old);
        virDomainFree(old);
    }
}

static bool libvirt_start(jb_platform *p, jb_instance *inst, const jb_instance_spec *spec,
                          char *err, size_t errlen)
{
    libvirt_platform *lp = p->priv;
    if (!libvirt_prepare(p, spec->service, err, errlen))
        return false;
    char cmdline[2048], initrd[4096], disk[4096], xml[16384];
    if (!guest_cmdline(p, inst, spec, cmdline, sizeof cmdline, err, errlen) ||
        !choose_host_ports(inst, spec, err, errlen))
        return false;
    initrd_path(p, spec->service, initrd, sizeof initrd);
    if (lp->osv)
        jb_expand_template(lp->disk, spec->service, "", disk, sizeof disk);
    snprintf(inst->info.log_path, sizeof inst->info.log_path, "%s/%s.console", p->cfg.work_dir,
             inst->info.instance);
    unlink(inst->info.log_path);
    jb_domain_spec ds = {.name = inst->info.name,
                         .kvm = lp->kvm,
                         .vcpus = p->cfg.cpus >= 1 ? (int)p->cfg.cpus : 1,
                         .memory_mb = p->cfg.memory_mb > 0 ? p->cfg.memory_mb : 256,
                         .kernel = lp->kernel,
                         .initrd = lp->osv ? NULL : initrd,
                         .disk = lp->osv ? disk : NULL,
                         .disk_format = lp->osv ? disk_format(disk) : NULL,
                         .cmdline = cmdline,
                         .console_path = inst->info.log_path,
                         .ports = spec->ports,
                         .host_ports = inst->info.host_ports,
                         .host_address = p->cfg.advertise,
                         .owner = lp->owner[0] ? lp->owner : NULL};
    libvirt_instance *li = calloc(1, sizeof *li);
    if (!li) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    memcpy(li->guest_ports, spec->ports, sizeof li->guest_ports);
    destroy_leftover(lp, inst->info.name);
    /* A free port taken by someone else between our check and QEMU's bind
     * fails the start ("Could not set up host forwarding rule"): new ports. */
    for (int attempt = 0; attempt < 3 && !li->dom; attempt++) {
        if (attempt > 0 && (!spec->free_host_ports || !strstr(last_error(), "forwarding") ||
                            !choose_host_ports(inst, spec, err, errlen)))
            break;
        if (!jb_domain_xml(&ds, xml, sizeof xml, err, errlen)) {
            free(li);
            return false;
        }
        li->dom = virDomainCreateXML(lp->conn, xml, VIR_DOMAIN_START_AUTODESTROY);
    }
    if (!li->dom) {
        snprintf(err, errlen, "libvirt could not start %s: %s", inst->info.name, last_error());
        free(li);
        return false;
    }
    inst->info.boot_ms = jb_instance_elapsed_ms(inst);
    inst->priv = li;
    jb_follow_init(&li->console);
    jb_strlcpy(li->console.path, inst->info.log_path, sizeof li->console.path);
    read_qemu_pid(inst);
    return true;
}

/* ---- poll and stop --------------------------------------------------- */

/* Console lines after which the guest's service is dead: Linux's panic
 * (PID 1 ended) and OSv's ends of a program (an unresolved symbol aborts
 * it; OSv then prints a backtrace and halts without powering off). */
static const char *const libvirt_fatal_lines[] = {"Kernel panic", "failed looking up symbol",
                                                  "Aborted", "[backtrace]", NULL};

static bool libvirt_poll(jb_instance *inst)
{
    libvirt_instance *li = inst->priv;
    jb_follow_poll(&li->console, inst);
    if (inst->info.ready && !li->endpoints_rewritten) {
        rewrite_endpoints(inst, li);
        li->endpoints_rewritten = true;
    }
    double now = jb_now_ms();
    if (now < li->next_state_check_ms)
        return true;
    li->next_state_check_ms = now + 100; /* a state query is an RPC to libvirtd */
    int state = 0, reason = 0;
    if (virDomainGetState(li->dom, &state, &reason, 0) == 0 &&
        (state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED))
        return true;
    jb_follow_poll(&li->console, inst);
    if (state == VIR_DOMAIN_PAUSED || state == VIR_DOMAIN_CRASHED)
        snprintf(inst->exit_reason, sizeof inst->exit_reason,
                 "guest stopped by the hypervisor (libvirt state %d, reason %d; under KVM an "
                 "emulation failure: try accel emulated)",
                 state, reason);
    else
        snprintf(inst->exit_reason, sizeof inst->exit_reason,
                 "guest shut down (its service exited)");
    return false;
}

/* SIGTERM to every guest's QEMU first, so a set of guests goes down
 * together (virDomainDestroy of one waits for its QEMU, ~2 s emulated);
 * stop then destroys whatever is still running. */
static void libvirt_signal_stop(jb_instance *inst)
{
    libvirt_instance *li = inst->priv;
    if (inst->info.npids == 1 && inst->info.pids[0] > 0 && virDomainIsActive(li->dom) == 1)
        kill(inst->info.pids[0], SIGTERM);
}

static bool libvirt_stop(jb_instance *inst, char *err, size_t errlen)
{
    libvirt_instance *li = inst->priv;
    bool ok = true;
    if (virDomainIsActive(li->dom) == 1 && virDomainDestroy(li->dom) != 0 &&
        virDomainIsActive(li->dom) == 1) {
        snprintf(err, errlen, "domain %s could not be destroyed: %s", inst->info.name,
                 last_error());
        ok = false;
    }
    virDomainFree(li->dom);
    jb_follow_close(&li->console);
    free(li);
    inst->priv = NULL;
    return ok;
}

const jb_driver jb_driver_libvirt = {
    .name = "libvirt",
    .daemons = 2, /* JB_DAEMONS_LIBVIRT */
    .open = libvirt_open,
    .close = libvirt_close,
    .prepare = libvirt_prepare,
    .start = libvirt_start,
    .poll = libvirt_poll,
    .signal_stop = libvirt_signal_stop,
    .image_layers = libvirt_image_layers,
    .stop = libvirt_stop,
    .fatal_lines = libvirt_fatal_lines,
};
