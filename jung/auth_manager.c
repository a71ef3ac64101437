/* jung-auth_manager: authentication and device ownership (dissertation
 * section 4.1.2).
 *
 * AUTH {username, password, device_id?} -> {username, device?}: 401 for an
 * unknown user or a wrong password, 404 for an unknown device, 403 for a
 * device of another user. The user comes from user_registry (GET), the
 * device from device_registry (GET).
 *
 * Verifying an Argon2id hash costs milliseconds of CPU, far too much per
 * request at thousands of requests per second, so successful verifications
 * are cached for a TTL, keyed by a keyed BLAKE2b (per-process random key) of
 * username and password: the cache never holds a password, and its keys are
 * useless outside this process. Users and devices can be neither deleted nor
 * changed through Jung's API, so a cached verification or device skips the
 * registry round trips until it expires. */
#include "jung/lib/jung.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SERVICE "auth_manager"
#define CACHE_MAX_ENTRIES 100000

typedef struct auth_cache {
    pthread_mutex_t lock;
    json_t *entries; /* key -> {"exp": ms, "value": ...} */
} auth_cache;

typedef struct auth_manager {
    unsigned char key[crypto_generichash_KEYBYTES];
    /* Checked for an unknown user, so that an answer takes as long whether
     * the name exists or not: a hash of random bytes, made at start-up with
     * the stored hashes' cost. */
    char stand_in_hash[crypto_pwhash_STRBYTES];
    long ttl_ms;
    auth_cache logins;  /* keyed hash of username + password -> {} */
    auth_cache devices; /* device id -> device */
} auth_manager;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static json_t *cache_get(auth_cache *c, const char *key)
{
    pthread_mutex_lock(&c->lock);
    json_t *e = json_object_get(c->entries, key);
    json_t *value = NULL;
    if (e && json_integer_value(json_object_get(e, "exp")) > now_ms())
        value = json_deep_copy(json_object_get(e, "value"));
    else if (e)
        json_object_del(c->entries, key);
    pthread_mutex_unlock(&c->lock);
    return value;
}

static void cache_put(auth_cache *c, const char *key, const json_t *value, long ttl_ms)
{
    if (ttl_ms <= 0)
        return;
    json_t *e = json_pack("{s:I, s:O}", "exp", (json_int_t)(now_ms() + ttl_ms), "value", value);
    pthread_mutex_lock(&c->lock);
    /* A crude bound: an attacker cycling passwords only flushes the cache. */
    if (json_object_size(c->entries) >= CACHE_MAX_ENTRIES)
        json_object_clear(c->entries);
    json_object_set_new(c->entries, key, e);
    pthread_mutex_unlock(&c->lock);
}

static void login_key(const auth_manager *am, const char *user, const char *password,
                      char hex[crypto_generichash_BYTES * 2 + 1])
{
    unsigned char out[crypto_generichash_BYTES];
    crypto_generichash_state st;
    crypto_generichash_init(&st, am->key, sizeof am->key, sizeof out);
    /* Length-prefix the username so ("ab","c") and ("a","bc") differ. */
    size_t ulen = strlen(user);
    crypto_generichash_update(&st, (const unsigned char *)&ulen, sizeof ulen);
    crypto_generichash_update(&st, (const unsigned char *)user, ulen);
    crypto_generichash_update(&st, (const unsigned char *)password, strlen(password));
    crypto_generichash_final(&st, out, sizeof out);
    sodium_bin2hex(hex, crypto_generichash_BYTES * 2 + 1, out, sizeof out);
}

static bool verify_user(auth_manager *am, jung_bus *bus, const char *user, const char *password,
                        jung_error *err)
{
    char key[crypto_generichash_BYTES * 2 + 1];
    login_key(am, user, password, key);
    json_t *hit = cache_get(&am->logins, key);
    if (hit) {
        json_decref(hit);
        return true;
    }
    json_t *record = NULL;
    if (!jung_bus_call(bus, "user_registry", "GET", json_pack("{s:s}", "username", user), 0,
                       &record, err)) {
        if (err->code == 404) {
            /* Same work as a wrong password; the answer is no either way. */
            if (crypto_pwhash_str_verify(am->stand_in_hash, password, strlen(password)) == 0)
                jung_log("%s: a password matched the stand-in hash", SERVICE);
            jung_error_set(err, 401, "unknown user or wrong password");
        }
        return false;
    }
    const char *hash = json_string_value(json_object_get(record, "password_hash"));
    bool ok = hash && crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
    json_decref(record);
    if (!ok) {
        jung_error_set(err, 401, "unknown user or wrong password");
        return false;
    }
    json_t *mark = json_object();
    cache_put(&am->logins, key, mark, am->ttl_ms);
    json_decref(mark);
    return true;
}

