/* config.c - reading and validating an experiment file (config.h).
 *
 * libyaml loads the whole file into a document tree whose nodes keep their
 * line and column, so every check below can point at the offending spot.
 * Validation walks the tree once, section by section. Independent parts
 * (each top-level section, each platform, each service, each key of a
 * mapping) are all checked, so one pass reports every mistake of a file,
 * up to JB_CONFIG_MAX_ERRORS; within a part the first error ends it, as a
 * value checked after a bad one would only give follow-on errors.
 * Thresholds and image files, which name platforms and services, are
 * checked once the rest is valid. */
#include "config/config.h"
#include "config/yaml_access.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/* NULL-terminated so the "did you mean" helpers can walk it. */
const char *const jb_config_known_services[] = {
    "auth_manager",   "user_registry",    "device_registry",
    "device_monitor", "device_commander", "rule_engine",
    "device_gateway", "api_gateway",      NULL,
};
const size_t jb_config_nknown_services =
    sizeof jb_config_known_services / sizeof jb_config_known_services[0] - 1;

static const char *const mix_labels[] = {"get_user", "get_device", "get_readings", "post_command",
                                         NULL};

/* ---- sections ------------------------------------------------------------- */

static bool parse_broker(cfg_parser *p, const yaml_node_t *node, jb_config_broker *b)
{
    if (node->type == YAML_SCALAR_NODE) {
        if (strcmp(cfg_scalar(node), "embedded") == 0) {
            b->embedded = true;
            return true;
        }
        return cfg_node_error(p, node,
                              "'broker' is '%s': use 'embedded' or a mapping "
                              "{bootstrap: HOST:PORT, properties: {...}}",
                              cfg_scalar(node));
    }
    if (!cfg_expect_type(p, node, YAML_MAPPING_NODE, "'broker'",
                         "'embedded' or {bootstrap: 127.0.0.1:9092}"))
        return false;
    static const char *const keys[] = {"bootstrap", "properties", "topic_prefix", NULL};
    if (!cfg_check_keys(p, node, "broker", keys) ||
        !cfg_require(p, node, "bootstrap", "broker", "bootstrap: 127.0.0.1:9092") ||
        !cfg_get_string(p, node, "bootstrap", NULL, b->bootstrap, sizeof b->bootstrap) ||
        !cfg_get_string(p, node, "topic_prefix", NULL, b->topic_prefix, sizeof b->topic_prefix))
        return false;
    if (b->topic_prefix[0] &&
        b->topic_prefix[strspn(b->topic_prefix, "abcdefghijklmnopqrstuvwxyz"
                                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")])
        return cfg_node_error(
            p, cfg_lookup(p, node, "topic_prefix"),
            "'topic_prefix' '%s': use letters, digits, '.', '_' or '-' (e.g. lab1.)",
            b->topic_prefix);
    b->embedded = false;
    if (!b->bootstrap[0])
        return cfg_node_error(p, cfg_lookup(p, node, "bootstrap"),
                              "'bootstrap' must not be empty (e.g. 127.0.0.1:9092)");
    yaml_node_t *props = cfg_lookup(p, node, "properties");
    if (!props)
        return true;
    if (!cfg_expect_type(p, props, YAML_MAPPING_NODE, "'properties'", "{linger.ms: 0}"))
        return false;
    b->nproperties = 0;
    for (yaml_node_pair_t *a = props->data.mapping.pairs.start; a < props->data.mapping.pairs.top;
         a++) {
        yaml_node_t *k = cfg_node_at(p, a->key), *v = cfg_node_at(p, a->value);
        if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
            return cfg_node_error(p, k->type != YAML_SCALAR_NODE ? k : v,
                                  "broker properties are librdkafka 'name: value' pairs");
        if (b->nproperties == JB_CFG_MAX_PROPS)
            return cfg_node_error(p, k, "too many broker properties (at most %d)",
                                  JB_CFG_MAX_PROPS);
        jb_config_prop *prop = &b->properties[b->nproperties++];
        if (strlen(cfg_scalar(k)) >= sizeof prop->key ||
            strlen(cfg_scalar(v)) >= sizeof prop->value)
            return cfg_node_error(p, k, "broker property '%s' is too long", cfg_scalar(k));
        snprintf(prop->key, sizeof prop->key, "%s", cfg_scalar(k));
        snprintf(prop->value, sizeof prop->value, "%s", cfg_scalar(v));
    }
    return true;
}

/* Which driver a platform key belongs to; 0 for every driver. */
enum { D_PROCESS = 1, D_DOCKER = 2, D_LIBVIRT = 4, D_ALL = 7 };

typedef struct platform_key {
    const char *key;
    unsigned drivers;
} platform_key;

static const platform_key platform_keys[] = {
    {"name", D_ALL},
    {"driver", D_ALL},
    {"vcpus", D_DOCKER | D_LIBVIRT},
    {"memory_mb", D_DOCKER | D_LIBVIRT},
    {"stop_grace_ms", D_ALL},
    {"ready_timeout_ms", D_ALL},
    {"bin_dir", D_PROCESS},
    {"build", D_ALL},
    {"network", D_DOCKER},
    {"image_tag", D_DOCKER},
    {"docker_socket", D_DOCKER},
    {"image", D_LIBVIRT},
    {"accel", D_LIBVIRT},
    {"libvirt_uri", D_LIBVIRT},
    {"image_dir", D_LIBVIRT},
    {"osv", D_LIBVIRT},
    {"runner", D_ALL},
    {NULL, 0},
};

static unsigned driver_bit(const char *driver)
{
    return strcmp(driver, "process") == 0  ? D_PROCESS
           : strcmp(driver, "docker") == 0 ? D_DOCKER
                                           : D_LIBVIRT;
}

static bool check_platform_keys(cfg_parser *p, const yaml_node_t *map, const char *driver)
{
    const char *valid[32];
    size_t n = 0;
    for (const platform_key *k = platform_keys; k->key; k++)
        valid[n++] = k->key;
    valid[n] = NULL;
    if (!cfg_check_keys(p, map, "platform", valid))
        return false;
    unsigned bit = driver_bit(driver);
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        yaml_node_t *key = cfg_node_at(p, a->key);
        for (const platform_key *k = platform_keys; k->key; k++) {
            if (strcmp(k->key, cfg_scalar(key)) != 0 || (k->drivers & bit))
                continue;
            const char *applies = k->drivers == D_PROCESS   ? "process"
                                  : k->drivers == D_DOCKER  ? "docker"
                                  : k->drivers == D_LIBVIRT ? "libvirt"
                                                            : "docker and libvirt";
            return cfg_node_error(p, key, "key '%s' applies to driver %s only, not to driver '%s'",
                                  k->key, applies, driver);
        }
    }
    return true;
}

static bool parse_osv(cfg_parser *p, const yaml_node_t *node, jb_config_platform *pl)
{
    if (!cfg_expect_type(p, node, YAML_MAPPING_NODE, "'osv'",
                         "{kernel: /var/lib/jungbench/images/osv/kernel.elf}"))
        return false;
    static const char *const keys[] = {"kernel", "disk", "cmdline", NULL};
    /* the disks `jungbench images build osv` writes, unless given */
    char disk[sizeof pl->osv_disk];
    snprintf(disk, sizeof disk, "%.*s/osv/{service}.img", (int)(sizeof disk - 32), pl->image_dir);
    memcpy(pl->osv_disk, disk, sizeof disk);
    return cfg_check_keys(p, node, "osv", keys) &&
           cfg_require(p, node, "kernel", "osv",
                       "kernel: /var/lib/jungbench/images/osv/kernel.elf (made by 'jungbench "
                       "images build osv --kernel PATH')") &&
           cfg_get_string(p, node, "kernel", NULL, pl->osv_kernel, sizeof pl->osv_kernel) &&
           cfg_get_string(p, node, "disk", NULL, pl->osv_disk, sizeof pl->osv_disk) &&
           cfg_get_string(p, node, "cmdline", NULL, pl->osv_cmdline, sizeof pl->osv_cmdline);
}

#ifndef JB_DEFAULT_BUILD /* set by CMake from what jung/ builds */
#define JB_DEFAULT_BUILD "dynamic"
#endif

const char *jb_config_default_build(void)
{
    return JB_DEFAULT_BUILD;
}

void jb_config_platform_defaults(jb_config_platform *pl)
{
    memset(pl, 0, sizeof *pl);
    pl->stop_grace_ms = JB_DEFAULT_STOP_GRACE_MS;
    pl->ready_timeout_ms = JB_DEFAULT_READY_TIMEOUT_MS;
    snprintf(pl->build, sizeof pl->build, "%s", JB_DEFAULT_BUILD);
    snprintf(pl->network, sizeof pl->network, JB_DEFAULT_NETWORK);
    snprintf(pl->docker_socket, sizeof pl->docker_socket, JB_DEFAULT_DOCKER_SOCKET);
    snprintf(pl->image, sizeof pl->image, JB_DEFAULT_IMAGE);
    snprintf(pl->accel, sizeof pl->accel, JB_DEFAULT_ACCEL);
    snprintf(pl->libvirt_uri, sizeof pl->libvirt_uri, JB_DEFAULT_LIBVIRT_URI);
    snprintf(pl->image_dir, sizeof pl->image_dir, JB_DEFAULT_IMAGE_DIR);
    snprintf(pl->osv_cmdline, sizeof pl->osv_cmdline, JB_DEFAULT_OSV_CMDLINE);
}

static bool parse_platform(cfg_parser *p, const yaml_node_t *node, jb_config_platform *pl)
{
    if (!cfg_expect_type(p, node, YAML_MAPPING_NODE, "each platform",
                         "{name: native, driver: process}"))
        return false;
    static const char *const drivers[] = {"process", "docker", "libvirt", NULL};
    static const char *const networks[] = {"host", "bridge", NULL};
    static const char *const images[] = {"microvm", "osv", NULL};
    static const char *const accels[] = {"auto", "kvm", "emulated", NULL};
    static const char *const builds[] = {"static", "dynamic", NULL};
    jb_config_platform_defaults(pl);
    pl->line = (int)node->start_mark.line + 1;
    if (!cfg_require(p, node, "name", "platform", "name: docker") ||
        !cfg_require(p, node, "driver", "platform", "driver: docker") ||
        !cfg_get_string(p, node, "driver", drivers, pl->driver, sizeof pl->driver) ||
        !check_platform_keys(p, node, pl->driver) ||
        !cfg_get_string(p, node, "name", NULL, pl->name, sizeof pl->name) ||
        !cfg_check_name(p, node, "name", pl->name) ||
        !cfg_get_double(p, node, "vcpus", 0, 64, &pl->vcpus) ||
        !cfg_get_long(p, node, "memory_mb", 0, 1048576, &pl->memory_mb) ||
        !cfg_get_double(p, node, "stop_grace_ms", 0, 600000, &pl->stop_grace_ms) ||
        !cfg_get_long(p, node, "ready_timeout_ms", 100, 3600000, &pl->ready_timeout_ms) ||
        !cfg_get_string(p, node, "bin_dir", NULL, pl->bin_dir, sizeof pl->bin_dir) ||
        !cfg_get_string(p, node, "build", builds, pl->build, sizeof pl->build) ||
        !cfg_get_string(p, node, "network", networks, pl->network, sizeof pl->network) ||
        !cfg_get_string(p, node, "image_tag", NULL, pl->image_tag, sizeof pl->image_tag) ||
        !cfg_get_string(p, node, "docker_socket", NULL, pl->docker_socket,
                        sizeof pl->docker_socket) ||
        !cfg_get_string(p, node, "image", images, pl->image, sizeof pl->image) ||
        !cfg_get_string(p, node, "accel", accels, pl->accel, sizeof pl->accel) ||
        !cfg_get_string(p, node, "libvirt_uri", NULL, pl->libvirt_uri, sizeof pl->libvirt_uri) ||
        !cfg_get_string(p, node, "image_dir", NULL, pl->image_dir, sizeof pl->image_dir) ||
        !cfg_get_string(p, node, "runner", NULL, pl->runner, sizeof pl->runner) ||
        (cfg_lookup(p, node, "runner") && !cfg_check_name(p, node, "runner", pl->runner)))
        return false;
    if (strcmp(pl->driver, "libvirt") == 0 && cfg_lookup(p, node, "vcpus") && pl->vcpus != 0 &&
        pl->vcpus != floor(pl->vcpus))
        return cfg_node_error(p, cfg_lookup(p, node, "vcpus"),
                              "'vcpus' is %g: a libvirt guest needs a whole number of vCPUs",
                              pl->vcpus);
    yaml_node_t *osv = cfg_lookup(p, node, "osv");
    bool is_osv = strcmp(pl->image, "osv") == 0;
    if (osv && !is_osv)
        return cfg_node_error(p, osv,
                              "'osv' settings need 'image: osv' (this platform's image is "
                              "'%s')",
                              pl->image);
    if (is_osv && !osv)
        return cfg_node_error(p, node,
                              "platform '%s' has 'image: osv' but no 'osv' settings "
                              "(e.g. osv: {kernel: /var/lib/jungbench/images/osv/kernel.elf})",
                              pl->name);
    return !osv || parse_osv(p, osv, pl);
}

static bool parse_platforms(cfg_parser *p, const yaml_node_t *node, jb_config *cfg)
{
    if (!cfg_expect_type(p, node, YAML_SEQUENCE_NODE, "'platforms'",
                         "[{name: native, driver: process}]"))
        return false;
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n == 0)
        return cfg_node_error(p, node, "'platforms' is empty: list at least one platform");
    if (n > JB_CFG_MAX_PLATFORMS)
        return cfg_node_error(p, node, "too many platforms (%zu; at most %d)", n,
                              JB_CFG_MAX_PLATFORMS);
    cfg->nplatforms = 0;
    bool ok = true;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        yaml_node_t *item = cfg_node_at(p, *it);
        jb_config_platform *pl = &cfg->platforms[cfg->nplatforms];
        if (!parse_platform(p, item, pl)) {
            ok = false; /* and on with the next platform */
            continue;
        }
        bool unique = true;
        for (size_t i = 0; i < cfg->nplatforms && unique; i++)
            if (strcmp(cfg->platforms[i].name, pl->name) == 0)
                unique = cfg_node_error(p, cfg_lookup(p, item, "name"),
                                        "platform name '%s' is used twice (line %d): names must be "
                                        "unique",
                                        pl->name, cfg->platforms[i].line);
        ok &= unique;
        cfg->nplatforms += unique;
    }
    return ok;
}

