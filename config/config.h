/* config.h - one experiment, as a YAML file describes it (docs/config.md).
 *
 * jb_config_load parses the file with libyaml and validates all of it before
 * anything starts: an unknown key, a wrong type, an out-of-range number, a
 * missing required key or (with JB_CONFIG_CHECK_FILES) a missing image file
 * is an error "FILE:LINE:COLUMN: what is wrong; what would be valid", and
 * one load reports every such error of the file, one a line. Every
 * optional setting has a default; the defaults are the dissertation's
 * experiment (30 users x 30 devices x 1 rule, 500 requests per user in table
 * 2's mix, 30 iterations).
 *
 * The struct holds fixed-size strings, so a loaded config needs no freeing
 * and can be copied with =. It is ~100 KB: allocate it, don't put it on a
 * small thread stack.
 */
#ifndef JB_CONFIG_H
#define JB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JB_CFG_MAX_PLATFORMS 8
#define JB_CFG_MAX_SERVICES 16
#define JB_CFG_MAX_PROPS 32
#define JB_CFG_MAX_MIX 4
#define JB_CFG_NAME 64
#define JB_CFG_PATH 1024

/* A librdkafka property, passed through unchecked (librdkafka checks it). */
typedef struct jb_config_prop {
    char key[128];
    char value[512];
} jb_config_prop;

typedef struct jb_config_broker {
    bool embedded;       /* `broker: embedded`: librdkafka's mock cluster in-process */
    char bootstrap[512]; /* external cluster, "host:port[,host:port]" */
    jb_config_prop properties[JB_CFG_MAX_PROPS];
    size_t nproperties;
    /* Put before the run's Jung topics and groups on this cluster; "" = a
     * random one per run (platforms/launch.h). [A-Za-z0-9._-], < 32. */
    char topic_prefix[32];
} jb_config_broker;

/* Platform defaults, here once: the config's (jb_config_platform) and the
 * drivers' (platforms/platform.h's jb_platform_config_init) both use them.
 * The default build is jb_config_default_build(). */
#define JB_DEFAULT_STOP_GRACE_MS 5000
#define JB_DEFAULT_READY_TIMEOUT_MS 60000
#define JB_DEFAULT_NETWORK "host"
#define JB_DEFAULT_ADVERTISE "127.0.0.1"
#define JB_DEFAULT_DOCKER_SOCKET "/var/run/docker.sock"
#define JB_DEFAULT_IMAGE "microvm"
#define JB_DEFAULT_ACCEL "auto"
#define JB_DEFAULT_LIBVIRT_URI "qemu:///system"
#define JB_DEFAULT_IMAGE_DIR "/var/lib/jungbench/images"
#define JB_DEFAULT_OSV_CMDLINE "--rootfs=rofs /jung-{service} {args}"

/* One platform under test. Which settings apply depends on the driver; a
 * setting of another driver is an error rather than silently ignored. */
typedef struct jb_config_platform {
    char name[JB_CFG_NAME];    /* label in results ("osv", "docker"); unique */
    char driver[16];           /* process | docker | libvirt */
    double vcpus;              /* per instance; docker: CPU limit (0 none), libvirt: vCPUs */
    long memory_mb;            /* per instance; 0: driver default */
    double stop_grace_ms;      /* SIGTERM to SIGKILL */
    long ready_timeout_ms;     /* boot until every service is ready */
    char bin_dir[JB_CFG_PATH]; /* process: folder of jung-<service>; "" = build tree */
    /* Which executables run: "static" (<bin_dir>/static/jung-<svc>, what
     * images carry) or "dynamic" (<bin_dir>/jung-<svc>); every driver. */
    char build[8];
    /* The runner (jungbench runner --id NAME) that boots this platform, on
     * its own machine; "" = runner.id, the in-process one for `run`. */
    char runner[JB_CFG_NAME];
    /* docker */
    char network[16];   /* host | bridge */
    char image_tag[64]; /* jung/<service>:<tag>; "" = jungbench's version */
    char docker_socket[JB_CFG_PATH];
    /* libvirt */
    char image[16]; /* microvm | osv */
    char accel[16]; /* auto | kvm | emulated */
    char libvirt_uri[256];
    char image_dir[JB_CFG_PATH];  /* microvm images */
    char osv_kernel[JB_CFG_PATH]; /* osv: "{service}" is replaced by the service name */
    char osv_disk[JB_CFG_PATH];
    char osv_cmdline[JB_CFG_PATH]; /* "{args}" is replaced by the service's options */
    int line;                      /* where it is in the file, for later messages */
} jb_config_platform;

typedef struct jb_config_service {
    char name[JB_CFG_NAME];
    long replicas;
} jb_config_service;

typedef struct jb_config_mix_entry {
    char label[32]; /* get_user | get_device | get_readings | post_command */
    long count;     /* per user */
} jb_config_mix_entry;

typedef struct jb_config_workload {
    long users, devices_per_user, rules_per_device, requests_per_user;
    jb_config_mix_entry mix[JB_CFG_MAX_MIX]; /* in the file's order */
    size_t nmix;
    char model[16];           /* closed | open */
    double rate;              /* open model: requests per second, all users; > 0 */
    long reading_interval_ms; /* device gateway's reading period; 0 = service default */
    uint64_t seed;
    long timeout_ms; /* per request */
    bool shuffle;    /* seeded shuffle of each user's requests */
} jb_config_workload;

