/* internal.h - what the drivers share; not part of the public interface. */
#ifndef JB_PLATFORMS_INTERNAL_H
#define JB_PLATFORMS_INTERNAL_H

#include "platforms/platform.h"

#include "cli/cli.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* One driver: platform.c calls these; each driver file defines one. */
typedef struct jb_driver {
    const char *name;
    unsigned daemons; /* JB_DAEMONS_* of metrics.h */
    bool (*open)(jb_platform *p, char *err, size_t errlen);
    void (*close)(jb_platform *p);
    bool (*prepare)(jb_platform *p, const char *service, char *err, size_t errlen);
    bool (*start)(jb_platform *p, jb_instance *inst, const jb_instance_spec *spec, char *err,
                  size_t errlen);
    /* start may run on several threads at once for one platform (it uses
     * nothing of p that another start changes): jb_platform_start_many. */
    bool concurrent_start;
    /* Reads new output (feeding it to jb_instance_feed) and returns false
     * once the instance has exited. */
    bool (*poll)(jb_instance *inst);
    /* Sends the instance its one stop signal (SIGTERM) without waiting, so
     * many stop in parallel; platform.c then polls until they exited or
     * stop_grace_ms passed, and calls stop, which kills what is left. May
     * be NULL (stop then does everything). */
    void (*signal_stop)(jb_instance *inst);
    /* The files or layers service's image consists of, for image sizes:
     * up to max (id, bytes) pairs into ids/bytes; kind as in image_sizes. */
    bool (*image_layers)(jb_platform *p, const char *service, char (*ids)[512], uint64_t *bytes,
                         size_t max, size_t *n, const char **kind, char *err, size_t errlen);
    /* Stops and removes what start created; frees inst->priv. */
    bool (*stop)(jb_instance *inst, char *err, size_t errlen);
    /* Output lines (substrings, NULL-terminated) that mean the instance is
     * dead even if its platform still runs it (a guest's kernel panic, OSv's
     * abort): it counts as exited at once, the line quoted. May be NULL. */
    const char *const *fatal_lines;
} jb_driver;

extern const jb_driver jb_driver_process;
extern const jb_driver jb_driver_docker;
extern const jb_driver jb_driver_libvirt;

struct jb_platform {
    const jb_driver *driver;
    jb_platform_config cfg; /* every string a private copy */
    char accel[16];
    jb_instance **instances;
    size_t ninstances, capacity;
    void *priv; /* the driver's state */
};

#define JB_TAIL_MAX 1024

struct jb_instance {
    jb_platform *platform;
    jb_instance_info info;
    double start_mono_ms;
    char line[2048]; /* the current, unfinished output line */
    size_t linelen;
    bool line_overflow;
    char tail[JB_TAIL_MAX]; /* the service's last output lines, for error messages */
    size_t taillen;
    bool exited;
    char exit_reason[256];
    char fatal_line[256];  /* the first output line matching driver->fatal_lines */
    double stop_signal_ms; /* monotonic time of the stop signal; 0 until sent */
    double exit_seen_ms;   /* monotonic time the exit was first seen; 0 until then */
    jb_stop_record stop;   /* filled while stopping (drivers set killed, exit) */
    void *priv;
};

/* Fills exit_code and exit of a stop record from a wait(2) status. */
void jb_stop_record_status(jb_stop_record *rec, int status);

/* Feeds output bytes: records the tail and detects the readiness line. */
void jb_instance_feed(jb_instance *inst, const char *buf, size_t len);
/* Milliseconds since the start call. */
double jb_instance_elapsed_ms(const jb_instance *inst);

/* Follows a growing file (a process log, a serial console). */
typedef struct jb_follow {
    int fd;
    char path[4096];
} jb_follow;
void jb_follow_init(jb_follow *f);
/* Opens when the file exists (a console file may appear late); reads all
 * new bytes into inst. */
void jb_follow_poll(jb_follow *f, jb_instance *inst);
void jb_follow_close(jb_follow *f);

/* "{service}" replaced by service, "{args}" by args; false when too long. */
bool jb_expand_template(const char *tmpl, const char *service, const char *args, char *out,
                        size_t outlen);
/* mkdir -p */
bool jb_mkdirs(const char *path, char *err, size_t errlen);
/* Sleeps ms milliseconds (nanosleep, restarted on EINTR unless a stop was
 * requested). */
void jb_sleep_ms(double ms);
/* Where the libvirt driver caches whether KVM really boots guests here. */
#define JB_KVM_VERDICT_DIR "/var/cache/jungbench"

/* Appends a file (id = its path, bytes = its size) to an image's layers. */
bool jb_file_layer(const char *path, char (*ids)[512], uint64_t *bytes, size_t max, size_t *n,
                   char *err, size_t errlen);

/* The folder of the running executable (the build tree for jungbench). */
bool jb_exe_dir(char *out, size_t outlen);

#endif