static bool known_service(const char *name)
{
    for (size_t i = 0; i < jb_config_nknown_services; i++)
        if (strcmp(jb_config_known_services[i], name) == 0)
            return true;
    return false;
}

static bool parse_service(cfg_parser *p, const yaml_node_t *item, jb_config_service *s)
{
    const yaml_node_t *name_node = item;
    s->replicas = 1;
    if (item->type == YAML_MAPPING_NODE) {
        static const char *const keys[] = {"name", "replicas", NULL};
        if (!cfg_check_keys(p, item, "service", keys) ||
            !cfg_require(p, item, "name", "service", "name: rule_engine") ||
            !cfg_get_long(p, item, "replicas", 1, 16, &s->replicas))
            return false;
        name_node = cfg_lookup(p, item, "name");
    }
    if (name_node->type != YAML_SCALAR_NODE)
        return cfg_node_error(p, name_node,
                              "each service is a name or {name: NAME, replicas: N}, not %s",
                              cfg_node_type_name(name_node));
    const char *name = cfg_scalar(name_node);
    if (!known_service(name)) {
        char hint[96], list[512];
        cfg_suggestion(name, jb_config_known_services, hint, sizeof hint);
        cfg_join(jb_config_known_services, list, sizeof list);
        return cfg_node_error(p, name_node, "unknown service '%s'%s; valid services: %s", name,
                              hint, list);
    }
    snprintf(s->name, sizeof s->name, "%s", name);
    return true;
}

