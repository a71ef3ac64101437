/* platform.h - the platforms under test behind one small interface.
 *
 * A platform driver runs Jung service instances on one kind of platform:
 * "process" (native processes), "docker" (containers through the Docker
 * Engine API) or "libvirt" (KVM/QEMU guests: Linux microVMs or OSv). Every
 * driver offers the same life cycle:
 *
 *   jb_platform_open      connect to the engine, check the configuration
 *   jb_platform_prepare   check (never build) the images the services need
 *   jb_platform_start     start one instance; returns at once (boot_ms known)
 *   jb_instances_wait_ready  wait for the readiness lines of a set of
 *                         instances, each timed on its own (ready_ms)
 *   jb_instance_info      PIDs, name, times, the readiness line's key=values
 *   jb_instance_stop      SIGTERM (or the engine's stop), then SIGKILL after
 *                         the grace period; removes container/domain/port
 *   jb_platform_close     stops every instance still running: after it,
 *                         nothing of ours is left (process, container,
 *                         domain, forwarded port)
 *
 * A service is ready when its output holds the line libjung prints:
 *   "jung <service> ready instance=<id> [key=value ...]"
 * e.g. the gateway adds "http=http://127.0.0.1:8080". Times are measured
 * from the start call: boot_ms until the platform reports the instance
 * running (process spawned, container started, domain running), ready_ms
 * until that line was seen.
 *
 * Threading: a jb_platform and its instances belong to one thread at a
 * time. Waiting returns early (false, "interrupted") once
 * jb_stop_requested() (cli/cli.h) is true, so Ctrl-C handlers only set
 * the flag and the caller then calls jb_platform_close.
 */
#ifndef JB_PLATFORMS_PLATFORM_H
#define JB_PLATFORMS_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"

/* The Jung services, in start order (registries before their clients,
 * the gateway last): config/config.c's list, the only one. Executables are
 * named jung-<service>. */
#define JB_SERVICE_COUNT 8
#define jb_jung_services jb_config_known_services

typedef struct jb_platform jb_platform;
typedef struct jb_instance jb_instance;

/* Strings are copied by jb_platform_open; NULL or "" means the default
 * (so config/config.h's fixed-size strings can be passed as they are). */
typedef struct jb_platform_config {
    const char *driver; /* "process", "docker" or "libvirt" */
    const char *run_id; /* names instances jungbench-<run>-<service>-<n>; default "dev" */
    /* Folder of the jung-<service> executables (process driver), default
     * "<folder of /proc/self/exe>/jung" i.e. the build tree's jung/. */
    const char *bin_dir;
    /* "static" (<bin_dir>/static/jung-<service>) or "dynamic"
     * (<bin_dir>/jung-<service>): which executables the process driver
     * runs; default jb_config_default_build(). Docker and libvirt run
     * their images and record it. */
    const char *build;
    /* Folder for logs, serial consoles and pid files; default
     * "/tmp/jungbench-<run>". Created if missing. */
    const char *work_dir;
    const char *brokers; /* bootstrap servers the services get; default 127.0.0.1:9092 */
    /* The IPv4 address the gateway is reached on from the controller's
     * machine, default JB_DEFAULT_ADVERTISE (loopback: controller and runner
     * on one host). The process and host-network Docker gateways listen on
     * it, bridged containers publish on it and guests' forwards bind it, so
     * READY names an endpoint another host can reach (docs/multi-host.md). */
    const char *advertise;
    double cpus;          /* per instance (docker, libvirt vCPUs); 0: no limit / 1 vCPU */
    long memory_mb;       /* per instance; 0: no limit (docker), 256 (libvirt) */
    double stop_grace_ms; /* SIGTERM to SIGKILL; default 5000 */
    /* docker */
    const char *docker_socket; /* default /var/run/docker.sock */
    const char *network;       /* "host" (default) or "bridge" (ports published on 127.0.0.1) */
    /* Bridge networking is refused for Jung's services: in a bridged
     * container 127.0.0.1 is the container itself, and the broker listens
     * on the host's loopback only. Only a service that needs no broker (the
     * tests' fake one) may run bridged: set this to say so. */
    bool bridge_without_broker;
    const char *image_tag; /* jung/<service>:<tag>; default JB_VERSION */
    /* libvirt */
    const char *libvirt_uri; /* default qemu:///system */
    const char *accel;       /* "auto" (default), "kvm" or "emulated" */
    const char *image_kind;  /* "microvm" (default) or "osv" */
    const char *image_dir;   /* microVM images; default /var/lib/jungbench/images */
    /* osv: paths and command line; "{service}" in any of them is replaced by
     * the service name, "{args}" in the command line by the service options. */
    const char *osv_kernel;  /* e.g. .../loader-stripped.elf */
    const char *osv_disk;    /* default <image_dir>/osv/{service}.img */
    const char *osv_cmdline; /* default "--rootfs=rofs /jung-{service} {args}" */
} jb_platform_config;

