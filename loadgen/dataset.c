/* dataset.c - what each user sends: the mix, its order, and the seeded
 * choices of device and command value; plus configuration defaults. */
#include "loadgen/loadgen.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const labels[JB_REQ_ALL_KINDS] = {
    [JB_REQ_GET_USER] = "get_user",         [JB_REQ_GET_DEVICE] = "get_device",
    [JB_REQ_GET_READINGS] = "get_readings", [JB_REQ_POST_COMMAND] = "post_command",
    [JB_REQ_CREATE_USER] = "create_user",   [JB_REQ_CREATE_DEVICE] = "create_device",
    [JB_REQ_CREATE_RULE] = "create_rule",   [JB_REQ_GET_STATIC] = "get",
};

const char *jb_loadgen_label(jb_req_kind kind)
{
    return (unsigned)kind < JB_REQ_ALL_KINDS ? labels[kind] : "?";
}

static int kind_by_label(const char *label, size_t len)
{
    for (int k = 0; k < JB_REQ_KINDS; k++)
        if (strlen(labels[k]) == len && strncmp(labels[k], label, len) == 0)
            return k;
    return -1;
}

/* One kind and its count, checked (jb_loadgen_mix_add); label is len bytes. */
static bool mix_add(jb_load_mix *mix, const char *label, size_t len, long count, char *err,
                    size_t errlen)
{
    int kind = kind_by_label(label, len);
    if (kind < 0) {
        snprintf(err, errlen,
                 "unknown label '%.*s' (use get_user, get_device, get_readings, post_command)",
                 (int)len, label);
        return false;
    }
    for (int i = 0; i < mix->n; i++)
        if (mix->kind[i] == (jb_req_kind)kind) {
            snprintf(err, errlen, "label '%s' appears twice", labels[kind]);
            return false;
        }
    if (count < 0 || count > JB_LOAD_MIX_MAX_COUNT) {
        snprintf(err, errlen, "count of '%s' must be a whole number from 0 to %ld, got %ld",
                 labels[kind], (long)JB_LOAD_MIX_MAX_COUNT, count);
        return false;
    }
    mix->kind[mix->n] = (jb_req_kind)kind;
    mix->count[mix->n] = count;
    mix->n++;
    return true;
}

bool jb_loadgen_mix_add(jb_load_mix *mix, const char *label, long count, char *err, size_t errlen)
{
    return mix_add(mix, label, strlen(label), count, err, errlen);
}

static bool parse_mix_entry(const char *item, size_t len, jb_load_mix *mix, char *err,
                            size_t errlen)
{
    const char *eq = memchr(item, '=', len);
    if (!eq) {
        snprintf(err, errlen, "mix entry '%.*s' is not LABEL=COUNT", (int)len, item);
        return false;
    }
    char num[32];
    size_t numlen = len - (size_t)(eq + 1 - item);
    char *end = NULL;
    snprintf(num, sizeof num, "%.*s", (int)numlen, eq + 1);
    errno = 0;
    long count = strtol(num, &end, 10);
    if (numlen == 0 || numlen >= sizeof num || *end || errno) {
        snprintf(err, errlen, "count of '%.*s' must be a whole number from 0 to %ld, got '%s'",
                 (int)(eq - item), item, (long)JB_LOAD_MIX_MAX_COUNT, num);
        return false;
    }
    return mix_add(mix, item, (size_t)(eq - item), count, err, errlen);
}

bool jb_loadgen_parse_mix(const char *spec, jb_load_mix *mix, char *err, size_t errlen)
{
    memset(mix, 0, sizeof *mix);
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (!parse_mix_entry(p, len, mix, err, errlen))
            return false;
        p += len;
        if (*p == ',')
            p++;
    }
    long total = 0;
    for (int i = 0; i < mix->n; i++)
        total += mix->count[i];
    if (total == 0) {
        snprintf(err, errlen, "mix '%s' asks for no requests", spec);
        return false;
    }
    return true;
}

void jb_loadgen_config_defaults(jb_loadgen_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->users = 30;
    cfg->requests_per_user = 500;
    cfg->devices_per_user = 30;
    cfg->rules_per_device = 1;
    char err[64];
    jb_loadgen_parse_mix("get_user=25,get_device=25,get_readings=225,post_command=225", &cfg->mix,
                         err, sizeof err);
    cfg->seed = 1;
    cfg->model = JB_LOAD_CLOSED;
    cfg->timeout_ms = 30000;
    cfg->readings_page_size = 10;
    cfg->threads = 1;
    cfg->run_id = "loadgen";
    cfg->platform = "unknown";
}

static bool is_plain_http(const char *url)
{
    return url && strncasecmp(url, "http://", 7) == 0;
}

bool jb_loadgen_uses_raw(const jb_loadgen_config *cfg)
{
    return cfg->transport != JB_TRANSPORT_CURL && is_plain_http(cfg->target);
}

