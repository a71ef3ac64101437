/* launch.c - the launch plan (launch.h). */
#include "platforms/launch.h"

#include "broker/broker.h"
#include "cli/cli.h"
#include "platforms/internal.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>
#include <string.h>

void jb_launch_kafka_props(const jb_config *cfg, char *out, size_t outlen)
{
    char props[4000];
    jb_config_props_spec(&cfg->broker, props, sizeof props);
    if (cfg->broker.embedded)
        jb_broker_service_props(props, out, outlen);
    else
        snprintf(out, outlen, "fetch.wait.max.ms=%d%s%.*s", JB_LAUNCH_KAFKA_FETCH_WAIT_MS,
                 props[0] ? "," : "", (int)(outlen > 64 ? outlen - 64 : 0), props);
}

void jb_launch_platform_config(const jb_config_platform *pl, jb_platform_config *pc)
{
    jb_platform_config_init(pc);
    pc->driver = pl->driver;
    pc->cpus = pl->vcpus;
    pc->memory_mb = pl->memory_mb;
    pc->stop_grace_ms = pl->stop_grace_ms;
    pc->bin_dir = pl->bin_dir; /* "" takes the default */
    pc->build = pl->build;
    pc->docker_socket = pl->docker_socket;
    pc->network = pl->network;
    pc->image_tag = pl->image_tag;
    pc->libvirt_uri = pl->libvirt_uri;
    pc->accel = pl->accel;
    pc->image_kind = pl->image;
    pc->image_dir = pl->image_dir;
    if (strcmp(pl->image, "osv") == 0) {
        pc->osv_kernel = pl->osv_kernel;
        pc->osv_disk = pl->osv_disk;
        pc->osv_cmdline = pl->osv_cmdline;
    }
}

/* The service's own option and its value, if it has one. */
static const char *service_option(const jb_config *cfg, const jb_config_platform *pl,
                                  const char *service, int index, long *value)
{
    if (strcmp(service, "api_gateway") == 0) {
        /* Guests and bridged containers need a known port to forward. */
        *value = cfg->jung.gateway_port;
        if (*value == 0 &&
            (strcmp(pl->driver, "libvirt") == 0 || strcmp(pl->network, "bridge") == 0))
            *value = 8080;
        if (index > 1) /* replicas on one host cannot share the port */
            *value = 0;
        return "--port";
    }
    if (strcmp(service, "device_gateway") == 0 && cfg->workload.reading_interval_ms > 0) {
        *value = cfg->workload.reading_interval_ms;
        return "--interval-ms";
    }
    if (strcmp(service, "rule_engine") == 0 && cfg->jung.rule_interval_ms > 0) {
        *value = cfg->jung.rule_interval_ms;
        return "--interval-ms";
    }
    return NULL;
}

void jb_launch_plan_make(const jb_config *cfg, const jb_config_platform *pl, const char *service,
                         int index, jb_launch_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    int n = 0, e = 0;
    long value = 0;
    const char *opt = service_option(cfg, pl, service, index, &value);
    if (opt) {
        snprintf(plan->arg_store[0], sizeof plan->arg_store[0], "%ld", value);
        plan->args[n++] = opt;
        plan->args[n++] = plan->arg_store[0];
        if (strcmp(opt, "--port") == 0 && value > 0)
            plan->spec.ports[0] = (int)value;
    }
    /* gateway_port 0: the host side of a forwarded port (a guest's) is any
     * free one, so runs can share a machine. */
    plan->spec.free_host_ports = cfg->jung.gateway_port == 0;
    plan->args[n] = NULL;
    char props[4000];
    jb_launch_kafka_props(cfg, props, sizeof props);
    if (props[0]) {
        snprintf(plan->env_store[0], sizeof plan->env_store[0], "JUNG_KAFKA_PROPS=%s", props);
        plan->env[e++] = plan->env_store[0];
    }
    if (cfg->jung.call_timeout_ms > 0) {
        snprintf(plan->env_store[1], sizeof plan->env_store[1], "JUNG_TIMEOUT_MS=%ld",
                 cfg->jung.call_timeout_ms);
        plan->env[e++] = plan->env_store[1];
    }
    /* The service's own stop budget ends inside the platform's grace: a
     * teardown that is stuck then logs where and exits 3 by itself, instead
     * of racing the harness's SIGKILL. */
    long grace = pl->stop_grace_ms, margin = grace / 5 < 1000 ? grace / 5 : 1000;
    snprintf(plan->env_store[2], sizeof plan->env_store[2], "JUNG_STOP_TIMEOUT_MS=%ld",
             grace - margin > 100 ? grace - margin : 100);
    plan->env[e++] = plan->env_store[2];
    plan->env[e] = NULL;
    plan->spec.service = service;
    plan->spec.index = index;
    plan->spec.args = plan->args;
    plan->spec.env = plan->env;
    if (strcmp(pl->driver, "process") == 0) {
        char bin_dir[4096];
        if (pl->bin_dir[0])
            jb_strlcpy(bin_dir, pl->bin_dir, sizeof bin_dir);
        else if (!jb_default_bin_dir(bin_dir, sizeof bin_dir))
            bin_dir[0] = '\0'; /* the driver says what is missing */
        if (bin_dir[0]) {
            jb_service_executable(bin_dir, pl->build, service, plan->executable,
                                  sizeof plan->executable);
            plan->spec.executable = plan->executable;
        }
    }
}