/* One instance to start. */
typedef struct jb_instance_spec {
    const char *service;     /* one of jb_jung_services (or any name for tests) */
    int index;               /* n >= 1; instance id "<service>-<n>" */
    const char *const *args; /* extra options, NULL-terminated; may be NULL */
    const char *const *env;  /* extra "KEY=VALUE", NULL-terminated; may be NULL */
    /* Process driver only: run this file instead of <bin_dir>/jung-<service>. */
    const char *executable;
    /* TCP ports the instance listens on that the host must reach (the
     * gateway's HTTP port): published on 127.0.0.1 (docker bridge) or
     * forwarded from 127.0.0.1 (libvirt); nothing to do for process and
     * docker host networking. 0-terminated, at most 8. A guest's service
     * gets "--bind 0.0.0.0" after its own options when it has ports, so it
     * listens on the guest's interface, where the forwards arrive. */
    int ports[8];
    /* libvirt: forward each port from a free host port chosen at start
     * (info.host_ports) instead of the same number, so guests of several
     * runs can share a machine; readiness values naming the guest's
     * http://ADDR:PORT are rewritten to http://127.0.0.1:HOSTPORT. */
    bool free_host_ports;
} jb_instance_spec;

#define JB_MAX_PIDS 16
#define JB_MAX_READY_KV 8

typedef struct jb_instance_info {
    char service[64];
    char instance[96]; /* "<service>-<n>": the --instance the service got */
    char name[160];    /* container/domain name jungbench-<run>-<service>-<n>; pid for processes */
    char platform[16]; /* driver name */
    char accel[16];    /* "native", "container", "kvm" or "emulated" */
    pid_t pids[JB_MAX_PIDS]; /* process: the service; docker: container processes; libvirt: QEMU */
    size_t npids;
    char cgroup[512];     /* docker: the container's cgroup path as in /proc/PID/cgroup, else "" */
    double start_wall_ms; /* wall clock of the start call, ms since the epoch */
    double boot_ms;       /* start call to running; < 0 until known */
    double ready_ms;      /* start call to the readiness line; < 0 until seen */
    double process_ready_ms; /* start call to the "started" line (process up, connected to
                                its broker, not yet in its group); < 0 until seen */
    bool ready;
    char log_path[4096]; /* the instance's stdout/console log on the host (docker: a copy of
                            the container's log stream) */
    /* key=value pairs of the readiness line after "ready", e.g.
     * {"instance","user_registry-1"}, {"http","http://127.0.0.1:8080"}. */
    char ready_keys[JB_MAX_READY_KV][32];
    char ready_values[JB_MAX_READY_KV][256];
    size_t nready;
    /* Where the host reaches spec.ports[i]: 127.0.0.1:host_ports[i] (the
     * same number except for libvirt's free_host_ports); 0-terminated. */
    int host_ports[8];
} jb_instance_info;

/* Emulated guests (accel "emulated") run several times slower: their
 * readiness wait (jb_instances_wait_ready) and the calls between their
 * services (JUNG_TIMEOUT_MS, default JB_JUNG_CALL_TIMEOUT_MS) get this
 * factor. */
#define JB_EMULATION_TIMEOUT_SCALE 6
#define JB_JUNG_CALL_TIMEOUT_MS 5000
/* True for the API gateway, the one service the load reaches over HTTP:
 * the drivers make it listen where the platform advertises. */
bool jb_spec_is_gateway(const jb_instance_spec *spec);
/* JB_EMULATION_TIMEOUT_SCALE for an emulated platform, else 1. */
int jb_platform_timeout_scale(const jb_platform *platform);
/* The file the process driver runs for service: <bin_dir>/static/jung-<svc>
 * for build "static", <bin_dir>/jung-<svc> for "dynamic" ('_' as '-' unless
 * the underscore spelling exists). */
void jb_service_executable(const char *bin_dir, const char *build, const char *service, char *out,
                           size_t outlen);
/* bin_dir's default: the jung/ folder of the build tree this executable
 * belongs to. */
bool jb_default_bin_dir(char *out, size_t outlen);
/* An image made from another build of a service than the one this tree
 * runs natively would compare two programs, not two platforms. held_sha is
 * the SHA-256 (hex) of the executable the image holds, as recorded when it
 * was made ("" when unknown); it must be that of the file the process
 * driver would run for the same build. Checked only where that file exists
 * (a machine with images but no build tree). False with the rebuild
 * command in err. */
