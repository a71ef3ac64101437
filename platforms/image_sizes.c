/* image_sizes.c - image sizes on disk, per service and cumulative (figure
 * 25): the arithmetic, and each driver's view of what an image is made of.
 *
 * A Docker service image is its layers; base layers are stored once however
 * many images use them. A VM image is a file per service, so VM images
 * stack. Both are "distinct layers counted once": the only difference is
 * whether ids repeat across images. */
#include "platforms/internal.h"

#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Every layer reference, flattened, to sort by id and count users. */
typedef struct layer_ref {
    const char *id;
    uint64_t bytes;
    size_t image;
} layer_ref;

static int cmp_ref(const void *a, const void *b)
{
    const layer_ref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->image > y->image) - (x->image < y->image);
}

static layer_ref *flatten(const jb_image *images, size_t n, size_t *nrefs, char *err, size_t errlen)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += images[i].nlayers;
    layer_ref *refs = malloc((total ? total : 1) * sizeof *refs);
    if (!refs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < images[i].nlayers; j++) {
            const jb_image_layer *l = &images[i].layers[j];
            if (!l->id || !l->id[0]) {
                snprintf(err, errlen, "image '%s' layer %zu has no id",
                         images[i].service ? images[i].service : "?", j);
                free(refs);
                return NULL;
            }
            refs[k++] = (layer_ref){l->id, l->bytes, i};
        }
    qsort(refs, k, sizeof *refs, cmp_ref);
    *nrefs = k;
    return refs;
}

/* Runs of equal ids: checks sizes agree and reports the distinct users. */
static bool check_run(const layer_ref *r, size_t len, char *err, size_t errlen)
{
    for (size_t i = 1; i < len; i++)
        if (r[i].bytes != r[0].bytes) {
            snprintf(err, errlen,
                     "layer '%s' is %" PRIu64 " bytes in one image and %" PRIu64
                     " in another: one id must name one content",
                     r[0].id, r[0].bytes, r[i].bytes);
            return false;
        }
    return true;
}

static void account_run(const layer_ref *r, size_t len, jb_image_size *out, uint64_t *cumulative,
                        size_t nimages)
{
    /* users: distinct images in the run (sorted by image within the id) */
    size_t users = 0;
    for (size_t i = 0; i < len; i++)
        users += i == 0 || r[i].image != r[i - 1].image;
    for (size_t i = 0; out && i < len; i++) {
        if (i > 0 && r[i].image == r[i - 1].image)
            continue; /* the same layer listed twice in one image counts once */
        out[r[i].image].bytes += r[i].bytes;
        if (users > 1)
            out[r[i].image].shared_bytes += r[i].bytes;
        else
            out[r[i].image].own_bytes += r[i].bytes;
    }
    /* on disk from the first image that uses it onwards */
    for (size_t k = r[0].image; cumulative && k < nimages; k++)
        cumulative[k] += r[0].bytes;
}

bool jb_image_sizes(const jb_image *images, size_t nimages, jb_image_size *out,
                    uint64_t *cumulative, char *err, size_t errlen)
{
    size_t nrefs = 0;
    layer_ref *refs = flatten(images, nimages, &nrefs, err, errlen);
    if (!refs)
        return false;
    if (out)
        memset(out, 0, nimages * sizeof *out);
    if (cumulative)
        memset(cumulative, 0, nimages * sizeof *cumulative);
    bool ok = true;
    for (size_t at = 0; ok && at < nrefs;) {
        size_t len = 1;
        while (at + len < nrefs && strcmp(refs[at + len].id, refs[at].id) == 0)
            len++;
        ok = check_run(refs + at, len, err, errlen);
        if (ok)
            account_run(refs + at, len, out, cumulative, nimages);
        at += len;
    }
    free(refs);
    return ok;
}

bool jb_image_layers_from_files(const char *const *paths, size_t npaths, jb_image_layer *out,
                                char *err, size_t errlen)
{
    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            snprintf(err, errlen, "image file %s: %s", paths[i], strerror(errno));
            return false;
        }
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "image file %s is not a regular file", paths[i]);
            return false;
        }
        out[i] = (jb_image_layer){paths[i], (uint64_t)st.st_size};
    }
    return true;
}

