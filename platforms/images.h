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

/* The executable of a service for images: in bin_dir, the first of
 * jung-<svc>-static, jung-<svc> (with '-' and with '_') that exists. */
bool jb_find_service_executable(const char *bin_dir, const char *service, char *out, size_t outlen,
                                char *err, size_t errlen);

/* The build context of a FROM scratch image holding one static executable
 * as /jung-<service>, its entrypoint: a tar in memory (libarchive). */
bool jb_docker_context(const char *service, const char *exe, jb_buf *tar, char *err, size_t errlen);
/* POST /build with that context, tagged image (e.g. jung/user_registry:0.1.0).
 * Nothing is pulled: FROM scratch needs no base image. */
bool jb_docker_build_image(jb_docker *d, const char *image, const char *service, const char *exe,
                           char *err, size_t errlen);

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
/* Writes <out_dir>/<service>.cpio.gz: /init (our static init), the modules
 * (decompressed) under /lib/modules, and the service as /jung-<service>.
 * init is the path of the built jb_microvm_init. Returns the size. */
bool jb_microvm_build_initramfs(const char *out_path, const char *init, const char *exe,
                                const char *service, const char *kernel_release, uint64_t *bytes,
                                char *err, size_t errlen);

#endif