static json_t *lookup_device(auth_manager *am, jung_bus *bus, const char *id, jung_error *err)
{
    json_t *device = cache_get(&am->devices, id);
    if (device)
        return device;
    if (!jung_bus_call(bus, "device_registry", "GET", json_pack("{s:s}", "id", id), 0, &device,
                       err))
        return NULL;
    cache_put(&am->devices, id, device, am->ttl_ms);
    return device;
}

static bool authenticate(auth_manager *am, jung_bus *bus, const json_t *payload, json_t **data,
                         jung_error *err)
{
    const char *user = jung_field_string(payload, "username", JUNG_MAX_USERNAME, err);
    const char *password =
        user ? jung_field_string(payload, "password", JUNG_MAX_PASSWORD, err) : NULL;
    if (!password) {
        /* Missing, empty or over-long credentials are bad credentials. */
        err->code = 401;
        return false;
    }
    if (!verify_user(am, bus, user, password, err))
        return false;
    *data = json_pack("{s:s}", "username", user);
    json_t *device_id = json_object_get(payload, "device_id");
    if (!device_id || json_is_null(device_id))
        return true;
    const char *id = jung_field_string(payload, "device_id", 64, err);
    json_t *device = id ? lookup_device(am, bus, id, err) : NULL;
    const char *owner = json_string_value(json_object_get(device, "owner"));
    if (device && (!owner || strcmp(owner, user) != 0)) {
        jung_error_set(err, 403, "device '%s' belongs to another user", id);
        json_decref(device);
        device = NULL;
    }
    if (!device) {
        json_decref(*data);
        *data = NULL;
        return false;
    }
    json_object_set_new(*data, "device", device);
    return true;
}

static bool handle(void *ctx, jung_bus *bus, const jung_task *task, json_t **data, jung_error *err)
{
    if (strcmp(task->type, "AUTH") == 0)
        return authenticate(ctx, bus, task->payload, data, err);
    jung_error_set(err, 400, "auth_manager does not know task type '%s'", task->type);
    return false;
}

static void cache_init(auth_cache *c)
{
    pthread_mutex_init(&c->lock, NULL);
    c->entries = json_object();
}

static void cache_free(auth_cache *c)
{
    json_decref(c->entries);
    pthread_mutex_destroy(&c->lock);
}

int main(int argc, char **argv)
{
    static const char *const callees[] = {"user_registry", "device_registry", NULL};
    const char *ttl = "300000";
    jung_service_opt extra[] = {
        {"cache-ttl-ms", "JUNG_AUTH_CACHE_TTL_MS",
         "how long a verified login or a device lookup is reused, 0 disables", &ttl},
    };
    jung_service_opts opts;
    if (!jung_service_opts_parse_extra(&opts, SERVICE, "Jung's auth manager: AUTH (docs/tasks.md).",
                                       extra, 1, argc, argv))
        return opts.help ? 0 : 2;
    auth_manager am = {0};
    if (!jung_service_parse_int(SERVICE, "--cache-ttl-ms", ttl, 0, 86400000L, &am.ttl_ms)) {
        jung_service_opts_free(&opts);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "jung-%s: libsodium failed to initialise\n", SERVICE);
        jung_service_opts_free(&opts);
        return 1;
    }
    randombytes_buf(am.key, sizeof am.key);
    unsigned char noise[32];
    randombytes_buf(noise, sizeof noise);
    if (crypto_pwhash_str(am.stand_in_hash, (const char *)noise, sizeof noise, JUNG_PWHASH_OPSLIMIT,
                          JUNG_PWHASH_MEMLIMIT) != 0) {
        fprintf(stderr, "jung-%s: cannot make the stand-in password hash (out of memory)\n",
                SERVICE);
        jung_service_opts_free(&opts);
        return 1;
    }
    cache_init(&am.logins);
    cache_init(&am.devices);
    int rc = jung_service_run(&opts, handle, &am, callees, NULL, 0);
    cache_free(&am.logins);
    cache_free(&am.devices);
    sodium_memzero(am.key, sizeof am.key);
    jung_service_opts_free(&opts);
    return rc;
}