static bool insert_row(jb_store *store, const char *run_id, const char *platform,
                       const char *service, const char *kind, uint64_t bytes, uint64_t shared)
{
    const jb_store_image_size row = {.run_id = run_id,
                                     .platform = platform,
                                     .service = service,
                                     .kind = kind,
                                     .bytes = bytes,
                                     .shared_bytes = shared};
    return jb_store_put_image_size(store, &row);
}

bool jb_image_sizes_store(jb_store *store, const char *run_id, const char *platform,
                          const jb_image *images, size_t nimages, char *err, size_t errlen)
{
    if (nimages == 0) {
        snprintf(err, errlen, "no images to store");
        return false;
    }
    jb_image_size *sizes = calloc(nimages, sizeof *sizes);
    uint64_t *cumulative = calloc(nimages, sizeof *cumulative);
    bool ok = sizes && cumulative;
    if (!ok)
        snprintf(err, errlen, "out of memory");
    ok = ok && jb_image_sizes(images, nimages, sizes, cumulative, err, errlen);
    bool computed = ok;
    bool began = ok && jb_store_begin(store);
    ok = began;
    for (size_t i = 0; ok && i < nimages; i++)
        ok = insert_row(store, run_id, platform, images[i].service,
                        images[i].kind ? images[i].kind : "image", sizes[i].bytes,
                        sizes[i].shared_bytes);
    ok = ok && insert_row(store, run_id, platform, "_cumulative", "cumulative",
                          cumulative[nimages - 1], 0);
    ok = ok && jb_store_commit(store);
    if (!ok && computed) {
        snprintf(err, errlen, "%s: cannot write image sizes: %s", store->path,
                 jb_store_errmsg(store));
        if (began)
            jb_store_rollback(store);
    }
    free(sizes);
    free(cumulative);
    return ok;
}

/* ---- a platform's images, from its driver ---- */

#define MAX_LAYERS 64 /* a dynamic executable: itself, its loader and libraries */

typedef struct service_layers {
    char ids[MAX_LAYERS][512];
    uint64_t bytes[MAX_LAYERS];
    jb_image_layer refs[MAX_LAYERS];
} service_layers;

bool jb_platform_store_image_sizes(jb_platform *p, struct jb_store *store, const char *run_id,
                                   const char *platform_label, const char *const *services,
                                   size_t nservices, char *err, size_t errlen)
{
    if (!p->driver->image_layers || nservices == 0) {
        snprintf(err, errlen, "%s: no images to measure", p->driver->name);
        return false;
    }
    service_layers *layers = calloc(nservices, sizeof *layers);
    jb_image *images = calloc(nservices, sizeof *images);
    bool ok = layers && images;
    if (!ok)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; ok && i < nservices; i++) {
        size_t n = 0;
        const char *kind = "image";
        ok = p->driver->image_layers(p, services[i], layers[i].ids, layers[i].bytes, MAX_LAYERS, &n,
                                     &kind, err, errlen);
        for (size_t k = 0; ok && k < n; k++)
            layers[i].refs[k] = (jb_image_layer){layers[i].ids[k], layers[i].bytes[k]};
        images[i] = (jb_image){services[i], kind, layers[i].refs, n};
    }
    ok = ok && jb_image_sizes_store(store, run_id, platform_label, images, nservices, err, errlen);
    free(layers);
    free(images);
    return ok;
}

bool jb_file_layer(const char *path, char (*ids)[512], uint64_t *bytes, size_t max, size_t *n,
                   char *err, size_t errlen)
{
    jb_image_layer layer;
    if (*n >= max || !jb_image_layers_from_files(&path, 1, &layer, err, errlen))
        return false;
    jb_strlcpy(ids[*n], path, sizeof ids[0]);
    bytes[*n] = layer.bytes;
    (*n)++;
    return true;
}
