/* registry.c - the thread-safe in-memory map of the registries and the rule
 * engine (PyJung's JungRegistry). A jansson object is already a hash table
 * keyed by string, so the registry is one object behind one mutex; values
 * are deep-copied in and out so no caller ever shares a JSON tree with
 * another thread (jansson values are not safe to mutate concurrently). */
#include "jung/lib/jung.h"

#include <pthread.h>
#include <stdlib.h>

struct jung_registry {
    pthread_mutex_t lock;
    json_t *map;
};

jung_registry *jung_registry_new(void)
{
    jung_registry *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    reg->map = json_object();
    if (!reg->map) {
        free(reg);
        return NULL;
    }
    pthread_mutex_init(&reg->lock, NULL);
    return reg;
}

void jung_registry_free(jung_registry *reg)
{
    if (!reg)
        return;
    json_decref(reg->map);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

bool jung_registry_insert(jung_registry *reg, const char *key, json_t *value)
{
    if (!key || !value)
        return false;
    json_t *copy = json_deep_copy(value);
    if (!copy)
        return false;
    pthread_mutex_lock(&reg->lock);
    bool fresh = json_object_get(reg->map, key) == NULL;
    if (fresh)
        fresh = json_object_set_new(reg->map, key, copy) == 0;
    else
        json_decref(copy);
    pthread_mutex_unlock(&reg->lock);
    return fresh;
}

json_t *jung_registry_get(jung_registry *reg, const char *key)
{
    if (!key)
        return NULL;
    pthread_mutex_lock(&reg->lock);
    json_t *v = json_object_get(reg->map, key);
    json_t *copy = v ? json_deep_copy(v) : NULL;
    pthread_mutex_unlock(&reg->lock);
    return copy;
}

bool jung_registry_update(jung_registry *reg, const char *key, void (*fn)(json_t *value, void *arg),
                          void *arg)
{
    if (!key)
        return false;
    pthread_mutex_lock(&reg->lock);
    json_t *v = json_object_get(reg->map, key);
    if (v)
        fn(v, arg);
    pthread_mutex_unlock(&reg->lock);
    return v != NULL;
}

bool jung_registry_remove(jung_registry *reg, const char *key)
{
    if (!key)
        return false;
    pthread_mutex_lock(&reg->lock);
    bool found = json_object_del(reg->map, key) == 0;
    pthread_mutex_unlock(&reg->lock);
    return found;
}

size_t jung_registry_size(jung_registry *reg)
{
    pthread_mutex_lock(&reg->lock);
    size_t n = json_object_size(reg->map);
    pthread_mutex_unlock(&reg->lock);
    return n;
}

void jung_registry_each(jung_registry *reg, void (*fn)(const char *key, json_t *value, void *arg),
                        void *arg)
{
    /* Iterate a snapshot so fn may call back into the registry (or block on
     * the bus) without holding the lock. */
    pthread_mutex_lock(&reg->lock);
    json_t *snapshot = json_deep_copy(reg->map);
    pthread_mutex_unlock(&reg->lock);
    const char *key;
    json_t *value;
    json_object_foreach(snapshot, key, value) fn(key, value, arg);
    json_decref(snapshot);
}
