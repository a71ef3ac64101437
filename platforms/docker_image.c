/* docker_image.c - FROM scratch images through the Engine API's build
 * endpoint: a tar build context made with libarchive, holding a Dockerfile
 * and the one static executable. */
#include "platforms/images.h"
#include "platforms/internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <elf.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool jb_elf_is_static(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    Elf64_Ehdr eh;
    bool ok = fread(&eh, sizeof eh, 1, f) == 1 && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
              eh.e_ident[EI_CLASS] == ELFCLASS64;
    if (!ok)
        snprintf(err, errlen, "%s is not a 64-bit ELF executable", path);
    for (int i = 0; ok && i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (fseek(f, (long)(eh.e_phoff + (Elf64_Off)i * eh.e_phentsize), SEEK_SET) != 0 ||
            fread(&ph, sizeof ph, 1, f) != 1) {
            snprintf(err, errlen, "%s: truncated program headers", path);
            ok = false;
        } else if (ph.p_type == PT_INTERP) {
            snprintf(err, errlen,
                     "%s is dynamically linked; a FROM scratch image or a microVM needs a static "
                     "executable: configure with -DJB_STATIC_SERVICES=ON and rebuild",
                     path);
            ok = false;
        }
    }
    fclose(f);
    return ok;
}

bool jb_find_service_executable(const char *bin_dir, const char *service, char *out, size_t outlen,
                                char *err, size_t errlen)
{
    char dashed[64];
    jb_strlcpy(dashed, service, sizeof dashed);
    for (char *c = dashed; *c; c++)
        if (*c == '_')
            *c = '-';
    /* The stripped static copy first (what an image should carry), then the
     * unstripped static one, then the dynamic build. */
    const char *patterns[] = {"%s/static/jung-%s", "%s/jung-%s-static", "%s/jung-%s"};
    const char *names[] = {dashed, service};
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < 2; k++) {
            snprintf(out, outlen, patterns[i], bin_dir, names[k]);
            if (access(out, X_OK) == 0)
                return true;
        }
    snprintf(err, errlen,
             "no executable for service %s in %s (looked for static/jung-%s, jung-%s-static and "
             "jung-%s): build "
             "the services with 'ninja -C <build>' (static: -DJB_STATIC_SERVICES=ON) or pass "
             "--bin-dir",
             service, bin_dir, dashed, dashed, dashed);
    return false;
}

static ssize_t to_buf(struct archive *a, void *ctx, const void *data, size_t len)
{
    return jb_buf_append(ctx, data, len) ? (ssize_t)len : -1;
}

static bool add_entry(struct archive *a, const char *name, const void *data, size_t len, int mode)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, mode);
    archive_entry_set_mtime(e, 0, 0); /* same bytes, same layer: builds are reproducible */
    bool ok = archive_write_header(a, e) == ARCHIVE_OK &&
              archive_write_data(a, data, len) == (la_ssize_t)len;
    archive_entry_free(e);
    return ok;
}

bool jb_executable_sha256(const char *path, char hex[65], char *err, size_t errlen)
{
    jb_buf bin = {0};
    if (!jb_buf_read_file(path, &bin, err, errlen))
        return false;
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)bin.data, bin.len);
    sodium_bin2hex(hex, 65, digest, sizeof digest);
    jb_buf_free(&bin);
    return true;
}

bool jb_write_image_sha256(const char *image, const char *exe, char *err, size_t errlen)
{
    char sha[65], side[4200];
    if (!jb_executable_sha256(exe, sha, err, errlen))
        return false;
    snprintf(side, sizeof side, "%s.sha256", image);
    FILE *f = fopen(side, "w");
    bool ok = f && fprintf(f, "%s\n", sha) > 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok)
        snprintf(err, errlen, "cannot write %s: %s", side, strerror(errno));
    else
        chmod(side, 0644);
    return ok;
}

bool jb_docker_context(const char *service, const char *exe, const char *base, jb_buf *tar,
                       char *err, size_t errlen)
{
    char dockerfile[1024], name[128], sha[65];
    snprintf(name, sizeof name, "jung-%s", service);
    if (!jb_executable_sha256(exe, sha, err, errlen))
        return false;
    /* The label lets the driver check that the image still holds the very
     * executable the other platforms run (docker.c, docker_prepare). */
    snprintf(dockerfile, sizeof dockerfile,
             "FROM %s\nCOPY %s /%s\nLABEL jungbench.service=\"%s\" " JB_DOCKER_SHA_LABEL "=\"%s\"\n"
             "ENTRYPOINT [\"/%s\"]\n",
             base ? base : "scratch", name, name, service, sha, name);
    jb_buf bin = {0};
    if (!jb_buf_read_file(exe, &bin, err, errlen))
        return false;
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    bool ok = archive_write_open(a, tar, NULL, to_buf, NULL) == ARCHIVE_OK &&
              add_entry(a, "Dockerfile", dockerfile, strlen(dockerfile), 0644) &&
              add_entry(a, name, bin.data, bin.len, 0755) && archive_write_close(a) == ARCHIVE_OK;
    if (!ok)
        snprintf(err, errlen, "cannot make the build context of %s: %s", service,
                 archive_error_string(a) ? archive_error_string(a) : "out of memory");
    archive_write_free(a);
    jb_buf_free(&bin);
    return ok;
}