static bool parse_services(cfg_parser *p, const yaml_node_t *node, jb_config *cfg)
{
    if (!cfg_expect_type(p, node, YAML_SEQUENCE_NODE, "'services'",
                         "[user_registry, {name: rule_engine, replicas: 2}]"))
        return false;
    cfg->nservices = 0;
    bool ok = true;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++) {
        yaml_node_t *item = cfg_node_at(p, *it);
        jb_config_service *s = &cfg->services[cfg->nservices];
        if (cfg->nservices == JB_CFG_MAX_SERVICES)
            return cfg_node_error(p, item, "too many services (at most %d)", JB_CFG_MAX_SERVICES);
        if (!parse_service(p, item, s)) {
            ok = false; /* and on with the next service */
            continue;
        }
        bool unique = true;
        for (size_t i = 0; i < cfg->nservices && unique; i++)
            if (strcmp(cfg->services[i].name, s->name) == 0)
                unique = cfg_node_error(p, item,
                                        "service '%s' is listed twice: use 'replicas' for more "
                                        "instances",
                                        s->name);
        ok &= unique;
        cfg->nservices += unique;
    }
    if (ok && cfg->nservices == 0)
        return cfg_node_error(p, node, "'services' is empty: leave it out to run every service");
    return ok;
}

static bool parse_mix(cfg_parser *p, const yaml_node_t *node, jb_config_workload *w)
{
    if (!cfg_expect_type(p, node, YAML_MAPPING_NODE, "'mix'",
                         "{get_user: 25, get_device: 25, get_readings: 225, post_command: 225}") ||
        !cfg_check_keys(p, node, "mix", mix_labels))
        return false;
    w->nmix = 0;
    long total = 0;
    for (yaml_node_pair_t *a = node->data.mapping.pairs.start; a < node->data.mapping.pairs.top;
         a++) {
        const char *label = cfg_scalar(cfg_node_at(p, a->key));
        jb_config_mix_entry *e = &w->mix[w->nmix++];
        snprintf(e->label, sizeof e->label, "%s", label);
        if (!cfg_get_long(p, node, label, 0, 10000000, &e->count))
            return false;
        total += e->count;
    }
    if (total == 0)
        return cfg_node_error(p, node, "'mix' sums to 0 requests: give at least one kind a count");
    return true;
}

