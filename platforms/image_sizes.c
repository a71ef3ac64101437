/* image_sizes.c - the image_sizes rows of a platform's services (figure 25),
 * from each driver's view of what an image is made of. */
#include "platforms/internal.h"

#include "store/store.h"
#include "metrics/metrics.h"

#include <stdlib.h>
#include <string.h>

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