/* The build answer is a stream of JSON objects; a failed step is one with
 * "error" although the HTTP status is 200. */
static bool build_succeeded(const char *stream, char *err, size_t errlen)
{
    size_t off = 0, len = strlen(stream);
    bool ok = true;
    while (off < len && ok) {
        json_error_t jerr;
        json_t *msg = json_loadb(stream + off, len - off, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!msg)
            break;
        off += (size_t)jerr.position;
        const char *e = json_string_value(json_object_get(msg, "error"));
        if (e) {
            snprintf(err, errlen, "the engine's build failed: %s", e);
            ok = false;
        }
        json_decref(msg);
        while (off < len && (stream[off] == '\n' || stream[off] == '\r' || stream[off] == ' '))
            off++;
    }
    return ok;
}

static bool post_build(jb_docker *d, const char *image, const jb_buf *tar, char *err, size_t errlen)
{
    char path[512];
    char *escaped = curl_easy_escape(d->curl, image, 0);
    snprintf(path, sizeof path, "/build?t=%s&rm=1&forcerm=1", escaped ? escaped : image);
    curl_free(escaped);
    jb_buf out = {0};
    long status = jb_docker_call(d, "POST", path, "application/x-tar", tar->data, tar->len, &out,
                                 err, errlen);
    bool ok = status == 200 && build_succeeded(out.data ? out.data : "", err, errlen);
    if (status != 0 && status != 200)
        snprintf(err, errlen, "POST /build of %s: HTTP %ld: %.300s", image, status,
                 out.data ? out.data : "");
    jb_buf_free(&out);
    return ok;
}

bool jb_docker_build_image(jb_docker *d, const char *image, const char *service, const char *exe,
                           const char *base, char *err, size_t errlen)
{
    if (!base && !jb_elf_is_static(exe, err, errlen))
        return false;
    jb_buf tar = {0};
    if (!jb_docker_context(service, exe, base, &tar, err, errlen))
        return false;
    bool ok = post_build(d, image, &tar, err, errlen);
    jb_buf_free(&tar);
    return ok;
}

bool jb_docker_build_base(jb_docker *d, const char *image, const jb_runtime_files *files, char *err,
                          size_t errlen)
{
    const char *dockerfile = "FROM scratch\nCOPY rootfs/ /\nLABEL jungbench.base=\"1\"\n";
    jb_buf tar = {0}, content = {0};
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    bool ok = archive_write_open(a, &tar, NULL, to_buf, NULL) == ARCHIVE_OK &&
              add_entry(a, "Dockerfile", dockerfile, strlen(dockerfile), 0644);
    for (size_t i = 0; ok && i < files->n; i++) {
        char name[600];
        snprintf(name, sizeof name, "rootfs%s", files->paths[i]);
        content.len = 0;
        ok = jb_buf_read_file(files->paths[i], &content, err, errlen) &&
             add_entry(a, name, content.data ? content.data : "", content.len, 0755);
    }
    ok = ok && archive_write_close(a) == ARCHIVE_OK;
    if (!ok && !err[0])
        snprintf(err, errlen, "cannot make the build context of %s: %s", image,
                 archive_error_string(a) ? archive_error_string(a) : "out of memory");
    archive_write_free(a);
    jb_buf_free(&content);
    ok = ok && post_build(d, image, &tar, err, errlen);
    jb_buf_free(&tar);
    return ok;
}

/* Layers in RootFS order; history lists the steps newest first, and only
 * the steps that made a layer have a size or are not "#(nop)" metadata. */
bool jb_docker_image_layers(jb_docker *d, const char *image, jb_docker_layer *layers, size_t max,
                            size_t *nlayers, uint64_t *total, char *err, size_t errlen)
{
    char path[512];
    snprintf(path, sizeof path, "/images/%s/json", image);
    long status = 0;
    json_t *info = jb_docker_json(d, "GET", path, NULL, &status, err, errlen);
    if (!info) {
        if (status == 404)
            snprintf(err, errlen,
                     "image %s is missing: build it with 'jungbench images build "
                     "docker'",
                     image);
        return false;
    }
    *total = (uint64_t)json_integer_value(json_object_get(info, "Size"));
    json_t *digests = json_object_get(json_object_get(info, "RootFS"), "Layers");
    snprintf(path, sizeof path, "/images/%s/history", image);
    json_t *history = jb_docker_json(d, "GET", path, NULL, NULL, err, errlen);
    size_t n = 0, h = json_array_size(history);
    for (size_t i = 0; i < json_array_size(digests) && n < max; i++) {
        uint64_t bytes = 0;
        /* the i-th layer-making step, counting from the oldest */
        size_t seen = 0;
        for (size_t k = h; k-- > 0;) {
            json_t *step = json_array_get(history, k);
            const char *by = json_string_value(json_object_get(step, "CreatedBy"));
            if (by && strstr(by, "#(nop)") && !strstr(by, "COPY") && !strstr(by, "ADD"))
                continue;
            if (seen++ == i) {
                bytes = (uint64_t)json_integer_value(json_object_get(step, "Size"));
                break;
            }
        }
        const char *digest = json_string_value(json_array_get(digests, i));
        jb_strlcpy(layers[n].digest, digest ? digest : "", sizeof layers[n].digest);
        layers[n++].bytes = bytes;
    }
    *nlayers = n;
    json_decref(history);
    json_decref(info);
    return true;
}