typedef struct jb_config_metrics {
    long interval_ms;
    bool runtime_daemons; /* also sample dockerd/containerd/libvirtd/virtlogd */
} jb_config_metrics;

/* Settings the Jung services get on every platform. */
typedef struct jb_config_jung {
    long gateway_port;     /* api_gateway's HTTP port; 0 = a free port */
    long rule_interval_ms; /* rule engine's sweep period; 0 = service default */
    long call_timeout_ms;  /* service-to-service request/reply; 0 = default */
} jb_config_jung;

/* How the controller addresses and waits for its runner. */
typedef struct jb_config_runner {
    char id[JB_CFG_NAME];    /* RUN goes to the runner started with --id ID */
    long ready_timeout_ms;   /* RUN until READY */
    long silence_timeout_ms; /* longest gap between a busy runner's messages */
    bool parallel;           /* platforms on different runners run at the same time */
} jb_config_runner;

/* A pass/fail limit on a result, k6-style ("p95_ms: < 50"), checked at the
 * end of `run`, by `report --check` and by `compare` (docs/config.md). */
#define JB_CFG_MAX_THRESHOLDS 64
typedef struct jb_config_threshold {
    char platform[JB_CFG_NAME]; /* "" = each platform */
    char label[32];             /* "" = all requests; else a mix label */
    char metric[32];            /* one of jb_config_threshold_metrics */
    char op[3];                 /* < <= > >= */
    double value;               /* in the metric's unit (error_rate: percent) */
} jb_config_threshold;

/* The metrics a threshold may name, NULL-terminated; the first
 * jb_config_nrequest_metrics are request metrics (allowed per label), the
 * rest are a platform's means over iterations. */
extern const char *const jb_config_threshold_metrics[];
extern const size_t jb_config_nrequest_metrics;

typedef struct jb_config {
    char path[JB_CFG_PATH]; /* the file it came from */
    char name[JB_CFG_NAME]; /* required; [A-Za-z0-9._-] */
    char description[512];
    long iterations;
    bool stop_on_failure; /* on_failure: stop | continue (default) */
    jb_config_broker broker;
    jb_config_platform platforms[JB_CFG_MAX_PLATFORMS];
    size_t nplatforms;
    jb_config_service services[JB_CFG_MAX_SERVICES];
    size_t nservices;
    jb_config_workload workload;
    jb_config_metrics metrics;
    jb_config_jung jung;
    jb_config_runner runner;
    char output[JB_CFG_PATH]; /* results folder; runs go to <output>/<run-id>/ */
    jb_config_threshold thresholds[JB_CFG_MAX_THRESHOLDS];
    size_t nthresholds;
} jb_config;

enum {
    /* Check that image files named in the config exist (osv kernel and
     * disks, microVM image folder). Off for configs read on a machine that
     * will not run them (the controller's, tests of shipped files). */
    JB_CONFIG_CHECK_FILES = 1u << 0,
};

/* What this build tree makes for every platform, the `build` default:
 * "static" when it built all eight static musl services (jung/static/, what
 * Docker images and microVMs carry), else "dynamic" (sanitizer builds). */
const char *jb_config_default_build(void);
/* The id of the runner that boots pl: pl->runner, else cfg->runner.id. */
const char *jb_config_platform_runner(const jb_config *cfg, const jb_config_platform *pl);

/* A platform's defaults (everything but name and driver). */
void jb_config_platform_defaults(jb_config_platform *pl);

/* The dissertation's defaults, one process platform, every Jung service. */
void jb_config_defaults(jb_config *cfg);

/* Deepest nesting of mappings and sequences a config may have (a real one
 * has 4); deeper files are refused before libyaml's quadratic load. */
#define JB_CONFIG_MAX_DEPTH 32

/* Most errors one load reports, one a line; beyond, a line says how many
 * more there are. */
#define JB_CONFIG_MAX_ERRORS 20

/* Parses and validates path into cfg. False with "path:line:col: ..." in
 * err, one line per error (up to JB_CONFIG_MAX_ERRORS). */
bool jb_config_load(const char *path, unsigned flags, jb_config *cfg, char *err, size_t errlen);
/* The same from a string; name is used in messages in place of a path. */
bool jb_config_parse(const char *name, const char *text, size_t len, unsigned flags, jb_config *cfg,
                     char *err, size_t errlen);

/* The config as run, as JSON (every setting, defaults included): a
 * malloc'd string, NULL on allocation failure. */
char *jb_config_to_json(const jb_config *cfg);
/* Writes jb_config_to_json to out; false on error. */
bool jb_config_dump(const jb_config *cfg, FILE *out);

/* Lookups. */
const jb_config_platform *jb_config_platform_named(const jb_config *cfg, const char *name);
/* "k=v,k=v" of the broker properties (the services' JUNG_KAFKA_PROPS). */
void jb_config_props_spec(const jb_config_broker *b, char *out, size_t outlen);

/* The service names a config may list, in start order, NULL-terminated (as
 * platforms/platform.h's jb_jung_services; a test checks they agree). */
extern const char *const jb_config_known_services[];
extern const size_t jb_config_nknown_services;

#endif
