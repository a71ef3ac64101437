/* engine_internal.h - internal to loadgen/: the engine's users, threads and
 * run (engine.c), as the transports (curl_transport.c, raw_transport.c)
 * see them, and what the engine offers them: its multi handle, its failure
 * path and the hand-off of a finished request to the recorder. */
#ifndef JB_LOADGEN_ENGINE_INTERNAL_H
#define JB_LOADGEN_ENGINE_INTERNAL_H

#include "cli/cli.h" /* jb_now_ms: the loops' monotonic clock */
#include "loadgen/loadgen.h"
#include "loadgen/raw.h"
#include "loadgen/recorder.h"
#include "loadgen/transport.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>

/* Jung allows ids of up to 64 characters (docs/rest-api.md). */
enum { NAME_LEN = 72, URL_LEN = 1024, BODY_LEN = 256, SNIPPET_LEN = 512 };

typedef struct lg_run lg_run;

/* The curl transport's part of a user: what the easy handle was last
 * given, so a request that repeats it (every request of a static run, most
 * GETs) makes no setopt calls: CURLOPT_URL alone copies the string and
 * frees the old one. */
typedef struct lg_curl_user {
    CURLU *parsed_url; /* the user's url, parsed once per change (see set_url) */
    char url_set[URL_LEN];
    size_t body_len_set; /* 0: the handle is set for GET */
    int auth_set;        /* -1 unknown, 0 none, 1 HTTP Basic */
} lg_curl_user;

/* The raw transport's part of a user (raw.c): the easy handle only opens
 * the connection (CURLOPT_CONNECT_ONLY), then the socket is the raw
 * transport's. */
typedef struct lg_raw_user {
    lg_raw_conn conn;
    bool keep_socket;   /* libcurl is letting go of the socket: do not close it */
    bool retried;       /* the request was resent once on a fresh connection */
    int64_t connect_us; /* the connection opened for this request, 0 when reused */
    double deadline_ms; /* monotonic: when the request in flight times out */
    /* What the request bytes were last built from. */
    char url_built[URL_LEN];
    char body_built[BODY_LEN];
    int auth_built;      /* -1 unknown, 0 none, 1 HTTP Basic */
    char auth_line[256]; /* "Authorization: Basic ...\r\n" */
} lg_raw_user;

typedef struct lg_user {
    lg_engine *eng; /* set once the transport's part is initialised */
    long index;
    char name[NAME_LEN];
    char password[NAME_LEN];
    CURL *easy;    /* both transports connect with it */
    bool in_multi; /* easy is in the engine's multi handle (lg_multi_add) */
    jb_load_item *items;
    size_t n_items;
    char (*device_ids)[NAME_LEN];
    long step;  /* next set-up step, or next dataset position (seq) */
    long steps; /* steps in this phase; -1 when running for a duration */
    bool busy, finished;
    jb_req_kind kind;
    double due_ms;  /* monotonic: when the current/next request is due */
    double sent_ms; /* monotonic: when it was handed to the transport */
    double idle_ms;
    double last_done_ms;
    char url[URL_LEN];
    char body[BODY_LEN];
    /* What came back, filled by either transport. */
    char reason[64];
    char response[SNIPPET_LEN]; /* the start of the response body */
    size_t response_len;
    char curl_error[CURL_ERROR_SIZE]; /* libcurl's error text, or the raw transport's alike */
    union {                           /* the engine's transport's (lg_engine.ops) */
        lg_curl_user curl;
        lg_raw_user raw;
    };
} lg_user;

/* What the engine's epoll set holds for one socket (indexed by descriptor). */
typedef struct lg_watch {
    uint32_t events; /* the epoll events registered */
    bool in_set;
    bool parked; /* libcurl stopped watching it (an idle connection) but it stays in the set */
} lg_watch;

/* One sending thread: its users, its multi handle, its own figures. */
struct lg_engine {
    lg_run *run;
    const jb_loadgen_config *cfg;
    const lg_transport_ops *ops; /* what carries the requests */
    CURLM *multi;
    lg_user *users; /* this thread's block of the users */
    long n_users;
    jb_tally tally;
    pthread_t thread;
    bool stopping; /* no new requests */
    bool failed;   /* set-up refused, target unreachable, or database error */
    char error[2048];
    long active, inflight, abandoned; /* this thread's users */
    atomic_long done, errors;         /* read by the supervisor for progress */
    double stop_at_ms;
    int epoll_fd;    /* the sockets libcurl and the transport want watched */
    lg_watch *watch; /* libcurl's sockets, by descriptor, n_watch of them */
    size_t n_watch;
    double timer_at_ms; /* when libcurl wants its timeout action, < 0 for never */
    double sweep_at_ms; /* when ops->sweep_timeouts is due, < 0 never (set by the transport) */
};

/* What the threads share. The phase's fields are written by the calling
 * thread before it starts the engines' threads and only read by them. */
struct lg_run {
    const jb_loadgen_config *cfg;
    jb_recorder rec;
    char base[URL_LEN / 2]; /* the target without trailing '/' */
    size_t base_len;
    char host_port[URL_LEN / 2]; /* the target's authority: the raw transport's Host header */
    long n_users;                /* all threads' */
    lg_engine *engines;
    long n_engines;
    /* the current phase */
    bool setup; /* in the set-up phase */
    double start_ms, start_wall_ms, deadline_ms;
    double interval_ms; /* open model: time between one user's requests */
    long total;         /* requests in the phase, 0 when running for a duration */
    double last_progress_ms;
    /* between threads */
    atomic_bool stop;   /* no new requests: a stop request or a thread's failure */
    atomic_bool failed; /* a thread failed: in-flight requests are abandoned at once */
    atomic_long active; /* users still running, all threads (the samples' grp_threads) */
    pthread_mutex_t lock;
    pthread_cond_t engine_ended; /* guarded by lock, with engines_running */
    long engines_running;
    bool stopped;      /* the stop flag asked for the stop (calling thread only) */
    bool failed_early; /* initialisation or the target probe failed */
    char error[2048];
};

/* The epoll entries a transport registers itself carry the user's address
 * with the low bit set; libcurl's carry the descriptor shifted left. */
static inline uint64_t lg_user_tag(const lg_user *u)
{
    return (uint64_t)(uintptr_t)u | 1u;
}

static inline int64_t lg_info_us(CURL *h, CURLINFO what)
{
    curl_off_t v = 0;
    curl_easy_getinfo(h, what, &v);
    return (int64_t)v;
}

/* This thread's run is over, for the reason given: the others stop sending
 * and abandon what is in flight (the error is the run's, there is nothing
 * to wait for). */
void lg_engine_fail(lg_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Puts the user's easy handle into / takes it out of the engine's multi. */
bool lg_multi_add(lg_user *u);
void lg_multi_remove(lg_user *u);

/* libcurl's bookkeeping of a socket ends (it closed it, or handed it over):
 * its descriptor's entry is reset before the number can be reused. */
void lg_forget_socket(lg_engine *e, curl_socket_t fd);

/* When the request's times run from: its due time, or when it was sent if
 * that was earlier. */
double lg_due_ms(const lg_user *u);

/* A finished request's sample: lg_sample_init fills the fields both
 * transports fill alike; the transport adds latency_us, connect_us, code,
 * curl_code, bytes and sent_bytes (and u->curl_error on failure), then
 * lg_request_done judges it, records it and moves the user on. */
void lg_sample_init(lg_user *u, double done_ms, jb_sample *s);
void lg_request_done(lg_user *u, jb_sample *s, double now);

#endif