static bool parse_workload(cfg_parser *p, const yaml_node_t *node, jb_config_workload *w)
{
    static const char *const keys[] = {"users",
                                       "devices_per_user",
                                       "rules_per_device",
                                       "requests_per_user",
                                       "mix",
                                       "model",
                                       "rate",
                                       "reading_interval_ms",
                                       "seed",
                                       "timeout_ms",
                                       "shuffle",
                                       NULL};
    static const char *const models[] = {"closed", "open", NULL};
    long seed = (long)w->seed;
    if (!cfg_expect_type(p, node, YAML_MAPPING_NODE, "'workload'", "{users: 30}") ||
        !cfg_check_keys(p, node, "workload", keys) ||
        !cfg_get_long(p, node, "users", 1, 10000, &w->users) ||
        !cfg_get_long(p, node, "devices_per_user", 1, 10000, &w->devices_per_user) ||
        !cfg_get_long(p, node, "rules_per_device", 0, 100, &w->rules_per_device) ||
        !cfg_get_long(p, node, "requests_per_user", 1, 10000000, &w->requests_per_user) ||
        !cfg_get_string(p, node, "model", models, w->model, sizeof w->model) ||
        !cfg_get_double(p, node, "rate", 0, 1e7, &w->rate) ||
        !cfg_get_long(p, node, "reading_interval_ms", 0, 3600000, &w->reading_interval_ms) ||
        !cfg_get_long(p, node, "seed", 0, LONG_MAX, &seed) ||
        !cfg_get_long(p, node, "timeout_ms", 1, 3600000, &w->timeout_ms) ||
        !cfg_get_bool(p, node, "shuffle", &w->shuffle))
        return false;
    w->seed = (uint64_t)seed;
    yaml_node_t *mix = cfg_lookup(p, node, "mix");
    if (mix && !parse_mix(p, mix, w))
        return false;
    bool open = strcmp(w->model, "open") == 0;
    if (open && w->rate <= 0)
        return cfg_node_error(p, node, "'model: open' needs 'rate' (requests per second, > 0)");
    if (!open && cfg_lookup(p, node, "rate"))
        return cfg_node_error(p, cfg_lookup(p, node, "rate"),
                              "'rate' applies to 'model: open' only (this workload is closed)");
    return true;
}

static bool parse_metrics(cfg_parser *p, const yaml_node_t *node, jb_config_metrics *m)
{
    static const char *const keys[] = {"interval_ms", "runtime_daemons", NULL};
    return cfg_expect_type(p, node, YAML_MAPPING_NODE, "'metrics'", "{interval_ms: 500}") &&
           cfg_check_keys(p, node, "metrics", keys) &&
           cfg_get_long(p, node, "interval_ms", 10, 60000, &m->interval_ms) &&
           cfg_get_bool(p, node, "runtime_daemons", &m->runtime_daemons);
}

