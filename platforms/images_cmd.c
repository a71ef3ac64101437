/* images_cmd.c - `jungbench images`: build and list the images the docker
 * and libvirt (microVM, OSv) drivers boot. */
#include "platforms/images.h"
#include "platforms/internal.h"

#include "cli/cli.h"
#include "metrics/metrics.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD "images"
#define MAX_SERVICES 32

typedef struct images_opts {
    const char *action, *kind;
    char bin_dir[4096], init[4096];
    const char *services, *tag, *socket, *image_dir, *kernel;
} images_opts;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: jungbench images build docker|microvm [OPTIONS]\n"
            "       jungbench images build osv --kernel PATH [OPTIONS]\n"
            "       jungbench images list docker|microvm|osv [OPTIONS]\n\n"
            "build: one image per service from its static executable. docker: FROM scratch,\n"
            "tagged jung/<service>:<tag>, through the Engine API (nothing is pulled).\n"
            "microvm: <image-dir>/microvm/<service>.cpio.xz, an initramfs for Debian's cloud\n"
            "kernel with the virtio modules, our init and the service.\n"
            "osv: <image-dir>/osv/<service>.img, a raw disk OSv boots the service from (ROFS,\n"
            "the static executable as /jung-<service>), and <image-dir>/osv/kernel.elf, a\n"
            "copy of the OSv kernel given (loader-stripped.elf) that QEMU's user can read.\n"
            "list: size of each image and of all of them together (shared layers once).\n\n"
            "Options:\n"
            "  --services LIST   comma-separated services (default: all eight)\n"
            "  --bin-dir DIR     the static executables (default: <build>/jung; looks for\n"
            "                    static/jung-<service> (stripped), jung-<service>-static,\n"
            "                    jung-<service>)\n"
            "  --tag TAG         docker image tag (default: %s)\n"
            "  --socket PATH     Docker Engine socket (default: /var/run/docker.sock)\n"
            "  --image-dir DIR   microVM images (default: /var/lib/jungbench/images)\n"
            "  --init PATH       the microVM init (default: <build>/platforms/jb_microvm_init)\n"
            "  --kernel PATH     osv: the OSv kernel (loader-stripped.elf); list: default\n"
            "                    <image-dir>/osv/kernel.elf\n"
            "  -h, --help        this help\n",
            JB_VERSION);
}

