/* runner.h - bringing Jung up on a platform.
 *
 * `jungbench up CONFIG` starts the broker (when the config says
 * `broker: embedded`) and every Jung service as a native process, waits for
 * each readiness line, prints one `service NAME pid=PID ready_ms=MS
 * log=PATH` line per instance and then `gateway=http://127.0.0.1:PORT`, and stays in the
 * foreground until SIGINT/SIGTERM, when it stops every service (SIGTERM,
 * then SIGKILL after a grace period) and the broker. A service that dies on
 * its own takes the whole platform down with exit status 1.
 */
#ifndef JB_RUNNER_H
#define JB_RUNNER_H

int up_main(int argc, char **argv);

/* ---- `jungbench runner` (runner/runner_cmd.c, docs/protocol.md) ---------------
 * Serves RUN/STOP from the `runner` topic until a stop signal or
 * should_stop: boots Jung on the requested platform, samples it, answers
 * READY, HEARTBEAT, RESULTS and ERROR on `controller`. */
#include "config/config.h"

typedef struct jb_runner_options {
    const char *brokers;         /* bootstrap servers, for the bus and the services */
    const jb_config_prop *props; /* extra librdkafka properties for the bus */
    size_t nprops;
    const char *id;      /* RUN/STOP addressed to this name are ours ("local") */
    const char *bin_dir; /* process platform's executables; NULL: default */
    /* The IPv4 address of this machine the controller reaches Jung on
     * (--advertise); NULL: loopback (platforms/platform.h, advertise). */
    const char *advertise;
    const char *results_dir; /* NULL: write where the RUN says */
    double heartbeat_ms;     /* while busy */
    bool quiet;              /* no log lines on stderr */
    /* Besides SIGINT/SIGTERM: polled every 100 ms (jungbench run's own runner thread). */
    bool (*should_stop)(void *ctx);
    /* Keep serving after SIGINT/SIGTERM until should_stop: an in-process
     * runner must still answer its controller's STOP with RESULTS (the job
     * itself tears down at once either way). */
    bool ignore_stop_signal;
    void *stop_ctx;
    /* Called once the runner reads its topic. */
    void (*on_listening)(void *ctx);
    void *listening_ctx;
    /* Where the services' per-iteration embedded brokers come from
     * (broker/spare.h); NULL: the runner keeps its own. */
    struct jb_broker_spare *spare;
} jb_runner_options;

/* Exit code: 0 after a stop, 1 when the broker cannot be reached. */
int jb_runner_serve(const jb_runner_options *opts);
int runner_main(int argc, char **argv);

/* This machine as a JSON object (malloc'd string): host name, kernel, CPU
 * model, cores, memory, versions of docker, qemu, libvirt, librdkafka,
 * sqlite, libcurl, and whether /dev/kvm is usable. broker_desc is stored
 * as is. The controller writes its own to environment.json; a runner sends
 * its own in RESULTS (runner_hosts). */
char *jb_host_environment(const char *broker_desc);

#endif