bool jb_image_matches_build(const jb_platform_config *cfg, const char *service, const char *build,
                            const char *image, const char *held_sha, const char *rebuild, char *err,
                            size_t errlen);

/* Fills cfg with the defaults (driver "process"). */
void jb_platform_config_init(jb_platform_config *cfg);

/* Opens a driver: connects to the engine, checks settings. NULL with a
 * reason (naming the setting or daemon and how to fix it) in err. */
jb_platform *jb_platform_open(const jb_platform_config *cfg, char *err, size_t errlen);
/* Stops every instance still running (as jb_instance_stop) and frees. */
void jb_platform_close(jb_platform *platform);
const char *jb_platform_name(const jb_platform *platform);
/* "static" or "dynamic": the build of the executables its instances run
 * (prepare checked that the images hold it). */
const char *jb_platform_build(const jb_platform *platform);
/* "native", "container", "kvm" or "emulated": how instances run. */
const char *jb_platform_accel(const jb_platform *platform);

/* Checks that every service's image exists; a missing one is named in err
 * with the command that builds it. */
bool jb_platform_prepare(jb_platform *platform, const char *const *services, size_t nservices,
                         char *err, size_t errlen);

/* Starts one instance without waiting for readiness. On failure returns
 * NULL and leaves nothing behind. The platform owns the instance. */
jb_instance *jb_platform_start(jb_platform *platform, const jb_instance_spec *spec, char *err,
                               size_t errlen);

/* Starts n instances as jb_platform_start does each, and concurrently where
 * the driver can (Docker: a container's create and start is a round trip
 * through dockerd and runc of 100-200 ms, so one after another they kept
 * the tenth replica from starting for 2 s). Every instance's clock starts
 * at its own start call. out[i] is specs[i]'s instance; on failure the ones
 * started stay in out (NULL elsewhere) for the caller to stop, and err
 * names the first that failed. */
bool jb_platform_start_many(jb_platform *platform, const jb_instance_spec *const *specs, size_t n,
                            jb_instance **out, char *err, size_t errlen);

/* Waits until every instance printed its readiness line, timing each on
 * its own. False when timeout_ms passed, an instance exited (err names it
 * and quotes its last output) or a stop was requested. */
bool jb_instances_wait_ready(jb_instance *const *instances, size_t n, double timeout_ms, char *err,
                             size_t errlen);
bool jb_instance_wait_ready(jb_instance *instance, double timeout_ms, char *err, size_t errlen);

/* Reads new output and process state: false once the instance has exited
 * (or its container/domain stopped). */
bool jb_instance_alive(jb_instance *instance);

const jb_instance_info *jb_instance_get_info(const jb_instance *instance);
/* Why an instance that is no longer alive ended ("exited with status 1",
 * a guest's fatal console line), or "" while it runs. */
const char *jb_instance_exit_reason(const jb_instance *instance);
/* A readiness value by key ("http"), or NULL. */
const char *jb_instance_ready_value(const jb_instance *instance, const char *key);

/* Stops and removes the instance and frees it, always. False when the
 * stop was not clean (err says why: SIGKILL was needed after the grace
 * period, or a container/domain could not be removed). */
bool jb_instance_stop(jb_instance *instance, char *err, size_t errlen);

/* Stops a set of instances together: SIGTERM (or the engine's equivalent)
 * to all of them first, then waits for each and removes it, so the grace
 * periods overlap. Frees them all; false (first problem in err) when a stop
 * was not clean. jb_platform_close does this for all instances left. */
bool jb_instances_stop(jb_instance *const *instances, size_t n, char *err, size_t errlen);

/* How one instance stopped. One SIGTERM (or the engine's stop signal),
 * then up to stop_grace_ms for it to exit, then SIGKILL: stop_ms runs from
 * the signal to the exit seen (or to the kill). */
typedef struct jb_stop_record {
    char service[64];
    char instance[96];
    bool signalled; /* it was running when the stop began */
    double stop_ms; /* signal to exit; < 0 when not measured */
    bool killed;    /* still running after stop_grace_ms: SIGKILL */
    int exit_code;  /* exit status, or -N when ended by signal N; -1000 unknown */
    char exit[64];  /* "exited with status 0", "killed by signal 9 (Killed)", "" */
} jb_stop_record;

/* jb_instances_stop that also says how each stopped: records[i] for
 * instances[i] (records may be NULL). */
bool jb_instances_stop_recorded(jb_instance *const *instances, size_t n, jb_stop_record *records,
                                char *err, size_t errlen);

/* Runtime daemons of the platform for the metrics layer: a mask of
 * metrics.h's JB_DAEMONS_* (docker 1, libvirt 2); 0 for processes. */
unsigned jb_platform_runtime_daemons(const jb_platform *platform);