static int parse(int argc, char **argv, images_opts *o)
{
    static const struct option longopts[] = {{"services", required_argument, NULL, 's'},
                                             {"bin-dir", required_argument, NULL, 'b'},
                                             {"tag", required_argument, NULL, 't'},
                                             {"socket", required_argument, NULL, 'S'},
                                             {"image-dir", required_argument, NULL, 'i'},
                                             {"init", required_argument, NULL, 'I'},
                                             {"kernel", required_argument, NULL, 'k'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    char exe_dir[4096] = ".";
    jb_exe_dir(exe_dir, sizeof exe_dir);
    snprintf(o->bin_dir, sizeof o->bin_dir, "%s/jung", exe_dir);
    snprintf(o->init, sizeof o->init, "%s/platforms/jb_microvm_init", exe_dir);
    o->tag = JB_VERSION;
    o->socket = "/var/run/docker.sock";
    o->image_dir = "/var/lib/jungbench/images";
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->services = optarg;
            break;
        case 'b':
            jb_strlcpy(o->bin_dir, optarg, sizeof o->bin_dir);
            break;
        case 't':
            o->tag = optarg;
            break;
        case 'S':
            o->socket = optarg;
            break;
        case 'i':
            o->image_dir = optarg;
            break;
        case 'I':
            jb_strlcpy(o->init, optarg, sizeof o->init);
            break;
        case 'k':
            o->kernel = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return jb_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return jb_usage_error(CMD, "expected ACTION and KIND, e.g. 'images build docker'");
    o->action = argv[optind];
    o->kind = argv[optind + 1];
    if (strcmp(o->action, "build") != 0 && strcmp(o->action, "list") != 0)
        return jb_usage_error(CMD, "unknown action '%s': use build or list", o->action);
    if (strcmp(o->kind, "docker") != 0 && strcmp(o->kind, "microvm") != 0 &&
        strcmp(o->kind, "osv") != 0)
        return jb_usage_error(CMD, "unknown image kind '%s': use docker, microvm or osv", o->kind);
    if (strcmp(o->kind, "osv") == 0 && strcmp(o->action, "build") == 0 && !o->kernel)
        return jb_usage_error(CMD, "'images build osv' needs --kernel PATH: OSv's "
                                   "loader-stripped.elf (from an OSv build or release)");
    return 0;
}

/* ---- docker ------------------------------------------------------------ */

/* Static executables go into FROM scratch images of one layer. Dynamic
 * ones share a base layer jung/base:<tag> with the loader and every library
 * they need, each image adding only its executable. */
static int build_docker(const images_opts *o, const char **names, size_t n)
{
    char err[2048], exes[MAX_SERVICES][4096], base[256];
    bool is_static[MAX_SERVICES];
    jb_runtime_files *libs = calloc(1, sizeof *libs);
    if (!libs)
        return jb_fail(CMD, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!jb_find_service_executable(o->bin_dir, names[i], exes[i], sizeof exes[i], err,
                                        sizeof err)) {
            free(libs);
            return jb_fail(CMD, "%s", err);
        }
        is_static[i] = jb_elf_is_static(exes[i], err, sizeof err);
        if (!is_static[i] && !jb_elf_runtime_files(exes[i], libs, err, sizeof err)) {
            free(libs);
            return jb_fail(CMD, "%s", err);
        }
    }
    snprintf(base, sizeof base, "jung/base:%s", o->tag);
    jb_docker d;
    int rc = JB_EXIT_OK;
    if (!jb_docker_connect(&d, o->socket, err, sizeof err)) {
        free(libs);
        return jb_fail(CMD, "%s", err);
    }
    if (libs->n > 0) {
        if (jb_docker_build_base(&d, base, libs, err, sizeof err))
            printf("built %s: the loader and %zu libraries the dynamic executables share\n", base,
                   libs->n - 1);
        else
            rc = jb_fail(CMD, "%s", err);
    }
    for (size_t i = 0; i < n && rc == JB_EXIT_OK && !jb_stop_requested(); i++) {
        char image[256];
        snprintf(image, sizeof image, "jung/%s:%s", names[i], o->tag);
        if (!jb_docker_build_image(&d, image, names[i], exes[i], is_static[i] ? NULL : base, err,
                                   sizeof err))
            rc = jb_fail(CMD, "%s", err);
        else
            printf("built %s from %s (%s)\n", image, exes[i],
                   is_static[i] ? "static, FROM scratch" : "dynamic, FROM the base");
    }
    jb_docker_disconnect(&d);
    free(libs);
    return rc;
}

static void print_sizes(const char *kind, const jb_image *images, size_t n)
{
    jb_image_size sizes[MAX_SERVICES];
    uint64_t cumulative[MAX_SERVICES];
    char err[512];
    if (!jb_image_sizes(images, n, sizes, cumulative, err, sizeof err)) {
        fprintf(stderr, "jungbench images: %s\n", err);
        return;
    }
    printf("%-18s %12s %12s %12s %14s\n", "service", "bytes", "shared", "own", "cumulative");
    for (size_t i = 0; i < n; i++)
        printf("%-18s %12llu %12llu %12llu %14llu\n", images[i].service,
               (unsigned long long)sizes[i].bytes, (unsigned long long)sizes[i].shared_bytes,
               (unsigned long long)sizes[i].own_bytes, (unsigned long long)cumulative[i]);
    /* MiB, as the reports print sizes */
    printf("total (%s, %zu images, shared layers once): %llu bytes (%.2f MiB)\n", kind, n,
           (unsigned long long)(n ? cumulative[n - 1] : 0),
           n ? (double)cumulative[n - 1] / 1048576.0 : 0.0);
}

static int list_docker(const images_opts *o, const char **names, size_t n)
{
    char err[2048];
    jb_docker d;
    if (!jb_docker_connect(&d, o->socket, err, sizeof err))
        return jb_fail(CMD, "%s", err);
    static jb_docker_layer layers[MAX_SERVICES][16];
    jb_image_layer refs[MAX_SERVICES][16];
    jb_image images[MAX_SERVICES];
    char tags[MAX_SERVICES][256];
    size_t have = 0;
    int rc = JB_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        size_t nl = 0;
        uint64_t total = 0;
        snprintf(tags[have], sizeof tags[have], "jung/%s:%s", names[i], o->tag);
        if (!jb_docker_image_layers(&d, tags[have], layers[have], 16, &nl, &total, err,
                                    sizeof err)) {
            fprintf(stderr, "jungbench images: %s\n", err);
            rc = JB_EXIT_FAIL;
            continue;
        }
        for (size_t k = 0; k < nl; k++)
            refs[have][k] = (jb_image_layer){layers[have][k].digest, layers[have][k].bytes};
        images[have] = (jb_image){names[i], "docker", refs[have], nl};
        have++;
    }
    jb_docker_disconnect(&d);
    print_sizes("docker", images, have);
    return rc;
}

