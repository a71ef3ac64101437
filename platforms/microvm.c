/* microvm.c - Linux microVM images in the spirit of Lupine Linux: Debian's
 * linux-image-cloud-amd64 kernel, booted directly, and per service a gzip
 * cpio initramfs (libarchive) with our static init, the virtio modules the
 * kernel needs for its network card, and the static service executable. */
#include "platforms/images.h"
#include "platforms/internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
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
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    jb_buf b = {0};
    char chunk[65536];
    size_t got;
    bool ok = true;
    while (ok && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        ok = jb_buf_append(&b, chunk, got);
    fclose(f);
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
    struct archive *a = archive_write_new();
    archive_write_set_format_cpio_newc(a);
    archive_write_add_filter_gzip(a);
    /* level 6: within 1% of level 9 and three times faster */
    archive_write_set_filter_option(a, "gzip", "compression-level", "6");
    bool ok = archive_write_open_filename(a, tmp) == ARCHIVE_OK;
    if (!ok)
        snprintf(err, errlen, "cannot write %s: %s", tmp, archive_error_string(a));
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
    struct stat st;
    if (ok && (rename(tmp, out_path) != 0 || stat(out_path, &st) != 0)) {
        snprintf(err, errlen, "cannot create %s: %s", out_path, strerror(errno));
        ok = false;
    }
    if (!ok)
        unlink(tmp);
    else
        *bytes = (uint64_t)st.st_size;
    return ok;
}
