/* loadgen.h - the load generator: the dissertation's JMeter test plan
 * (30 users x 500 requests, table 2's mix) in C on libcurl's multi interface.
 *
 * One thread (or --threads N, each with its own share of the users) drives
 * the simulated users. Each user owns one libcurl easy
 * handle and so one keep-alive connection, and walks its own request list:
 * GET user, GET device, GET readings, POST command, in the order and
 * counts of --mix. Two arrival models:
 *   closed - a user sends its next request when the previous one answered
 *            (JMeter's thread groups, the dissertation's model);
 *   open   - requests are due at a constant total rate; each user's k-th
 *            request has an intended send time, and response times are
 *            measured from that intended time, so a server that stalls
 *            cannot hide the stall by slowing the senders down (no
 *            coordinated omission, as in wrk2).
 * Every request becomes one row of `samples` (store/store.h), the set-up
 * requests with phase 'setup', the measured ones with phase 'measure'.
 */
#ifndef JB_LOADGEN_H
#define JB_LOADGEN_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The request kinds a Jung dataset mixes (table 2's rows). */
typedef enum {
    JB_REQ_GET_USER,
    JB_REQ_GET_DEVICE,
    JB_REQ_GET_READINGS,
    JB_REQ_POST_COMMAND,
    JB_REQ_KINDS,
    /* Not in a mix: the set-up requests and the static-target GET. */
    JB_REQ_CREATE_USER = JB_REQ_KINDS,
    JB_REQ_CREATE_DEVICE,
    JB_REQ_CREATE_RULE,
    JB_REQ_GET_STATIC,
    JB_REQ_ALL_KINDS
} jb_req_kind;

/* The sample label of a kind ("get_readings"), as --mix and the report use it. */
const char *jb_loadgen_label(jb_req_kind kind);

/* A mix: which kinds, in which order, and how many of each per user. */
typedef struct jb_load_mix {
    int n;
    jb_req_kind kind[JB_REQ_KINDS];
    long count[JB_REQ_KINDS];
} jb_load_mix;

#define JB_LOAD_MIX_MAX_COUNT 10000000L

/* Appends one kind by its label ("get_readings") with its count per user:
 * false, saying why, for an unknown or repeated label or a count outside
 * 0..JB_LOAD_MIX_MAX_COUNT. Start from a zeroed mix. */
bool jb_loadgen_mix_add(jb_load_mix *mix, const char *label, long count, char *err, size_t errlen);

/* Parses "get_user=25,get_device=25,get_readings=225,post_command=225".
 * Order is kept: the dataset sends the kinds in the order written. */
bool jb_loadgen_parse_mix(const char *spec, jb_load_mix *mix, char *err, size_t errlen);

typedef enum { JB_LOAD_CLOSED, JB_LOAD_OPEN } jb_load_model;

/* How requests travel. libcurl opens every connection; with the raw
 * transport the request bytes are then sent and the responses parsed
 * directly (raw.c), about 6x fewer instructions per request than a libcurl
 * transfer (docs/loadgen.md). AUTO: raw for http:// targets. */
typedef enum { JB_TRANSPORT_AUTO, JB_TRANSPORT_RAW, JB_TRANSPORT_CURL } jb_load_transport;

/* More sending threads than this would only contend for the cores. */
#define JB_LOADGEN_MAX_THREADS 64

/* Live figures for a progress display, reported a few times a second. */
typedef struct jb_load_progress {
    const char *phase; /* "setup" or "measure" */
    long done, total;  /* total is 0 when running for a duration */
    long errors;
    double elapsed_s, rate; /* requests per second so far */
    double duration_s;      /* the planned duration, 0 when counting requests */
} jb_load_progress;