/* ---- microvm ----------------------------------------------------------- */

static int build_microvm(const images_opts *o, const char **names, size_t n)
{
    char err[2048], vmlinuz[512], release[128], dir[4200];
    if (!jb_cloud_kernel(vmlinuz, sizeof vmlinuz, release, sizeof release, err, sizeof err))
        return jb_fail(CMD, "%s", err);
    snprintf(dir, sizeof dir, "%s/microvm", o->image_dir);
    if (!jb_mkdirs(dir, err, sizeof err))
        return jb_fail(CMD, "%s", err);
    for (size_t i = 0; i < n && !jb_stop_requested(); i++) {
        char exe[4096], out[4400];
        uint64_t bytes = 0;
        snprintf(out, sizeof out, "%s/%s.cpio.xz", dir, names[i]);
        if (!jb_find_service_executable(o->bin_dir, names[i], exe, sizeof exe, err, sizeof err))
            return jb_fail(CMD, "%s", err);
        jb_runtime_files *libs = NULL;
        if (!jb_elf_is_static(exe, err, sizeof err)) {
            libs = calloc(1, sizeof *libs);
            if (!libs)
                return jb_fail(CMD, "out of memory");
            if (!jb_elf_runtime_files(exe, libs, err, sizeof err)) {
                free(libs);
                return jb_fail(CMD, "%s", err);
            }
        }
        bool ok = jb_microvm_build_initramfs(out, o->init, exe, names[i], release, libs, &bytes,
                                             err, sizeof err);
        free(libs);
        if (!ok)
            return jb_fail(CMD, "%s", err);
        printf("built %s (%llu bytes) for kernel %s from %s\n", out, (unsigned long long)bytes,
               release, exe);
    }
    return JB_EXIT_OK;
}

/* Sizes of VM images: each service's disk or initramfs <image_dir>/<kind>/
 * <service><suffix>, with the kernel every guest boots counted as a layer
 * they all share. */
static int list_vm_images(const images_opts *o, const char **names, size_t n, const char *kind,
                          const char *kernel, const char *suffix, const char *build_hint)
{
    char err[2048];
    static char paths[MAX_SERVICES][4200];
    jb_image_layer refs[MAX_SERVICES][2];
    jb_image images[MAX_SERVICES];
    size_t have = 0;
    int rc = JB_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        snprintf(paths[have], sizeof paths[have], "%s/%s/%s%s", o->image_dir, kind, names[i],
                 suffix);
        const char *files[2] = {kernel, paths[have]}; /* the kernel is shared by all */
        if (!jb_image_layers_from_files(files, 2, refs[have], err, sizeof err)) {
            fprintf(stderr, "jungbench images: %s: build it with '%s'\n", err, build_hint);
            rc = JB_EXIT_FAIL;
            continue;
        }
        images[have] = (jb_image){names[i], "vm", refs[have], 2};
        have++;
    }
    print_sizes(kind, images, have);
    return rc;
}

static int list_microvm(const images_opts *o, const char **names, size_t n)
{
    char err[2048], vmlinuz[512], release[128];
    if (!jb_cloud_kernel(vmlinuz, sizeof vmlinuz, release, sizeof release, err, sizeof err))
        return jb_fail(CMD, "%s", err);
    return list_vm_images(o, names, n, "microvm", vmlinuz, ".cpio.xz",
                          "jungbench images build microvm");
}

/* ---- osv --------------------------------------------------------------- */

/* QEMU runs as libvirt-qemu: the folder must be searchable and its files
 * readable by others. Folders made here get 0755 whatever the umask; the
 * ones that existed above it are only checked: opening up e.g. /root is
 * not ours to decide. */
