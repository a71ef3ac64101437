/* test_registry: the thread-safe in-memory registry. */
#include "../testlib.h"
#include "jung/lib/jung.h"

#include <pthread.h>
#include <string.h>

static void add_device(json_t *user, void *arg)
{
    json_array_append_new(json_object_get(user, "devices"), json_string(arg));
}

static void count_entry(const char *key, json_t *value, void *arg)
{
    (void)key;
    (void)value;
    (*(int *)arg)++;
}

static void *inserter(void *arg)
{
    jung_registry *reg = arg;
    for (int i = 0; i < 500; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        json_t *v = json_pack("{s:i}", "n", i);
        jung_registry_insert(reg, key, v);
        json_decref(v);
        json_t *got = jung_registry_get(reg, key);
        REQUIRE(got && json_integer_value(json_object_get(got, "n")) == i);
        json_decref(got);
    }
    return NULL;
}

int main(void)
{
    jung_registry *reg = jung_registry_new();
    REQUIRE(reg && jung_registry_size(reg) == 0);
    REQUIRE(jung_registry_get(reg, "ana") == NULL);

    json_t *ana = json_pack("{s:s, s:[]}", "username", "ana", "devices");
    REQUIRE(jung_registry_insert(reg, "ana", ana));
    REQUIRE(!jung_registry_insert(reg, "ana", ana)); /* duplicate: 409 */
    REQUIRE(jung_registry_size(reg) == 1);

    /* Values are copied in: changing the caller's object changes nothing. */
    json_object_set_new(ana, "username", json_string("mallory"));
    json_t *got = jung_registry_get(reg, "ana");
    REQUIRE(strcmp(json_string_value(json_object_get(got, "username")), "ana") == 0);
    /* ... and out. */
    json_object_set_new(got, "username", json_string("eve"));
    json_decref(got);
    got = jung_registry_get(reg, "ana");
    REQUIRE(strcmp(json_string_value(json_object_get(got, "username")), "ana") == 0);
    json_decref(got);
    json_decref(ana);

    REQUIRE(jung_registry_update(reg, "ana", add_device, "dev-1"));
    REQUIRE(!jung_registry_update(reg, "bob", add_device, "dev-1"));
    got = jung_registry_get(reg, "ana");
    REQUIRE(json_array_size(json_object_get(got, "devices")) == 1);
    json_decref(got);

    /* Concurrent inserts of the same keys: each key once, no lost entries. */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&t[i], NULL, inserter, reg) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    REQUIRE(jung_registry_size(reg) == 501);
    int seen = 0;
    jung_registry_each(reg, count_entry, &seen);
    REQUIRE(seen == 501);

    REQUIRE(!jung_registry_insert(reg, NULL, json_null()));

    /* Removing rolls back a half-done CREATE: the key can be inserted again. */
    REQUIRE(jung_registry_remove(reg, "ana"));
    REQUIRE(!jung_registry_remove(reg, "ana"));
    REQUIRE(jung_registry_get(reg, "ana") == NULL);
    json_t *again = json_pack("{s:s}", "username", "ana");
    REQUIRE(jung_registry_insert(reg, "ana", again));
    json_decref(again);
    jung_registry_free(reg);
    printf("ok\n");
    return 0;
}
