/* config_json.c - the config as run (jb_config_to_json: config.json, RUN
 * messages, the runs table) and lookups over a loaded config (config.h). */
#include "config/config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const jb_config_platform *jb_config_platform_named(const jb_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nplatforms; i++)
        if (strcmp(cfg->platforms[i].name, name) == 0)
            return &cfg->platforms[i];
    return NULL;
}

void jb_config_props_spec(const jb_config_broker *b, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < b->nproperties && used < outlen; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s=%s", i ? "," : "", b->properties[i].key,
                         b->properties[i].value);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static json_t *platform_json(const jb_config_platform *pl)
{
    json_t *o =
        json_pack("{s:s, s:s, s:f, s:I, s:f, s:I}", "name", pl->name, "driver", pl->driver, "vcpus",
                  pl->vcpus, "memory_mb", (json_int_t)pl->memory_mb, "stop_grace_ms",
                  pl->stop_grace_ms, "ready_timeout_ms", (json_int_t)pl->ready_timeout_ms);
    if (!o)
        return NULL;
    json_object_set_new(o, "build", json_string(pl->build));
    if (pl->runner[0])
        json_object_set_new(o, "runner", json_string(pl->runner));
    if (strcmp(pl->driver, "process") == 0)
        json_object_set_new(o, "bin_dir", json_string(pl->bin_dir));
    if (strcmp(pl->driver, "docker") == 0) {
        json_object_set_new(o, "network", json_string(pl->network));
        json_object_set_new(o, "image_tag", json_string(pl->image_tag));
        json_object_set_new(o, "docker_socket", json_string(pl->docker_socket));
    }
    if (strcmp(pl->driver, "libvirt") == 0) {
        json_object_set_new(o, "image", json_string(pl->image));
        json_object_set_new(o, "accel", json_string(pl->accel));
        json_object_set_new(o, "libvirt_uri", json_string(pl->libvirt_uri));
        json_object_set_new(o, "image_dir", json_string(pl->image_dir));
        if (strcmp(pl->image, "osv") == 0)
            json_object_set_new(o, "osv",
                                json_pack("{s:s, s:s, s:s}", "kernel", pl->osv_kernel, "disk",
                                          pl->osv_disk, "cmdline", pl->osv_cmdline));
    }
    return o;
}

static json_t *workload_json(const jb_config_workload *w)
{
    json_t *mix = json_object();
    for (size_t i = 0; i < w->nmix; i++)
        json_object_set_new(mix, w->mix[i].label, json_integer(w->mix[i].count));
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:s, s:f, s:I, s:I, s:I, s:b}", "users",
                     (json_int_t)w->users, "devices_per_user", (json_int_t)w->devices_per_user,
                     "rules_per_device", (json_int_t)w->rules_per_device, "requests_per_user",
                     (json_int_t)w->requests_per_user, "mix", mix, "model", w->model, "rate",
                     w->rate, "reading_interval_ms", (json_int_t)w->reading_interval_ms, "seed",
                     (json_int_t)w->seed, "timeout_ms", (json_int_t)w->timeout_ms, "shuffle",
                     w->shuffle);
}

static json_t *broker_json(const jb_config_broker *b)
{
    if (b->embedded)
        return json_string("embedded");
    json_t *props = json_object();
    for (size_t i = 0; i < b->nproperties; i++)
        json_object_set_new(props, b->properties[i].key, json_string(b->properties[i].value));
    return json_pack("{s:s, s:o, s:s}", "bootstrap", b->bootstrap, "properties", props,
                     "topic_prefix", b->topic_prefix);
}

/* [{metric, op, value, platform?, label?}]: what `report --check` and
 * `compare` evaluate from the stored run. */
static json_t *thresholds_json(const jb_config *cfg)
{
    json_t *list = json_array();
    for (size_t i = 0; i < cfg->nthresholds; i++) {
        const jb_config_threshold *t = &cfg->thresholds[i];
        json_t *o =
            json_pack("{s:s, s:s, s:f}", "metric", t->metric, "op", t->op, "value", t->value);
        if (t->platform[0])
            json_object_set_new(o, "platform", json_string(t->platform));
        if (t->label[0])
            json_object_set_new(o, "label", json_string(t->label));
        json_array_append_new(list, o);
    }
    return list;
}

char *jb_config_to_json(const jb_config *cfg)
{
    json_t *platforms = json_array(), *services = json_array();
    for (size_t i = 0; i < cfg->nplatforms; i++)
        json_array_append_new(platforms, platform_json(&cfg->platforms[i]));
    for (size_t i = 0; i < cfg->nservices; i++)
        json_array_append_new(services,
                              json_pack("{s:s, s:I}", "name", cfg->services[i].name, "replicas",
                                        (json_int_t)cfg->services[i].replicas));
    json_t *root = json_pack(
        "{s:s, s:s, s:s, s:I, s:s, s:o, s:o, s:o, s:o, s:{s:I, s:b}, s:{s:I, s:I, s:I},"
        " s:{s:s, s:I, s:I}, s:s}",
        "file", cfg->path, "name", cfg->name, "description", cfg->description, "iterations",
        (json_int_t)cfg->iterations, "on_failure", cfg->stop_on_failure ? "stop" : "continue",
        "broker", broker_json(&cfg->broker), "platforms", platforms, "services", services,
        "workload", workload_json(&cfg->workload), "metrics", "interval_ms",
        (json_int_t)cfg->metrics.interval_ms, "runtime_daemons", cfg->metrics.runtime_daemons,
        "jung", "gateway_port", (json_int_t)cfg->jung.gateway_port, "rule_interval_ms",
        (json_int_t)cfg->jung.rule_interval_ms, "call_timeout_ms",
        (json_int_t)cfg->jung.call_timeout_ms, "runner", "id", cfg->runner.id, "ready_timeout_ms",
        (json_int_t)cfg->runner.ready_timeout_ms, "silence_timeout_ms",
        (json_int_t)cfg->runner.silence_timeout_ms, "output", cfg->output);
    if (!root)
        return NULL;
    /* only when set: a run recorded before thresholds existed stays
     * resumable with its unchanged config */
    if (cfg->nthresholds)
        json_object_set_new(root, "thresholds", thresholds_json(cfg));
    if (cfg->runner.parallel)
        json_object_set_new(json_object_get(root, "runner"), "parallel", json_true());
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

bool jb_config_dump(const jb_config *cfg, FILE *out)
{
    char *text = jb_config_to_json(cfg);
    if (!text)
        return false;
    bool ok = fputs(text, out) >= 0 && fputc('\n', out) != EOF;
    free(text);
    return ok;
}

const char *jb_config_platform_runner(const jb_config *cfg, const jb_config_platform *pl)
{
    return pl->runner[0] ? pl->runner : cfg->runner.id;
}