static bool parse_jung(cfg_parser *p, const yaml_node_t *node, jb_config_jung *j)
{
    static const char *const keys[] = {"gateway_port", "rule_interval_ms", "call_timeout_ms", NULL};
    return cfg_expect_type(p, node, YAML_MAPPING_NODE, "'jung'", "{gateway_port: 8080}") &&
           cfg_check_keys(p, node, "jung", keys) &&
           cfg_get_long(p, node, "gateway_port", 0, 65535, &j->gateway_port) &&
           cfg_get_long(p, node, "rule_interval_ms", 0, 3600000, &j->rule_interval_ms) &&
           cfg_get_long(p, node, "call_timeout_ms", 0, 600000, &j->call_timeout_ms);
}

static bool parse_runner(cfg_parser *p, const yaml_node_t *node, jb_config_runner *r)
{
    static const char *const keys[] = {"id", "ready_timeout_ms", "silence_timeout_ms", "parallel",
                                       NULL};
    return cfg_expect_type(p, node, YAML_MAPPING_NODE, "'runner'", "{id: local}") &&
           cfg_check_keys(p, node, "runner", keys) &&
           cfg_get_string(p, node, "id", NULL, r->id, sizeof r->id) &&
           (!cfg_lookup(p, node, "id") || cfg_check_name(p, node, "id", r->id)) &&
           cfg_get_long(p, node, "ready_timeout_ms", 100, 3600000, &r->ready_timeout_ms) &&
           cfg_get_long(p, node, "silence_timeout_ms", 100, 3600000, &r->silence_timeout_ms) &&
           cfg_get_bool(p, node, "parallel", &r->parallel);
}

/* ---- thresholds ------------------------------------------------------------ */

const char *const jb_config_threshold_metrics[] = {
    "avg_ms",     "max_ms",           "p50_ms",         "p90_ms",  "p95_ms",
    "p99_ms",     "error_rate",       "throughput_rps", "cpu_pct", "cpu_per_1k_req",
    "memory_mib", "total_memory_mib", "ready_ms",       NULL};
const size_t jb_config_nrequest_metrics = 8;

/* The unit a limit may carry after its number ("< 50ms", "< 0.1%"). */
static const char *threshold_unit(const char *metric)
{
    size_t n = strlen(metric);
    if (strcmp(metric, "error_rate") == 0)
        return "%";
    return n > 3 && strcmp(metric + n - 3, "_ms") == 0 ? "ms" : NULL;
}

static const char *threshold_example(const char *metric)
{
    return strcmp(metric, "throughput_rps") == 0 ? "\"> 1000\""
           : strcmp(metric, "error_rate") == 0   ? "\"< 0.1%\""
                                                 : "\"< 50\"";
}

/* "OP NUMBER [UNIT]" into t. */
static bool parse_limit(cfg_parser *p, const yaml_node_t *v, const char *metric,
                        jb_config_threshold *t)
{
    if (v->type != YAML_SCALAR_NODE)
        return cfg_node_error(p, v, "threshold '%s' must be a comparison such as %s, not %s",
                              metric, threshold_example(metric), cfg_node_type_name(v));
    const char *s = cfg_scalar(v);
    while (*s == ' ')
        s++;
    size_t oplen = (s[0] == '<' || s[0] == '>') ? (s[1] == '=' ? 2 : 1) : 0;
    char *end = NULL;
    errno = 0;
    double d = oplen ? strtod(s + oplen, &end) : NAN;
    if (!oplen || errno || end == s + oplen || !isfinite(d))
        return cfg_node_error(p, v,
                              "threshold '%s' is '%s': write an operator (<, <=, >, >=) and a "
                              "number, quoted, e.g. %s",
                              metric, cfg_scalar(v), threshold_example(metric));
    while (*end == ' ')
        end++;
    const char *unit = threshold_unit(metric);
    if (*end && !unit)
        return cfg_node_error(p, v, "threshold '%s' is '%s': '%s' takes no unit after the number",
                              metric, cfg_scalar(v), metric);
    if (*end && strcmp(end, unit) != 0)
        return cfg_node_error(p, v, "threshold '%s' is '%s': its unit is '%s', not '%s'", metric,
                              cfg_scalar(v), unit, end);
    memcpy(t->op, s, oplen);
    t->op[oplen] = '\0';
    t->value = d;
    snprintf(t->metric, sizeof t->metric, "%s", metric);
    return true;
}

static bool parse_threshold_scope(cfg_parser *p, const yaml_node_t *map, jb_config *cfg,
                                  const char *platform, const char *label);

/* thresholds.platforms: {NAME: {...}}, NAME a platform of this file. */
static bool parse_threshold_platforms(cfg_parser *p, const yaml_node_t *map, jb_config *cfg)
{
    if (!cfg_expect_type(p, map, YAML_MAPPING_NODE, "'thresholds.platforms'",
                         "{docker: {p95_ms: \"< 80\"}}"))
        return false;
    const char *names[JB_CFG_MAX_PLATFORMS + 1];
    for (size_t i = 0; i < cfg->nplatforms; i++)
        names[i] = cfg->platforms[i].name;
    names[cfg->nplatforms] = NULL;
    if (!cfg_check_keys(p, map, "thresholds.platforms (platform names)", names))
        return false;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++)
        if (!parse_threshold_scope(p, cfg_node_at(p, a->value), cfg,
                                   cfg_scalar(cfg_node_at(p, a->key)), ""))
            return false;
    return true;
}

static bool label_in_mix(const jb_config_workload *w, const char *label)
{
    for (size_t i = 0; i < w->nmix; i++)
        if (strcmp(w->mix[i].label, label) == 0)
            return w->mix[i].count > 0;
    return false;
}