void jb_launch_process_platform(const jb_config *cfg, jb_config_platform *out)
{
    for (size_t i = 0; i < cfg->nplatforms; i++)
        if (strcmp(cfg->platforms[i].driver, "process") == 0) {
            *out = cfg->platforms[i];
            return;
        }
    jb_config_platform_defaults(out);
    snprintf(out->name, sizeof out->name, "native");
    snprintf(out->driver, sizeof out->driver, "process");
}

void jb_launch_consumer_groups(const jb_config *cfg, const char *prefix, jb_launch_groups *out)
{
    memset(out, 0, sizeof *out);
    if (!prefix)
        prefix = "";
    for (size_t i = 0; i < cfg->nservices && out->n < JB_CFG_MAX_SERVICES; i++) {
        const char *service = cfg->services[i].name;
        snprintf(out->topics[out->n], sizeof out->topics[0], "%s%s_tasks", prefix, service);
        out->list[out->n].topic = out->topics[out->n];
        snprintf(out->groups[out->n], sizeof out->groups[0], "%s%s", prefix,
                 strcmp(service, "device_gateway") == 0 ? JB_LAUNCH_DEVICE_GATEWAY_GROUP : service);
        out->list[out->n].group = out->groups[out->n];
        out->n++;
    }
}

void jb_launch_new_topic_prefix(const jb_config *cfg, char *out, size_t outlen)
{
    uint64_t r = 0;
    if (cfg->broker.embedded || cfg->broker.topic_prefix[0]) {
        snprintf(out, outlen, "%s", cfg->broker.embedded ? "" : cfg->broker.topic_prefix);
        return;
    }
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint64_t)jb_now_ms() * 2654435761u ^ (uint64_t)getpid();
    snprintf(out, outlen, "r%012llx.", (unsigned long long)(r & 0xffffffffffffULL));
}

bool jb_launch_lane_topic_prefix(const jb_config *cfg, const char *run_prefix, size_t lane,
                                 char *out, size_t outlen, char *err, size_t errlen)
{
    if (lane == 0 || cfg->broker.embedded) {
        snprintf(out, outlen, "%s", run_prefix); /* embedded: each job's broker is its own */
        return true;
    }
    if (!cfg->broker.topic_prefix[0]) {
        jb_launch_new_topic_prefix(cfg, out, outlen);
        return true;
    }
    int n = snprintf(out, outlen, "%sp%zu.", cfg->broker.topic_prefix, lane);
    if (n > 0 && (size_t)n < outlen && jb_launch_valid_topic_prefix(out))
        return true;
    snprintf(err, errlen,
             "broker.topic_prefix '%s' leaves no room for the lane suffix 'p%zu.' that "
             "runner.parallel adds (a topic prefix has at most 31 characters): shorten it",
             cfg->broker.topic_prefix, lane);
    return false;
}

bool jb_launch_valid_topic_prefix(const char *prefix)
{
    size_t n = strspn(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
    return !prefix[n] && n < 32;
}

/* Members of a killed iteration keep a group busy until their session
 * times out (librdkafka's default session.timeout.ms is 45 s). */
#define PREPARE_GROUPS_TIMEOUT_MS 60000

bool jb_launch_prepare_bus(const jb_config *cfg, const char *brokers, const char *prefix,
                           long long *skipped, char *err, size_t errlen)
{
    char props[4000];
    jb_config_props_spec(&cfg->broker, props, sizeof props);
    jb_launch_groups groups;
    jb_launch_consumer_groups(cfg, prefix, &groups);
    return jb_kafka_ensure_topics(brokers, props, prefix, err, errlen) &&
           jb_kafka_groups_to_end(brokers, props, groups.list, groups.n, PREPARE_GROUPS_TIMEOUT_MS,
                                  skipped, err, errlen);
}

bool jb_launch_plan_add_env(jb_launch_plan *plan, const char *name, const char *value)
{
    size_t e = 0;
    while (plan->env[e])
        e++;
    char *slot = !plan->env_store[3][0] ? plan->env_store[3] : plan->env_store[4];
    if (slot[0] || e + 1 >= sizeof plan->env / sizeof plan->env[0] ||
        (size_t)snprintf(slot, sizeof plan->env_store[3], "%s=%s", name, value) >=
            sizeof plan->env_store[3])
        return false;
    plan->env[e] = slot;
    plan->env[e + 1] = NULL;
    return true;
}