static bool qemu_readable_dir(const char *dir, char *err, size_t errlen)
{
    char part[4096];
    jb_strlcpy(part, dir, sizeof part);
    for (char *s = part + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(part, 0755) == 0 && chmod(part, 0755) != 0) {
            snprintf(err, errlen, "cannot chmod 0755 %.1000s: %s", part, strerror(errno));
            return false;
        }
        *s = saved;
        if (!saved)
            break;
    }
    if (!jb_mkdirs(dir, err, errlen))
        return false;
    if (chmod(dir, 0755) != 0) {
        snprintf(err, errlen, "cannot chmod 0755 %s: %s", dir, strerror(errno));
        return false;
    }
    char up[4096];
    jb_strlcpy(up, dir, sizeof up);
    for (char *slash = strrchr(up, '/'); slash && slash > up; slash = strrchr(up, '/')) {
        *slash = '\0';
        struct stat st;
        if (stat(up, &st) == 0 && !(st.st_mode & S_IXOTH)) {
            snprintf(err, errlen,
                     "%.900s is not searchable by libvirt's QEMU user (mode %04o): use an "
                     "--image-dir outside it, or 'chmod o+x %.900s'",
                     up, (unsigned)(st.st_mode & 07777), up);
            return false;
        }
    }
    return true;
}

static bool copy_file(const char *from, const char *to, char *err, size_t errlen)
{
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    FILE *in = fopen(from, "rb"), *out = in ? fopen(tmp, "wb") : NULL;
    bool ok = in && out;
    char buf[65536];
    size_t got;
    while (ok && (got = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, got, out) == got;
    ok = ok && !ferror(in);
    if (out && fclose(out) != 0)
        ok = false;
    if (in)
        fclose(in);
    if (ok && (chmod(tmp, 0644) != 0 || rename(tmp, to) != 0))
        ok = false;
    if (!ok) {
        snprintf(err, errlen, "cannot copy %.900s to %.900s: %s", from, to, strerror(errno));
        unlink(tmp);
    }
    return ok;
}

static void osv_kernel_path(const images_opts *o, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/osv/kernel.elf", o->image_dir);
}

static int build_osv(const images_opts *o, const char **names, size_t n)
{
    char err[2048], dir[4200], kernel[4300];
    if (!jb_osv_kernel_usable(o->kernel, err, sizeof err))
        return jb_fail(CMD, "%s", err);
    snprintf(dir, sizeof dir, "%s/osv", o->image_dir);
    osv_kernel_path(o, kernel, sizeof kernel);
    if (!qemu_readable_dir(o->image_dir, err, sizeof err) ||
        !qemu_readable_dir(dir, err, sizeof err))
        return jb_fail(CMD, "%s", err);
    char real_from[4096], real_to[4096];
    bool same = realpath(o->kernel, real_from) && realpath(kernel, real_to) &&
                strcmp(real_from, real_to) == 0;
    if (!same && !copy_file(o->kernel, kernel, err, sizeof err))
        return jb_fail(CMD, "%s", err);
    printf("kernel %s (from %s)\n", kernel, o->kernel);
    for (size_t i = 0; i < n && !jb_stop_requested(); i++) {
        char exe[4096], out[4400];
        uint64_t bytes = 0;
        snprintf(out, sizeof out, "%s/%s.img", dir, names[i]);
        if (!jb_find_service_executable(o->bin_dir, names[i], exe, sizeof exe, err, sizeof err) ||
            !jb_osv_build_image(out, exe, names[i], &bytes, err, sizeof err))
            return jb_fail(CMD, "%s", err);
        printf("built %s (%llu bytes) from %s\n", out, (unsigned long long)bytes, exe);
    }
    printf("use it with: image: osv, osv: {kernel: %s}\n", kernel);
    return JB_EXIT_OK;
}

static int list_osv(const images_opts *o, const char **names, size_t n)
{
    char kernel[4300];
    if (o->kernel)
        jb_strlcpy(kernel, o->kernel, sizeof kernel);
    else
        osv_kernel_path(o, kernel, sizeof kernel);
    return list_vm_images(o, names, n, "osv", kernel, ".img",
                          "jungbench images build osv --kernel PATH");
}

int images_main(int argc, char **argv)
{
    images_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? JB_EXIT_OK : rc;
    char store[1024], err[256];
    const char *names[MAX_SERVICES];
    size_t n = 0;
    if (!jb_parse_services(o.services, store, sizeof store, names, &n, MAX_SERVICES, err,
                           sizeof err))
        return jb_usage_error(CMD, "--services: %s", err);
    jb_install_stop_handlers();
    bool build = strcmp(o.action, "build") == 0;
    if (strcmp(o.kind, "osv") == 0)
        return build ? build_osv(&o, names, n) : list_osv(&o, names, n);
    bool docker = strcmp(o.kind, "docker") == 0;
    if (build)
        return docker ? build_docker(&o, names, n) : build_microvm(&o, names, n);
    return docker ? list_docker(&o, names, n) : list_microvm(&o, names, n);
}