/* labels: {LABEL: {...}}, LABEL a request kind the workload sends. */
static bool parse_threshold_labels(cfg_parser *p, const yaml_node_t *map, jb_config *cfg,
                                   const char *platform)
{
    if (!cfg_expect_type(p, map, YAML_MAPPING_NODE, "'labels'",
                         "{get_user: {p99_ms: \"< 100\"}}") ||
        !cfg_check_keys(p, map, "thresholds labels (request labels)", mix_labels))
        return false;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        yaml_node_t *key = cfg_node_at(p, a->key);
        if (!label_in_mix(&cfg->workload, cfg_scalar(key)))
            return cfg_node_error(p, key,
                                  "threshold label '%s' gets no requests: workload.mix gives it "
                                  "none",
                                  cfg_scalar(key));
        if (!parse_threshold_scope(p, cfg_node_at(p, a->value), cfg, platform, cfg_scalar(key)))
            return false;
    }
    return true;
}

/* One mapping of limits: metrics, and the narrower scopes it may hold
 * (platforms at the top only, labels anywhere but inside a label). */
static bool parse_threshold_scope(cfg_parser *p, const yaml_node_t *map, jb_config *cfg,
                                  const char *platform, const char *label)
{
    if (!cfg_expect_type(p, map, YAML_MAPPING_NODE, "thresholds",
                         "{p95_ms: \"< 50\", error_rate: \"< 0.1%\"}"))
        return false;
    const char *valid[32];
    size_t n = 0, nmetrics = label[0] ? jb_config_nrequest_metrics : SIZE_MAX;
    for (size_t i = 0; jb_config_threshold_metrics[i] && i < nmetrics; i++)
        valid[n++] = jb_config_threshold_metrics[i];
    if (!platform[0] && !label[0])
        valid[n++] = "platforms";
    if (!label[0])
        valid[n++] = "labels";
    valid[n] = NULL;
    char what[160];
    snprintf(what, sizeof what, "thresholds%s%s%s%s", platform[0] ? " of platform " : "", platform,
             label[0] ? " of label " : "", label);
    if (!cfg_check_keys(p, map, what, valid))
        return false;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        const char *key = cfg_scalar(cfg_node_at(p, a->key));
        yaml_node_t *v = cfg_node_at(p, a->value);
        if (strcmp(key, "platforms") == 0) {
            if (!parse_threshold_platforms(p, v, cfg))
                return false;
            continue;
        }
        if (strcmp(key, "labels") == 0) {
            if (!parse_threshold_labels(p, v, cfg, platform))
                return false;
            continue;
        }
        if (cfg->nthresholds == JB_CFG_MAX_THRESHOLDS)
            return cfg_node_error(p, v, "too many thresholds (at most %d)", JB_CFG_MAX_THRESHOLDS);
        jb_config_threshold *t = &cfg->thresholds[cfg->nthresholds];
        *t = (jb_config_threshold){0};
        snprintf(t->platform, sizeof t->platform, "%s", platform);
        snprintf(t->label, sizeof t->label, "%s", label);
        if (!parse_limit(p, v, key, t))
            return false;
        cfg->nthresholds++;
    }
    return true;
}

/* ---- files named by the config -------------------------------------------- */

static void expand_service(const char *template, const char *service, char *out, size_t outlen)
{
    const char *at = strstr(template, "{service}");
    if (!at)
        snprintf(out, outlen, "%s", template);
    else
        snprintf(out, outlen, "%.*s%s%s", (int)(at - template), template, service,
                 at + strlen("{service}"));
}

/* key names the setting (platforms[i].osv.kernel) and how says how to get
 * the file: the error must tell the user what to fix and how. */
static bool check_file(cfg_parser *p, const yaml_node_t *at, const char *key, const char *path,
                       bool want_dir, const char *how)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cfg_node_error(p, at, "%s: '%s' does not exist (%s); %s, or fix the path", key, path,
                              strerror(errno), how);
    if (want_dir != S_ISDIR(st.st_mode))
        return cfg_node_error(p, at, "%s: '%s' is not a %s", key, path,
                              want_dir ? "folder" : "file");
    return true;
}

#define OSV_HOW                                                                                    \
    "build it with 'jungbench images build osv --kernel PATH' (PATH: OSv's loader-stripped.elf, "  \
    "docs/osv.md)"

static bool check_platform_files(cfg_parser *p, const yaml_node_t *node,
                                 const jb_config_platform *pl, const jb_config *cfg, size_t index)
{
    if (strcmp(pl->driver, "libvirt") != 0)
        return true;
    char key[160];
    if (strcmp(pl->image, "microvm") == 0) {
        yaml_node_t *at = cfg_lookup(p, node, "image_dir");
        snprintf(key, sizeof key, "platforms[%zu].image_dir (microVM images of '%s')", index,
                 pl->name);
        return check_file(p, at ? at : node, key, pl->image_dir, true,
                          "build them with `jungbench images build microvm`");
    }
    yaml_node_t *osv = cfg_lookup(p, node, "osv");
    char path[JB_CFG_PATH + 64];
    for (size_t i = 0; i < cfg->nservices; i++) {
        expand_service(pl->osv_kernel, cfg->services[i].name, path, sizeof path);
        snprintf(key, sizeof key, "platforms[%zu].osv.kernel (OSv kernel of '%s')", index,
                 pl->name);
        if (!check_file(p, cfg_lookup(p, osv, "kernel"), key, path, false, OSV_HOW))
            return false;
        expand_service(pl->osv_disk, cfg->services[i].name, path, sizeof path);
        snprintf(key, sizeof key, "platforms[%zu].osv.disk (OSv disk of %s on '%s')", index,
                 cfg->services[i].name, pl->name);
        yaml_node_t *disk = cfg_lookup(p, osv, "disk");
        if (!check_file(p, disk ? disk : osv, key, path, false, OSV_HOW))
            return false;
    }
    return true;
}

