/* launch.h - the launch plan: from an experiment's config to what a
 * platform driver starts, in one place.
 *
 * `jungbench up` (runner/up_cmd.c), the runner's iterations of `jungbench run`
 * (runner/job.c) and `jungbench provision` (provision/provision_cmd.c) all
 * boot Jung from the same config; they call these functions, so the
 * executable or image, the service options, the environment, the ports
 * and the Kafka properties cannot drift between them. Every start also
 * leaves its plan as one JSON line in <work_dir>/plan.jsonl (platform.c),
 * so what ran can be read back and compared.
 */
#ifndef JB_PLATFORMS_LAUNCH_H
#define JB_PLATFORMS_LAUNCH_H

#include "config/config.h"
#include "broker/kafka_admin.h"
#include "platforms/platform.h"

#include <stdbool.h>
#include <stddef.h>

/* fetch.wait.max.ms Jung's services get on a real Kafka cluster: Kafka
 * answers a waiting Fetch as soon as data arrives, so a long wait costs
 * no latency and saves empty fetches (docs/kafka-tuning.md). The embedded
 * broker keeps libjung's mock default: the mock answers only when the
 * wait expires. */
#define JB_LAUNCH_KAFKA_FETCH_WAIT_MS 100

/* What one service instance is started with. spec points into the fields
 * below: keep the plan alive (and unmoved) while spec is used. */
typedef struct jb_launch_plan {
    jb_instance_spec spec;
    char executable[4096]; /* process driver: the file it runs */
    const char *args[8];
    char arg_store[2][32];
    const char *env[7];
    char env_store[5][4200];
} jb_launch_plan;

/* Adds NAME=VALUE to the plan's environment (two extra slots: the runner's
 * topic prefix and per-iteration gateway id). False when both are taken or
 * it is too long. */
bool jb_launch_plan_add_env(jb_launch_plan *plan, const char *name, const char *value);

/* The services' JUNG_KAFKA_PROPS ("k=v,k=v"): on the embedded broker the
 * config's properties after the mock's padding (broker/broker.h), on Kafka
 * fetch.wait.max.ms=JB_LAUNCH_KAFKA_FETCH_WAIT_MS and then the config's
 * (which come last, so they win). */
void jb_launch_kafka_props(const jb_config *cfg, char *out, size_t outlen);

/* The driver settings of a config platform: driver, limits, grace period,
 * bin_dir and build, engine sockets, images. The caller sets run_id,
 * work_dir and brokers, which depend on the command. Strings point into pl. */
void jb_launch_platform_config(const jb_config_platform *pl, jb_platform_config *pc);

/* The plan of instance `index` (>= 1) of service on platform pl: options
 * (the gateway's --port: the config's, 8080 for guests and bridged
 * containers when it is 0, 0 for every replica after the first; the
 * reading and rule intervals), JUNG_KAFKA_PROPS and JUNG_TIMEOUT_MS, the
 * gateway's port to publish, and for the process driver the executable of
 * pl's build in pl's bin_dir (default: the build tree's jung/). */
void jb_launch_plan_make(const jb_config *cfg, const jb_config_platform *pl, const char *service,
                         int index, jb_launch_plan *plan);

/* The consumer groups the config's services read their tasks in: group
 * <service> on <service>_tasks, the device gateway's group its gateway id
 * (gw-1, the default of jung/device_gateway.c and device_registry.c). */
#define JB_LAUNCH_DEVICE_GATEWAY_GROUP "gw-1"
typedef struct jb_launch_groups {
    jb_kafka_group_topic list[JB_CFG_MAX_SERVICES];
    char topics[JB_CFG_MAX_SERVICES][JB_CFG_NAME + 64];
    char groups[JB_CFG_MAX_SERVICES][JB_CFG_NAME + 64];
    size_t n;
} jb_launch_groups;
void jb_launch_consumer_groups(const jb_config *cfg, const char *prefix, jb_launch_groups *out);

/* Concurrent runs on one Kafka cluster must not serve each other's
 * requests: on an external broker the controller gives its run a prefix,
 * "r<12 random hex digits>.", that its RUNs carry (topic_prefix) and the
 * runner passes to Jung as JUNG_TOPIC_PREFIX, before every topic and group
 * (r3fa9c2d1e07b.user_registry_tasks). Random, not derived from the run
 * id: two runs of one config started in the same second share their id.
 * The embedded broker is the run's own, so there it is "". `up` has no run
 * and uses none. */
void jb_launch_new_topic_prefix(const jb_config *cfg, char *out, size_t outlen);
/* (broker.topic_prefix, when set, is used as it is: the user's own names.) */
/* With runner.parallel, the platforms of different runners run at the same
 * time on one cluster, so each lane (the platforms of one runner) needs
 * topics and groups of its own, as concurrent runs do: lane 0 keeps the
 * run's prefix, and every other lane gets a random one, or with
 * broker.topic_prefix that prefix plus "p<lane>." (lab1.p2.). False when
 * that does not fit a topic prefix, with the reason. */
bool jb_launch_lane_topic_prefix(const jb_config *cfg, const char *run_prefix, size_t lane,
                                 char *out, size_t outlen, char *err, size_t errlen);
/* A RUN's topic_prefix as the runner accepts it: "" or [A-Za-z0-9._-]{1,31}. */
bool jb_launch_valid_topic_prefix(const char *prefix);

/* Before Jung starts on a real cluster (not the embedded broker): Jung's
 * topics exist, and every group of the config's services starts at the end
 * of its topic (broker/kafka_admin.h), so an iteration consumes nothing an
 * earlier one left. brokers: what the services get. *skipped: messages
 * left behind. False with the reason. */
bool jb_launch_prepare_bus(const jb_config *cfg, const char *brokers, const char *prefix,
                           long long *skipped, char *err, size_t errlen);

/* The config's process platform for `jungbench up`: the first one with
 * driver process, else the defaults of one. */
void jb_launch_process_platform(const jb_config *cfg, jb_config_platform *out);

#endif