bool jb_loadgen_config_check(const jb_loadgen_config *cfg, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (!cfg->target || strncmp(cfg->target, "http://", 7) != 0)
        bad = "target must be an http:// URL";
    else if (strlen(cfg->target) > 400)
        bad = "target URL must be at most 400 characters";
    else if (cfg->users < 1)
        bad = "users must be at least 1";
    else if (cfg->requests_per_user < 1 && cfg->duration_s <= 0)
        bad = "requests per user must be at least 1";
    else if (!cfg->static_target && cfg->devices_per_user < 1)
        bad = "devices per user must be at least 1";
    else if (cfg->rules_per_device < 0)
        bad = "rules per device must not be negative";
    else if (!cfg->static_target && cfg->mix.n == 0)
        bad = "the mix is empty";
    else if (cfg->model == JB_LOAD_OPEN && !(cfg->rate > 0))
        bad = "the open model needs a rate above 0 requests/s";
    else if (cfg->timeout_ms < 1)
        bad = "timeout must be at least 1 ms";
    else if (cfg->readings_page_size < 1)
        bad = "readings page size must be at least 1";
    else if (cfg->threads < 1 || cfg->threads > JB_LOADGEN_MAX_THREADS)
        bad = "threads must be between 1 and 64";
    else if (cfg->threads > cfg->users)
        bad = "threads must not exceed users: each sending thread needs at least one user";
    else if (cfg->transport < JB_TRANSPORT_AUTO || cfg->transport > JB_TRANSPORT_CURL)
        bad = "transport must be raw or curl";
    if (bad)
        snprintf(err, errlen, "%s", bad);
    return bad == NULL;
}

/* splitmix64: tiny, well-mixed, and the same on every platform, so a seed
 * names one dataset everywhere. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t random_below(uint64_t *state, uint32_t bound)
{
    return (uint32_t)(next_random(state) % bound);
}

/* Scales mix counts to total with the largest-remainder method, so the
 * proportions hold and the counts add up exactly. */
static void scale_mix(const jb_load_mix *mix, long total, long *counts)
{
    long sum = 0;
    for (int i = 0; i < mix->n; i++)
        sum += mix->count[i];
    if (sum == total) {
        memcpy(counts, mix->count, sizeof(long) * (size_t)mix->n);
        return;
    }
    long given = 0;
    double remainder[JB_REQ_KINDS];
    for (int i = 0; i < mix->n; i++) {
        double exact = (double)mix->count[i] * (double)total / (double)sum;
        counts[i] = (long)exact;
        remainder[i] = exact - (double)counts[i];
        given += counts[i];
    }
    for (; given < total; given++) {
        int best = 0;
        for (int i = 1; i < mix->n; i++)
            if (remainder[i] > remainder[best])
                best = i;
        counts[best]++;
        remainder[best] = -1;
    }
}

jb_load_item *jb_loadgen_dataset(const jb_loadgen_config *cfg, long user, size_t *n)
{
    long total = cfg->requests_per_user;
    jb_load_item *items = calloc((size_t)(total > 0 ? total : 1), sizeof *items);
    if (!items)
        return NULL;
    uint64_t state = cfg->seed ^ ((uint64_t)(user + 1) * 0xD1B54A32D192ED03ull);
    if (cfg->static_target) {
        for (long i = 0; i < total; i++)
            items[i].kind = JB_REQ_GET_STATIC;
        *n = (size_t)total;
        return items;
    }
    long counts[JB_REQ_KINDS];
    scale_mix(&cfg->mix, total, counts);
    size_t at = 0;
    uint32_t devices = (uint32_t)cfg->devices_per_user;
    for (int i = 0; i < cfg->mix.n; i++)
        for (long c = 0; c < counts[i]; c++, at++) {
            items[at].kind = cfg->mix.kind[i];
            items[at].device = (int32_t)random_below(&state, devices);
            items[at].value = (int32_t)random_below(&state, 101);
        }
    if (cfg->shuffle)
        for (size_t i = at; i > 1; i--) {
            size_t j = random_below(&state, (uint32_t)i);
            jb_load_item tmp = items[i - 1];
            items[i - 1] = items[j];
            items[j] = tmp;
        }
    *n = at;
    return items;
}

double jb_loadgen_percentile(const int64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    /* Nearest rank: the smallest value with at least p% of samples at or
     * below it. The epsilon keeps 99.9% of 1000 at rank 999 despite binary
     * floating point (0.999 * 1000 = 999.0000000000001). */
    double rank = ceil(p / 100.0 * (double)n - 1e-9);
    size_t idx = rank > 1 ? (size_t)rank - 1 : 0;
    if (idx >= n)
        idx = n - 1;
    return (double)sorted[idx];
}