static bool check_files(cfg_parser *p, const yaml_node_t *root, const jb_config *cfg)
{
    yaml_node_t *list = cfg_lookup(p, root, "platforms");
    if (!list)
        return true;
    size_t i = 0;
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++, i++)
        if (!check_platform_files(p, cfg_node_at(p, *it), &cfg->platforms[i], cfg, i))
            return false;
    return true;
}

/* ---- the document ------------------------------------------------------- */

/* The top-level scalars: name, description, iterations, on_failure, output. */
static bool parse_top(cfg_parser *p, const yaml_node_t *root, jb_config *cfg)
{
    static const char *const on_failure[] = {"continue", "stop", NULL};
    char failure[16] = "continue";
    bool ok = cfg_require(p, root, "name", "experiment", "name: osv-vs-docker") &&
              cfg_get_string(p, root, "name", NULL, cfg->name, sizeof cfg->name) &&
              cfg_check_name(p, root, "name", cfg->name);
    ok &= cfg_get_string(p, root, "description", NULL, cfg->description, sizeof cfg->description);
    ok &= cfg_get_long(p, root, "iterations", 1, 100000, &cfg->iterations);
    ok &= cfg_get_string(p, root, "on_failure", on_failure, failure, sizeof failure);
    cfg->stop_on_failure = strcmp(failure, "stop") == 0;
    if (cfg_get_string(p, root, "output", NULL, cfg->output, sizeof cfg->output) && !cfg->output[0])
        ok = cfg_node_error(p, cfg_lookup(p, root, "output"), "'output' must not be empty");
    return ok;
}

/* Each section on its own, so one pass finds the mistakes of all. */
static bool parse_sections(cfg_parser *p, const yaml_node_t *root, jb_config *cfg)
{
    bool ok = true;
    yaml_node_t *n;
    if ((n = cfg_lookup(p, root, "broker")))
        ok &= parse_broker(p, n, &cfg->broker);
    if ((n = cfg_lookup(p, root, "services")))
        ok &= parse_services(p, n, cfg);
    if (cfg_require(p, root, "platforms", "experiment",
                    "platforms: [{name: native, driver: process}]"))
        ok &= parse_platforms(p, cfg_lookup(p, root, "platforms"), cfg);
    else
        ok = false;
    if ((n = cfg_lookup(p, root, "workload")))
        ok &= parse_workload(p, n, &cfg->workload);
    if ((n = cfg_lookup(p, root, "metrics")))
        ok &= parse_metrics(p, n, &cfg->metrics);
    if ((n = cfg_lookup(p, root, "jung")))
        ok &= parse_jung(p, n, &cfg->jung);
    if ((n = cfg_lookup(p, root, "runner")))
        ok &= parse_runner(p, n, &cfg->runner);
    return ok;
}

static bool parse_root(cfg_parser *p, const yaml_node_t *root, jb_config *cfg)
{
    static const char *const keys[] = {
        "name",     "description", "iterations", "on_failure", "broker", "platforms",  "services",
        "workload", "metrics",     "jung",       "runner",     "output", "thresholds", NULL};
    if (!cfg_expect_type(p, root, YAML_MAPPING_NODE, "an experiment file",
                         "name: my-experiment\\nplatforms: [...]"))
        return false;
    bool ok = cfg_check_keys(p, root, "experiment", keys);
    ok &= parse_top(p, root, cfg);
    ok &= parse_sections(p, root, cfg);
    /* last, on a valid rest: they name platforms, mix labels and services,
     * and a mistake there would only echo as errors here */
    yaml_node_t *n = cfg_lookup(p, root, "thresholds");
    if (ok && n)
        ok = parse_threshold_scope(p, n, cfg, "", "");
    return ok && (!(p->flags & JB_CONFIG_CHECK_FILES) || check_files(p, root, cfg));
}

void jb_config_defaults(jb_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->iterations = 30;
    cfg->broker.embedded = true;
    for (size_t i = 0; i < jb_config_nknown_services; i++) {
        snprintf(cfg->services[i].name, sizeof cfg->services[i].name, "%s",
                 jb_config_known_services[i]);
        cfg->services[i].replicas = 1;
    }
    cfg->nservices = jb_config_nknown_services;
    jb_config_platform_defaults(&cfg->platforms[0]);
    snprintf(cfg->platforms[0].name, sizeof cfg->platforms[0].name, "native");
    snprintf(cfg->platforms[0].driver, sizeof cfg->platforms[0].driver, "process");
    cfg->nplatforms = 1;
    jb_config_workload *w = &cfg->workload;
    *w = (jb_config_workload){.users = 30,
                              .devices_per_user = 30,
                              .rules_per_device = 1,
                              .requests_per_user = 500,
                              .nmix = 4,
                              .seed = 1,
                              .timeout_ms = 10000};
    static const long table2[] = {25, 25, 225, 225};
    for (size_t i = 0; i < 4; i++) {
        snprintf(w->mix[i].label, sizeof w->mix[i].label, "%s", mix_labels[i]);
        w->mix[i].count = table2[i];
    }
    snprintf(w->model, sizeof w->model, "closed");
    cfg->metrics = (jb_config_metrics){.interval_ms = 500, .runtime_daemons = true};
    snprintf(cfg->runner.id, sizeof cfg->runner.id, "local");
    cfg->runner.ready_timeout_ms = 120000;
    cfg->runner.silence_timeout_ms = 30000;
    snprintf(cfg->output, sizeof cfg->output, "results");
}

