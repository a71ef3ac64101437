/* microvm.c - Linux microVM images in the spirit of Lupine Linux: Debian's
 * linux-image-cloud-amd64 kernel, booted directly, and per service an xz
 * cpio initramfs (libarchive writes the cpio, liblzma compresses it) with
 * our static init, the virtio modules the kernel needs for its network
 * card, and the static service executable. */
#include "platforms/docker_api.h"
#include "platforms/images.h"
#include "platforms/internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

const char *const jb_microvm_modules[8] = {
    "kernel/drivers/virtio/virtio_ring.ko",
    "kernel/drivers/virtio/virtio.ko",
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
    "kernel/drivers/virtio/virtio_pci.ko",
    "kernel/net/core/failover.ko",
    "kernel/drivers/net/net_failover.ko",
    "kernel/drivers/net/virtio_net.ko",
};

bool jb_cloud_kernel(char *vmlinuz, size_t vlen, char *release, size_t rlen, char *err,
                     size_t errlen)
{
    DIR *d = opendir("/boot");
    struct dirent *e;
    char best[256] = "";
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "vmlinuz-", 8) == 0 && len > 19 &&
            strcmp(e->d_name + len - 11, "cloud-amd64") == 0 && strverscmp(e->d_name + 8, best) > 0)
            jb_strlcpy(best, e->d_name + 8, sizeof best);
    }
    if (d)
        closedir(d);
    if (!best[0]) {
        snprintf(err, errlen,
                 "no /boot/vmlinuz-*-cloud-amd64: install the kernel with "
                 "'apt-get install linux-image-cloud-amd64'");
        return false;
    }
    snprintf(vmlinuz, vlen, "/boot/vmlinuz-%s", best);
    jb_strlcpy(release, best, rlen);
    return true;
}

static bool add_file_bytes(struct archive *a, const char *name, const void *data, size_t len,
                           int mode)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, mode);
    bool ok = archive_write_header(a, e) == ARCHIVE_OK &&
              archive_write_data(a, data, len) == (la_ssize_t)len;
    archive_entry_free(e);
    return ok;
}

static bool add_node(struct archive *a, const char *name, unsigned type, int mode, dev_t rdev)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_size(e, 0);
    if (rdev)
        archive_entry_set_rdev(e, rdev);
    bool ok = archive_write_header(a, e) == ARCHIVE_OK;
    archive_entry_free(e);
    return ok;
}

static bool add_file(struct archive *a, const char *name, const char *path, int mode, char *err,
                     size_t errlen)
{
    jb_buf b = {0};
    if (!jb_buf_read_file(path, &b, err, errlen)) {
        jb_buf_free(&b);
        return false;
    }
    bool ok = true;
    ok = ok && add_file_bytes(a, name, b.data, b.len, mode);
    if (!ok)
        snprintf(err, errlen, "cannot add %s to the initramfs: %s", path,
                 archive_error_string(a) ? archive_error_string(a) : "out of memory");
    jb_buf_free(&b);
    return ok;
}

/* The skeleton: folders and /dev/console, which the kernel opens for init
 * before /dev is mounted. */
