/* microvm_init.c - /init of a jungbench Linux microVM (PID 1 of the guest).
 *
 * The guest is Debian's cloud kernel with an initramfs holding this init,
 * the virtio modules and one static Jung service. The kernel has virtio and
 * its network driver as modules and no IP autoconfiguration, so this init:
 *   1. mounts /proc, /sys and /dev (devtmpfs);
 *   2. loads /lib/modules/NN-<name>.ko in name order (finit_module);
 *   3. configures lo and eth0 from the kernel command line:
 *        jung.ip=10.0.2.15/24 jung.gw=10.0.2.2
 *      (QEMU user networking: the host's loopback is 10.0.2.2);
 *   4. execs the service (jung.exec=/jung-<service>, default the one
 *      /jung-* file), passing init's own arguments, i.e. what follows "--"
 *      on the kernel command line.
 * The service then is PID 1: when it exits the kernel panics and, with
 * panic=-1 and libvirt's on_reboot=destroy, the domain ends. Static, no
 * libc beyond what a static glibc link brings.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef struct boot_params {
    char ip[32];
    int prefix;
    char gw[32];
    char exec[256];
} boot_params;

static void say(const char *fmt, const char *a, const char *b)
{
    printf("jung-init: ");
    printf(fmt, a, b);
    printf("\n");
    fflush(stdout);
}

static void mount_basics(void)
{
    mkdir("/proc", 0555);
    mkdir("/sys", 0555);
    mkdir("/dev", 0755);
    mkdir("/tmp", 01777);
    if (mount("proc", "/proc", "proc", 0, NULL) != 0)
        say("mount /proc: %s%s", strerror(errno), "");
    if (mount("sysfs", "/sys", "sysfs", 0, NULL) != 0)
        say("mount /sys: %s%s", strerror(errno), "");
    if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0)
        say("mount /dev: %s%s", strerror(errno), "");
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void load_modules(void)
{
    struct dirent **list = NULL;
    int n = scandir("/lib/modules", &list, NULL, by_name);
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        if (strstr(name, ".ko")) {
            char path[512];
            snprintf(path, sizeof path, "/lib/modules/%s", name);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) != 0)
                say("cannot load %s: %s", name, strerror(errno));
            if (fd >= 0)
                close(fd);
        }
        free(list[i]);
    }
    free(list);
}

static void read_params(boot_params *bp)
{
    memset(bp, 0, sizeof *bp);
    char line[4096] = "";
    FILE *f = fopen("/proc/cmdline", "r");
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
    }
    char *save = NULL;
    for (char *w = strtok_r(line, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
        if (strncmp(w, "jung.ip=", 8) == 0) {
            snprintf(bp->ip, sizeof bp->ip, "%s", w + 8);
            char *slash = strchr(bp->ip, '/');
            bp->prefix = slash ? atoi(slash + 1) : 24;
            if (slash)
                *slash = '\0';
        } else if (strncmp(w, "jung.gw=", 8) == 0) {
            snprintf(bp->gw, sizeof bp->gw, "%s", w + 8);
        } else if (strncmp(w, "jung.exec=", 10) == 0) {
            snprintf(bp->exec, sizeof bp->exec, "%s", w + 10);
        }
    }
}

static struct sockaddr_in inet_address(const char *text)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, text, &sa.sin_addr);
    return sa;
}

static void set_flag_up(int s, const char *ifname)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ioctl(s, SIOCSIFFLAGS, &ifr);
    }
}

/* virtio_net probes asynchronously on some kernels: wait up to 5 s. */
static bool wait_for_interface(const char *ifname)
{
    for (int i = 0; i < 500; i++) {
        if (if_nametoindex(ifname) != 0)
            return true;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void configure_network(const boot_params *bp)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    set_flag_up(s, "lo");
    if (!bp->ip[0] || !wait_for_interface("eth0")) {
        if (bp->ip[0])
            say("no eth0: is virtio_net loaded?%s%s", "", "");
        close(s);
        return;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "eth0");
    struct sockaddr_in addr = inet_address(bp->ip);
    memcpy(&ifr.ifr_addr, &addr, sizeof addr);
    if (ioctl(s, SIOCSIFADDR, &ifr) != 0)
        say("eth0 address %s: %s", bp->ip, strerror(errno));
    struct sockaddr_in mask = {.sin_family = AF_INET};
    mask.sin_addr.s_addr = htonl(bp->prefix <= 0 ? 0 : 0xffffffffu << (32 - bp->prefix));
    memcpy(&ifr.ifr_netmask, &mask, sizeof mask);
    ioctl(s, SIOCSIFNETMASK, &ifr);
    set_flag_up(s, "eth0");
    if (bp->gw[0]) {
        struct rtentry rt;
        memset(&rt, 0, sizeof rt);
        struct sockaddr_in any = {.sin_family = AF_INET}, gw = inet_address(bp->gw);
        memcpy(&rt.rt_dst, &any, sizeof any);
        memcpy(&rt.rt_genmask, &any, sizeof any);
        memcpy(&rt.rt_gateway, &gw, sizeof gw);
        rt.rt_flags = RTF_UP | RTF_GATEWAY;
        if (ioctl(s, SIOCADDRT, &rt) != 0)
            say("default route via %s: %s", bp->gw, strerror(errno));
    }
    close(s);
}

/* The one /jung-* executable of the initramfs. */
static bool find_service(char *out, size_t outlen)
{
    DIR *d = opendir("/");
    struct dirent *e;
    bool found = false;
    while (d && !found && (e = readdir(d)))
        if (strncmp(e->d_name, "jung-", 5) == 0) {
            found = strlen(e->d_name) + 2 <= outlen;
            if (found) {
                out[0] = '/';
                memcpy(out + 1, e->d_name, strlen(e->d_name) + 1);
            }
        }
    if (d)
        closedir(d);
    return found;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    mount_basics();
    load_modules();
    boot_params bp;
    read_params(&bp);
    configure_network(&bp);
    char exe[256];
    if (bp.exec[0])
        snprintf(exe, sizeof exe, "%s", bp.exec);
    else if (!find_service(exe, sizeof exe)) {
        say("no /jung-* service in the initramfs%s%s", "", "");
        reboot(RB_POWER_OFF);
        return 1;
    }
    argv[0] = exe;
    execv(exe, argv);
    say("cannot run %s: %s", exe, strerror(errno));
    reboot(RB_POWER_OFF);
    return 1;
}