/* ---- image sizes (figure 25) -------------------------------------------- */

/* ---- Image sizes (figure 25) ----------------------------------------- */

/* A layer is anything stored once on disk and possibly used by several
 * images: a Docker layer (id = its digest, from the Engine API) or a VM image
 * file (id = its path; a qcow2 backing file listed by two services is shared). */
typedef struct jb_image_layer {
    const char *id;
    uint64_t bytes;
} jb_image_layer;

typedef struct jb_image {
    const char *service;
    const char *kind; /* "docker", "vm", ...: stored as image_sizes.kind */
    const jb_image_layer *layers;
    size_t nlayers;
} jb_image;

typedef struct jb_image_size {
    uint64_t bytes;        /* the whole image: every layer it uses, once */
    uint64_t shared_bytes; /* its layers that another image in the set also uses */
    uint64_t own_bytes;    /* its layers no other image uses */
} jb_image_size;

/* Per-image sizes (out[i] for images[i]) and cumulative[i] = disk used by
 * images 0..i together, every distinct layer counted once: Docker services
 * share their base, VM images stack. Either output may be NULL. False with a
 * reason when one layer id has two different sizes. */
bool jb_image_sizes(const jb_image *images, size_t nimages, jb_image_size *out,
                    uint64_t *cumulative, char *err, size_t errlen);
/* Layers for VM image files: id = path, bytes = the file's size (st_size, as
 * ls -l shows it). */
bool jb_image_layers_from_files(const char *const *paths, size_t npaths, jb_image_layer *out,
                                char *err, size_t errlen);
/* Writes one image_sizes row per image and a row service "_cumulative",
 * kind "cumulative" holding the disk all of them use together. */
struct jb_store;
bool jb_image_sizes_store(struct jb_store *store, const char *run_id, const char *platform,
                          const jb_image *images, size_t nimages, char *err, size_t errlen);

/* Writes the image_sizes rows of the services' images on this platform
 * (jb_image_sizes_store: per service its bytes and the part it
 * shares, and the "_cumulative" total with shared parts once): Docker
 * layers; microVM kernel + initramfs; OSv kernel + disk; a process's
 * executable. platform_label is the results' platform name. */
bool jb_platform_store_image_sizes(jb_platform *platform, struct jb_store *store,
                                   const char *run_id, const char *platform_label,
                                   const char *const *services, size_t nservices, char *err,
                                   size_t errlen);

/* A comma-separated service list ("all" or NULL: the eight Jung services)
 * into names (pointing into store); false with a message on a bad name. */
bool jb_parse_services(const char *list, char *store, size_t storelen, const char **names,
                       size_t *n, size_t max, char *err, size_t errlen);

/* ---- leftovers of killed runs ---------------------------------------- */

/* Containers (label jungbench.run) and libvirt domains (name jungbench-*)
 * that a harness killed with SIGKILL left behind; run_prefix limits the
 * search to runs whose id starts with it (NULL: every run, so only when no
 * run is in progress). remove force-removes them. An engine that is not
 * running counts 0; docker_socket or libvirt_uri NULL skips that engine. */
typedef struct jb_leftovers {
    size_t containers, domains;
    char names[1024]; /* the first ones, space-separated */
} jb_leftovers;
void jb_find_leftovers(const char *docker_socket, const char *libvirt_uri, const char *run_prefix,
                       bool remove, jb_leftovers *out);

/* Who started a container or domain: "<boot id> <pid> <start time>" of this
 * process (boot id from /proc/sys/kernel/random/boot_id, start time in
 * clock ticks from /proc/self/stat, so a reused pid is told apart). Docker
 * containers carry it as label jungbench.owner, domains in their
 * <description>. */
bool jb_owner_token(char *out, size_t outlen);
/* True while the process a token names still runs on this boot. A token
 * that does not parse counts as alive (never remove what we cannot judge). */
bool jb_owner_alive(const char *token);
/* Removes the containers (docker_socket) or domains (libvirt_uri; either
 * may be NULL) whose owner is gone, and says so on stderr, naming them: the
 * drivers call it when they open, so a harness killed with SIGKILL leaves
 * nothing behind past the next run. Returns how many were removed. */
size_t jb_remove_stale(const char *docker_socket, const char *libvirt_uri);

/* ---- readiness line parsing (exposed for tests) ---------------------- */

/* True when line (no newline) is "jung <service> ready ..." for service
 * (any service when service is NULL); fills the key=value pairs of info. */
bool jb_parse_ready_line(const char *line, const char *service, jb_instance_info *info);

/* ---- Commands ---------------------------------------------------------- */

int images_main(int argc, char **argv); /* jungbench images */
int doctor_main(int argc, char **argv); /* jungbench doctor */

#endif