static bool load_error(char *err, size_t errlen, const char *name, const yaml_parser_t *parser)
{
    const yaml_mark_t *m = parser->problem_mark.line || parser->problem_mark.column
                               ? &parser->problem_mark
                               : &parser->context_mark;
    snprintf(err, errlen, "%s:%zu:%zu: not valid YAML: %s%s%s", name, m->line + 1, m->column + 1,
             parser->problem ? parser->problem : "parse error", parser->context ? " " : "",
             parser->context ? parser->context : "");
    return false;
}

/* libyaml's scanner rechecks every open simple key at each token, so a
 * document nested N levels deep costs O(N^2): 100,000 '[' (200 KB) ran for
 * minutes inside yaml_parser_load. Events come one at a time, so a first
 * pass that stops at the first level past JB_CONFIG_MAX_DEPTH reads at most
 * that many levels, and the full load that follows is linear in the size.
 * Syntax errors are left to the load, which reports them. */
static bool depth_ok(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return snprintf(err, errlen, "%s: out of memory", name), false;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int depth = 0;
    bool ok = true, done = false;
    while (ok && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev))
            break;
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
            depth--;
        done = ev.type == YAML_STREAM_END_EVENT;
        if (depth > JB_CONFIG_MAX_DEPTH) {
            snprintf(err, errlen,
                     "%s:%zu:%zu: nested deeper than %d levels (an experiment needs at most 4: "
                     "platforms, a platform, its osv settings, a list)",
                     name, ev.start_mark.line + 1, ev.start_mark.column + 1, JB_CONFIG_MAX_DEPTH);
            ok = false;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return ok;
}

/* One error line, for sorting by its position in the file. */
typedef struct error_line {
    const char *text;
    size_t len;
    unsigned long line, column;
    int order;
} error_line;

static int by_position(const void *a, const void *b)
{
    const error_line *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->order - y->order;
}

/* The sections are checked in their own order; the reader reads the file
 * top down, so the lines of err are put in the file's order. */
static void sort_errors(const char *name, char *err)
{
    error_line lines[JB_CONFIG_MAX_ERRORS];
    int n = 0;
    for (const char *s = err; *s && n < JB_CONFIG_MAX_ERRORS;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        char *end = NULL;
        lines[n] = (error_line){.text = s, .len = len, .order = n};
        lines[n].line = strtoul(s + strlen(name) + 1, &end, 10);
        lines[n].column = end && *end == ':' ? strtoul(end + 1, NULL, 10) : 0;
        n++;
        s += len + (nl != NULL);
    }
    char *sorted = malloc(strlen(err) + 1);
    if (!sorted || n < 2) {
        free(sorted);
        return;
    }
    qsort(lines, (size_t)n, sizeof *lines, by_position);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        memcpy(sorted + at, lines[i].text, lines[i].len);
        at += lines[i].len;
        sorted[at++] = i + 1 < n ? '\n' : '\0';
    }
    memcpy(err, sorted, at);
    free(sorted);
}

bool jb_config_parse(const char *name, const char *text, size_t len, unsigned flags, jb_config *cfg,
                     char *err, size_t errlen)
{
    jb_config_defaults(cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", name);
    if (!depth_ok(name, text, len, err, errlen))
        return false;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return snprintf(err, errlen, "%s: out of memory", name), false;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    cfg_parser p = {.name = name, .flags = flags, .err = err, .errlen = errlen};
    if (!yaml_parser_load(&parser, &p.doc)) {
        load_error(err, errlen, name, &parser);
        yaml_parser_delete(&parser);
        return false;
    }
    yaml_parser_delete(&parser);
    yaml_node_t *root = yaml_document_get_root_node(&p.doc);
    bool ok;
    if (!root)
        ok = snprintf(err, errlen,
                      "%s:1:1: the file is empty; an experiment needs at least "
                      "'name' and 'platforms'",
                      name) < 0;
    else
        ok = parse_root(&p, root, cfg) && p.nerrors == 0;
    sort_errors(name, err);
    if (p.nerrors > p.shown && p.used + 1 < errlen)
        snprintf(err + p.used, errlen - p.used, "\n%s: %d more errors not shown (fix these first)",
                 name, p.nerrors - p.shown);
    yaml_document_delete(&p.doc);
    return ok;
}

bool jb_config_load(const char *path, unsigned flags, jb_config *cfg, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return snprintf(err, errlen, "%s: cannot open the config file: %s", path, strerror(errno)),
               false;
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(text, cap);
            if (!grown || cap > (16u << 20)) {
                free(grown ? grown : text);
                fclose(f);
                return snprintf(err, errlen, "%s: too large for a config file", path), false;
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    bool read_error = ferror(f);
    fclose(f);
    if (read_error) {
        free(text);
        return snprintf(err, errlen, "%s: cannot read the config file", path), false;
    }
    bool ok = jb_config_parse(path, text, len, flags, cfg, err, errlen);
    free(text);
    return ok;
}
