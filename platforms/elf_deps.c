/* elf_deps.c - the files a dynamically linked executable needs at run time:
 * its program interpreter (glibc's loader) and its DT_NEEDED libraries,
 * recursively, found where Debian's loader looks. Images that cannot hold a
 * static executable (Debian's librdkafka.a needs Cyrus SASL, Berkeley DB
 * and GSSAPI archives Debian does not ship) carry these instead. */
#include "platforms/images.h"
#include "platforms/internal.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const search_dirs[] = {"/lib/x86_64-linux-gnu",
                                          "/usr/lib/x86_64-linux-gnu",
                                          "/lib64",
                                          "/usr/lib64",
                                          "/lib",
                                          "/usr/lib"};

typedef struct elf_image {
    unsigned char *data;
    size_t size;
} elf_image;

static bool load(const char *path, elf_image *img, char *err, size_t errlen)
{
    jb_buf b = {0};
    if (!jb_buf_read_file(path, &b, err, errlen)) {
        jb_buf_free(&b);
        return false;
    }
    bool ok = true;
    img->data = (unsigned char *)b.data;
    img->size = b.len;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img->data;
    if (!ok || img->size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > img->size) {
        snprintf(err, errlen, "%s is not a 64-bit ELF file", path);
        free(img->data);
        return false;
    }
    return true;
}

static const Elf64_Phdr *phdrs(const elf_image *img, size_t *n)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img->data;
    *n = eh->e_phnum;
    return (const Elf64_Phdr *)(img->data + eh->e_phoff);
}

/* A virtual address to a file offset, through the PT_LOAD segments. */
static bool vaddr_offset(const elf_image *img, uint64_t vaddr, uint64_t *off)
{
    size_t n;
    const Elf64_Phdr *ph = phdrs(img, &n);
    for (size_t i = 0; i < n; i++)
        if (ph[i].p_type == PT_LOAD && vaddr >= ph[i].p_vaddr &&
            vaddr < ph[i].p_vaddr + ph[i].p_filesz) {
            *off = vaddr - ph[i].p_vaddr + ph[i].p_offset;
            return *off < img->size;
        }
    return false;
}

static bool add_unique(jb_runtime_files *files, const char *path)
{
    for (size_t i = 0; i < files->n; i++)
        if (strcmp(files->paths[i], path) == 0)
            return true;
    if (files->n == JB_MAX_RUNTIME_FILES)
        return false;
    jb_strlcpy(files->paths[files->n++], path, sizeof files->paths[0]);
    return true;
}

static bool find_library(const char *name, char *out, size_t outlen)
{
    for (size_t i = 0; i < sizeof search_dirs / sizeof search_dirs[0]; i++) {
        snprintf(out, outlen, "%s/%s", search_dirs[i], name);
        if (access(out, R_OK) == 0)
            return true;
    }
    return false;
}

static bool scan(const char *path, jb_runtime_files *files, int depth, char *err, size_t errlen);

static bool scan_needed(const elf_image *img, const Elf64_Phdr *dyn, jb_runtime_files *files,
                        int depth, char *err, size_t errlen)
{
    if (dyn->p_offset + dyn->p_filesz > img->size)
        return true;
    const Elf64_Dyn *d = (const Elf64_Dyn *)(img->data + dyn->p_offset);
    size_t nd = dyn->p_filesz / sizeof *d;
    uint64_t strtab = 0, stroff = 0;
    for (size_t i = 0; i < nd && d[i].d_tag != DT_NULL; i++)
        if (d[i].d_tag == DT_STRTAB)
            strtab = d[i].d_un.d_ptr;
    if (!strtab || !vaddr_offset(img, strtab, &stroff))
        return true;
    for (size_t i = 0; i < nd && d[i].d_tag != DT_NULL; i++) {
        if (d[i].d_tag != DT_NEEDED || stroff + d[i].d_un.d_val >= img->size)
            continue;
        const char *name = (const char *)img->data + stroff + d[i].d_un.d_val;
        char lib[512];
        if (!find_library(name, lib, sizeof lib)) {
            snprintf(err, errlen, "library %s not found in the system's library folders", name);
            return false;
        }
        bool known = false;
        for (size_t k = 0; k < files->n; k++)
            known |= strcmp(files->paths[k], lib) == 0;
        if (!known && (!add_unique(files, lib) || !scan(lib, files, depth + 1, err, errlen)))
            return false;
    }
    return true;
}

static bool scan(const char *path, jb_runtime_files *files, int depth, char *err, size_t errlen)
{
    if (depth > 16) {
        snprintf(err, errlen, "%s: library dependencies nest too deep", path);
        return false;
    }
    elf_image img;
    if (!load(path, &img, err, errlen))
        return false;
    size_t n;
    const Elf64_Phdr *ph = phdrs(&img, &n);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        if (ph[i].p_type == PT_INTERP && ph[i].p_offset + ph[i].p_filesz <= img.size) {
            char interp[512];
            size_t len = ph[i].p_filesz < sizeof interp ? ph[i].p_filesz : sizeof interp - 1;
            memcpy(interp, img.data + ph[i].p_offset, len);
            interp[len] = '\0';
            ok = add_unique(files, interp);
        } else if (ph[i].p_type == PT_DYNAMIC) {
            ok = scan_needed(&img, &ph[i], files, depth, err, errlen);
        }
    }
    if (!ok && !err[0])
        snprintf(err, errlen, "%s needs more than %d files", path, JB_MAX_RUNTIME_FILES);
    free(img.data);
    return ok;
}

bool jb_elf_runtime_files(const char *exe, jb_runtime_files *files, char *err, size_t errlen)
{
    err[0] = '\0';
    return scan(exe, files, 0, err, errlen);
}
