/* images.h - building and measuring the images the drivers boot: Docker
 * images FROM scratch and Linux microVM kernels + initramfs. Internal to
 * platforms/ (the commands and tests use it). */
#ifndef JB_PLATFORMS_IMAGES_H
#define JB_PLATFORMS_IMAGES_H

#include "platforms/docker_api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* False (with the reason) unless path is an ELF executable without a
 * program interpreter, i.e. one that runs with nothing else in the image. */
bool jb_elf_is_static(const char *path, char *err, size_t errlen);

/* The files a dynamically linked executable needs besides itself: its
 * program interpreter and its libraries (recursively), as absolute host
 * paths that are also their paths in the image. Appends to files without
 * duplicates, so one list can collect what several services need. */
#define JB_MAX_RUNTIME_FILES 64
typedef struct jb_runtime_files {
    char paths[JB_MAX_RUNTIME_FILES][512];
    size_t n;
} jb_runtime_files;
bool jb_elf_runtime_files(const char *exe, jb_runtime_files *files, char *err, size_t errlen);

/* The executable of a service for images: in bin_dir, the first of
 * jung-<svc>-static, jung-<svc> (with '-' and with '_') that exists. */
bool jb_find_service_executable(const char *bin_dir, const char *service, char *out, size_t outlen,
                                char *err, size_t errlen);

/* The build context of an image holding one executable as /jung-<service>,
 * its entrypoint: a tar in memory (libarchive). base NULL: FROM scratch
 * (the executable must be static); else FROM base, an image made by
 * jb_docker_build_base with the libraries the executable needs. */
/* The label of a Jung image holding its executable's SHA-256 (hex). */
#define JB_DOCKER_SHA_LABEL "jungbench.exe.sha256"
/* SHA-256 of a file's bytes as 64 hex digits; false with err when unreadable. */
bool jb_executable_sha256(const char *path, char hex[65], char *err, size_t errlen);
/* Writes <image>.sha256 beside a guest image (OSv disk, microVM initramfs):
 * the SHA-256 of the executable it holds, which the libvirt driver checks
 * against the build tree's (jb_image_matches_build) before booting it. */
bool jb_write_image_sha256(const char *image, const char *exe, char *err, size_t errlen);
bool jb_docker_context(const char *service, const char *exe, const char *base, jb_buf *tar,
                       char *err, size_t errlen);
/* POST /build with that context, tagged image (e.g. jung/user_registry:0.1.0).
 * Nothing is pulled: FROM scratch needs no image, and base is local. */
bool jb_docker_build_image(jb_docker *d, const char *image, const char *service, const char *exe,
                           const char *base, char *err, size_t errlen);
/* A FROM scratch image (e.g. jung/base:0.1.0) holding files at their own
 * paths: the one layer the services' images share. */
bool jb_docker_build_base(jb_docker *d, const char *image, const jb_runtime_files *files, char *err,
                          size_t errlen);

/* An image's size and its layers (digest, bytes), from /images/X/json and
 * /images/X/history. layers points into storage owned by the caller's
 * arrays; up to max layers. */
typedef struct jb_docker_layer {
    char digest[80];
    uint64_t bytes;
} jb_docker_layer;
bool jb_docker_image_layers(jb_docker *d, const char *image, jb_docker_layer *layers, size_t max,
                            size_t *nlayers, uint64_t *total, char *err, size_t errlen);

/* ---- microVM images ----------------------------------------------------- */

/* The newest /boot/vmlinuz-*-cloud-amd64 and its release ("6.1.0-56-cloud-amd64"). */
bool jb_cloud_kernel(char *vmlinuz, size_t vlen, char *release, size_t rlen, char *err,
                     size_t errlen);
/* The virtio modules the guest loads, in load order. */
extern const char *const jb_microvm_modules[8];
/* Writes out_path (<image_dir>/microvm/<service>.cpio.xz): /init (our
 * static init), the modules under /lib/modules, the service as
 * /jung-<service> and, when it is not static, the files it needs (libs;
 * NULL for a static one). init is the built jb_microvm_init. */
bool jb_microvm_build_initramfs(const char *out_path, const char *init, const char *exe,
                                const char *service, const char *kernel_release,
                                const jb_runtime_files *libs, uint64_t *bytes, char *err,
                                size_t errlen);

/* ---- OSv images (osv_image.c: the on-disk format) ---------------------- */

/* The ROFS partition's first sector: right after the MBR. */
#define JB_OSV_PART_START 1u

/* One entry of an OSv image: a file (contents from source, or data), a
 * directory (is_dir) or a symlink (link_target), at an absolute path. */
typedef struct jb_osv_file {
    const char *path;
    const char *source;
    const void *data;
    size_t data_len;
    const char *link_target;
    bool is_dir;
} jb_osv_file;

/* Writes out_path (mode 0644, atomically) as a raw disk whose partition
 * OSv mounts as its root holds files; *bytes its size. */
bool jb_osv_write_image(const char *out_path, const jb_osv_file *files, size_t n, uint64_t *bytes,
                        char *err, size_t errlen);
/* The image of one service: /jung-<service> (exe, which must be static)
 * and the skeleton OSv reads at boot (/etc/fstab, /etc/hosts, mount
 * points). */
bool jb_osv_build_image(const char *out_path, const char *exe, const char *service, uint64_t *bytes,
                        char *err, size_t errlen);
/* False (with the reason) unless path is an x86-64 ELF executable, as
 * OSv's loader-stripped.elf is. */
bool jb_osv_kernel_usable(const char *path, char *err, size_t errlen);

#endif