static bool add_skeleton(struct archive *a)
{
    const char *dirs[] = {"dev", "proc", "sys", "tmp", "lib", "lib/modules"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (!add_node(a, dirs[i], AE_IFDIR, 0755, 0))
            return false;
    return add_node(a, "dev/console", AE_IFCHR, 0600, makedev(5, 1));
}

static bool add_modules(struct archive *a, const char *release, char *err, size_t errlen)
{
    for (size_t i = 0; i < 8; i++) {
        char path[512], name[256];
        snprintf(path, sizeof path, "/lib/modules/%s/%s", release, jb_microvm_modules[i]);
        const char *base = strrchr(jb_microvm_modules[i], '/') + 1;
        /* NN- keeps the load order when init sorts the names */
        snprintf(name, sizeof name, "lib/modules/%02zu-%s", i, base);
        if (access(path, R_OK) != 0) {
            snprintf(err, errlen,
                     "module %s missing: install the kernel's modules with 'apt-get install "
                     "linux-image-%s'",
                     path, release);
            return false;
        }
        if (!add_file(a, name, path, 0644, err, errlen))
            return false;
    }
    return true;
}

/* Each folder on the way to path, once: the kernel's initramfs unpacker
 * does not create parents. */
static bool add_parents(struct archive *a, const char *path, jb_runtime_files *made)
{
    char dir[512];
    jb_strlcpy(dir, path[0] == '/' ? path + 1 : path, sizeof dir);
    for (char *slash = strchr(dir, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        bool known = false;
        for (size_t i = 0; i < made->n && !known; i++)
            known = strcmp(made->paths[i], dir) == 0;
        if (!known && made->n < JB_MAX_RUNTIME_FILES) {
            jb_strlcpy(made->paths[made->n++], dir, sizeof made->paths[0]);
            if (!add_node(a, dir, AE_IFDIR, 0755, 0))
                return false;
        }
        *slash = '/';
    }
    return true;
}

/* A dynamically linked service's loader and libraries, at their paths. */
static bool add_libraries(struct archive *a, const jb_runtime_files *libs, char *err, size_t errlen)
{
    if (!libs)
        return true;
    jb_runtime_files *made = calloc(1, sizeof *made); /* folders already in the archive */
    if (!made) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    const char *skeleton[] = {"dev", "proc", "sys", "tmp", "lib", "lib/modules"};
    for (size_t i = 0; i < sizeof skeleton / sizeof skeleton[0]; i++)
        jb_strlcpy(made->paths[made->n++], skeleton[i], sizeof made->paths[0]);
    bool ok = true;
    for (size_t i = 0; ok && i < libs->n; i++)
        ok = add_parents(a, libs->paths[i], made) &&
             add_file(a, libs->paths[i] + 1, libs->paths[i], 0755, err, errlen);
    free(made);
    return ok;
}

static ssize_t to_buf(struct archive *a, void *ctx, const void *data, size_t len)
{
    return jb_buf_append(ctx, data, len) ? (ssize_t)len : -1;
}

/* xz as the kernel's decompressor takes it: CRC32 check (XZ Embedded knows
 * no CRC64, libarchive's xz filter's default), the x86 BCJ filter before
 * LZMA2 (the cloud kernel has CONFIG_XZ_DEC_X86; ~3% smaller), and a 4 MiB
 * dictionary, larger than the cpio (the initramfs unpacker allocates it
 * dynamically; 1 MiB as in the kernel's own usr/Makefile is 20% larger).
 * Preset 9e: the image is built once and read at every boot. */
static bool write_xz(const char *path, const jb_buf *cpio, char *err, size_t errlen)
{
    lzma_options_lzma opt;
    lzma_lzma_preset(&opt, 9 | LZMA_PRESET_EXTREME);
    opt.dict_size = 4u << 20;
    lzma_filter filters[] = {{.id = LZMA_FILTER_X86, .options = NULL},
                             {.id = LZMA_FILTER_LZMA2, .options = &opt},
                             {.id = LZMA_VLI_UNKNOWN, .options = NULL}};
    size_t cap = lzma_stream_buffer_bound(cpio->len), n = 0;
    uint8_t *out = malloc(cap);
    lzma_ret rc =
        out ? lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL,
                                        (const uint8_t *)cpio->data, cpio->len, out, &n, cap)
            : LZMA_MEM_ERROR;
    FILE *f = rc == LZMA_OK ? fopen(path, "wb") : NULL;
    bool ok = f && fwrite(out, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok)
        snprintf(err, errlen, "cannot write %s: %s", path,
                 rc != LZMA_OK ? "xz compression failed" : strerror(errno));
    free(out);
    return ok;
}

bool jb_microvm_build_initramfs(const char *out_path, const char *init, const char *exe,
                                const char *service, const char *kernel_release,
                                const jb_runtime_files *libs, uint64_t *bytes, char *err,
                                size_t errlen)
{
    if (!jb_elf_is_static(init, err, errlen) || (!libs && !jb_elf_is_static(exe, err, errlen)))
        return false;
    char tmp[4200], name[128];
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    snprintf(name, sizeof name, "jung-%s", service);
    jb_buf cpio = {0};
    struct archive *a = archive_write_new();
    archive_write_set_format_cpio_newc(a);
    archive_write_set_bytes_in_last_block(a, 1); /* no padding to 10 KiB blocks */
    bool ok = archive_write_open(a, &cpio, NULL, to_buf, NULL) == ARCHIVE_OK;
    if (!ok)
        snprintf(err, errlen, "cannot write the initramfs: %s", archive_error_string(a));
    if (ok && !add_skeleton(a)) {
        snprintf(err, errlen, "cannot write the initramfs skeleton: %s", archive_error_string(a));
        ok = false;
    }
    ok = ok && add_modules(a, kernel_release, err, errlen);
    ok = ok && add_file(a, "init", init, 0755, err, errlen);
    ok = ok && add_file(a, name, exe, 0755, err, errlen);
    ok = ok && add_libraries(a, libs, err, errlen);
    if (archive_write_close(a) != ARCHIVE_OK && ok) {
        snprintf(err, errlen, "cannot finish %s: %s", tmp, archive_error_string(a));
        ok = false;
    }
    archive_write_free(a);
    ok = ok && write_xz(tmp, &cpio, err, errlen);
    jb_buf_free(&cpio);
    struct stat st;
    if (ok && (rename(tmp, out_path) != 0 || stat(out_path, &st) != 0)) {
        snprintf(err, errlen, "cannot create %s: %s", out_path, strerror(errno));
        ok = false;
    }
    /* Beside it: which executable it holds, checked before a boot
     * (libvirt.c), as Docker images carry it in a label. */
    ok = ok && jb_write_image_sha256(out_path, exe, err, errlen);
    if (!ok)
        unlink(tmp);
    else
        *bytes = (uint64_t)st.st_size;
    return ok;
}