typedef struct jb_loadgen_config {
    const char *target;      /* base URL, e.g. http://127.0.0.1:8080 */
    long users;              /* concurrent users, 30 */
    long requests_per_user;  /* 500 */
    long devices_per_user;   /* 30 */
    long rules_per_device;   /* 1 */
    jb_load_mix mix;         /* scaled to requests_per_user when it sums to another total */
    uint64_t seed;           /* picks each request's device and command value */
    bool shuffle;            /* shuffle each user's list (seeded) instead of table 2's order */
    jb_load_model model;     /* closed (default) or open */
    double rate;             /* open model: requests per second, all users together */
    long timeout_ms;         /* whole-request timeout; a timeout is a failed sample */
    double duration_s;       /* > 0: stop after this long, users cycling over their list */
    bool static_target;      /* no set-up, every request GETs target itself (for wrk comparisons) */
    const char *user_prefix; /* user names are <prefix>-u<N>; NULL: "jb<seed>" */
    long readings_page_size; /* the size= of GET readings */
    long threads;            /* sending threads, users split among them in blocks (1) */
    jb_load_transport transport; /* AUTO (0): raw for http:// targets */

    /* Where samples go: an open store (NULL keeps only the summary). */
    jb_store *store;
    const char *run_id;
    const char *platform;
    long iteration;

    /* Stop flag: NULL polls jb_stop_requested() (cli/cli.h). */
    bool (*should_stop)(void *ctx);
    void *stop_ctx;
    /* Progress callback, NULL for none. */
    void (*progress)(const jb_load_progress *p, void *ctx);
    void *progress_ctx;
} jb_loadgen_config;

/* The per-run summary: table 5's columns plus exact percentiles, over the
 * measured samples only. Times in milliseconds. */
typedef struct jb_load_summary {
    long samples, errors;
    double error_pct;
    double throughput; /* samples per second over the measured span */
    double received_kbs, sent_kbs;
    double avg_ms, min_ms, max_ms;
    double p50_ms, p90_ms, p95_ms, p99_ms, p999_ms;
    double duration_ms;
    long setup_requests;
    long abandoned; /* requests in flight when a stop was requested, not recorded */
    bool stopped;   /* a stop was requested before the dataset finished */
} jb_load_summary;

typedef enum {
    JB_LOAD_OK = 0,     /* ran to the end */
    JB_LOAD_FAILED = 1, /* target unreachable, set-up refused, or database error: see err */
    JB_LOAD_STOPPED = 2 /* a stop was requested; the summary covers what was recorded */
} jb_load_result;

/* Fills cfg with the dissertation's defaults (30 users, 500 requests, 30
 * devices per user, 1 rule per device, table 2's mix, closed model). */
void jb_loadgen_config_defaults(jb_loadgen_config *cfg);

/* True when cfg's requests go over the raw transport. */
bool jb_loadgen_uses_raw(const jb_loadgen_config *cfg);

/* Checks a configuration; false with the offending field named in err. */
bool jb_loadgen_config_check(const jb_loadgen_config *cfg, char *err, size_t errlen);

/* Runs set-up then the measured load; fills out (also on STOPPED) and, when
 * cfg->store is set, writes samples and one load_summaries row. */
jb_load_result jb_loadgen_run(const jb_loadgen_config *cfg, jb_load_summary *out, char *err,
                              size_t errlen);

/* One planned request of a user's dataset. */
typedef struct jb_load_item {
    jb_req_kind kind;
    int32_t device; /* index into the user's devices */
    int32_t value;  /* the command's value (post_command) */
} jb_load_item;

/* Builds user's request list (0-based user) for cfg: mix counts (scaled),
 * mix order or seeded shuffle, seeded device and value choices. Returns a
 * malloc'd array of *n items (free() it), NULL on allocation failure. */
jb_load_item *jb_loadgen_dataset(const jb_loadgen_config *cfg, long user, size_t *n);

/* Exact nearest-rank percentile of sorted values (p in 0..100). */
double jb_loadgen_percentile(const int64_t *sorted, size_t n, double p);

/* `jungbench loadgen`. */
int loadgen_main(int argc, char **argv);

#endif
