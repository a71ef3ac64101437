/* engine.c - the event loops: libcurl's multi interface drives the users'
 * easy handles, as wrk drives its connections from an epoll loop. With
 * --threads N there are N engines, each a thread with its own multi handle,
 * epoll set and block of users (wrk's -t); they share only the recorder's
 * queue and a few atomics. The calling thread supervises: it polls the stop
 * flag and reports progress, so the caller's callbacks run on its own
 * thread. A user is a small state machine: idle (waiting for its next due
 * time, open model only), busy (its handle is in the multi, or with the raw
 * transport its request is on its socket), or finished. With the raw
 * transport (raw.c) the multi handle only opens connections. */
#include "loadgen/loadgen.h"
#include "loadgen/raw.h"
#include "loadgen/recorder.h"

#include <curl/curl.h>
#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* Jung allows ids of up to 64 characters (docs/rest-api.md). */
enum { NAME_LEN = 72, URL_LEN = 1024, BODY_LEN = 256, SNIPPET_LEN = 512 };

/* How long in-flight requests may finish after a stop request before they
 * are abandoned, and how often progress is reported. */
static const double STOP_GRACE_MS = 2000;
static const double PROGRESS_MS = 250;
/* How often the supervising thread polls the stop flag. */
static const long SUPERVISE_MS = 20;

typedef struct lg_engine lg_engine;
typedef struct lg_run lg_run;

typedef struct lg_user {
    lg_engine *eng;
    long index;
    char name[NAME_LEN];
    char password[NAME_LEN];
    CURL *easy;
    CURLU *parsed_url; /* u->url, parsed once per change (see set_url) */
    jb_load_item *items;
    size_t n_items;
    char (*device_ids)[NAME_LEN];
    long step;  /* next set-up step, or next dataset position (seq) */
    long steps; /* steps in this phase; -1 when running for a duration */
    bool busy, finished;
    jb_req_kind kind;
    double due_ms;  /* monotonic: when the current/next request is due */
    double sent_ms; /* monotonic: when it was handed to libcurl */
    double idle_ms;
    double last_done_ms;
    char url[URL_LEN];
    char body[BODY_LEN];
    /* What the easy handle was last given, so a request that repeats it
     * (every request of a static run, most GETs) makes no setopt calls:
     * CURLOPT_URL alone copies the string and frees the old one. */
    char url_set[URL_LEN];
    size_t body_len_set; /* 0: the handle is set for GET */
    int auth_set;        /* -1 unknown, 0 none, 1 HTTP Basic */
    char reason[64];
    char response[SNIPPET_LEN]; /* the start of the response body */
    size_t response_len;
    char curl_error[CURL_ERROR_SIZE];
    /* The raw transport (raw.c): the easy handle only opens the connection
     * (CURLOPT_CONNECT_ONLY), then the socket is the raw transport's. */
    lg_raw_conn raw;
    bool connecting;    /* the easy handle is in the multi, connecting */
    bool keep_socket;   /* libcurl is letting go of the socket: do not close it */
    bool retried;       /* the request was resent once on a fresh connection */
    int64_t connect_us; /* the connection opened for this request, 0 when reused */
    double deadline_ms; /* monotonic: when the request in flight times out */
    char body_built[BODY_LEN];
    char auth_line[256]; /* "Authorization: Basic ...\r\n" */
} lg_user;

_Static_assert(sizeof((lg_user *)0)->reason == sizeof((jb_sample *)0)->message,
               "the reason phrase is copied whole into the sample");

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
    int epoll_fd;    /* the sockets libcurl wants watched */
    lg_watch *watch; /* by descriptor, n_watch of them */
    size_t n_watch;
    double timer_at_ms; /* when libcurl wants its timeout action, < 0 for never */
    bool raw;           /* the raw transport carries the requests (libcurl connects) */
    double sweep_at_ms; /* raw: the earliest deadline of a request in flight, < 0 none */
};

/* What the threads share. The phase's fields are written by the calling
 * thread before it starts the engines' threads and only read by them. */
struct lg_run {
    const jb_loadgen_config *cfg;
    jb_recorder rec;
    struct curl_slist *json_header; /* read-only once built */
    char base[URL_LEN / 2];
    size_t base_len;
    char host_port[URL_LEN / 2]; /* the raw transport's Host header */
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

/* ---- libcurl callbacks ------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    lg_user *u = userp;
    size_t len = size * nmemb;
    size_t room = sizeof u->response - 1 - u->response_len;
    size_t take = len < room ? len : room;
    memcpy(u->response + u->response_len, data, take);
    u->response_len += take;
    u->response[u->response_len] = '\0';
    return len;
}

/* Keeps the status line's reason phrase ("OK", "Not Found") for JTL's
 * responseMessage; libcurl only hands out the numeric code. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    lg_user *u = userp;
    size_t len = size * nmemb;
    if (len < 5 || memcmp(data, "HTTP/", 5) != 0)
        return len;
    /* Called for every header line: plain scans, no snprintf. */
    const char *end = data + len;
    while (end > data && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    const char *reason = memchr(data, ' ', (size_t)(end - data)); /* after "HTTP/1.1" */
    if (reason)
        reason = memchr(reason + 1, ' ', (size_t)(end - reason - 1)); /* after the code */
    size_t n = reason ? (size_t)(end - reason - 1) : 0;
    if (n >= sizeof u->reason)
        n = sizeof u->reason - 1;
    if (n > 0)
        memcpy(u->reason, reason + 1, n);
    u->reason[n] = '\0';
    return len;
}

/* ---- building requests -------------------------------------------------- */

static double wall_of(const lg_engine *e, double mono_ms)
{
    return e->run->start_wall_ms + (mono_ms - e->run->start_ms);
}

/* This thread's run is over: the others stop sending and abandon what is
 * in flight (the error is the run's, there is nothing to wait for). */
static void engine_fail(lg_engine *e)
{
    e->failed = e->stopping = true;
    atomic_store(&e->run->failed, true);
    atomic_store(&e->run->stop, true);
}

static void set_user_auth(lg_user *u, bool with_auth)
{
    if (u->auth_set == (int)with_auth)
        return;
    curl_easy_setopt(u->easy, CURLOPT_HTTPAUTH, with_auth ? CURLAUTH_BASIC : CURLAUTH_NONE);
    curl_easy_setopt(u->easy, CURLOPT_USERNAME, with_auth ? u->name : NULL);
    curl_easy_setopt(u->easy, CURLOPT_PASSWORD, with_auth ? u->password : NULL);
    u->auth_set = with_auth;
}

/* Hands libcurl the request's URL when it changed. Given a string
 * (CURLOPT_URL), libcurl 7.88 parses it and reassembles it from its parts
 * on every transfer, about 12,000 instructions; given a parsed handle
 * (CURLOPT_CURLU) it copies the parts. A URL our parser refuses goes in as
 * a string, so libcurl's own error lands in the failed sample. */
static void set_url(lg_user *u)
{
    CURL *h = u->easy;
    if (strcmp(u->url, u->url_set) == 0)
        return;
    if (curl_url_set(u->parsed_url, CURLUPART_URL, u->url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
        curl_easy_setopt(h, CURLOPT_CURLU, u->parsed_url);
    } else {
        curl_easy_setopt(h, CURLOPT_CURLU, NULL);
        curl_easy_setopt(h, CURLOPT_URL, u->url);
    }
    memcpy(u->url_set, u->url, strlen(u->url) + 1);
}

/* Hands the request's URL and body to the easy handle, skipping what it
 * already holds. POSTFIELDS is not copied by libcurl: u->body stays put
 * for the whole run, so only its length needs telling when it changes. */
static void set_url_and_body(lg_user *u)
{
    CURL *h = u->easy;
    set_url(u);
    size_t body_len = strlen(u->body);
    if (body_len == u->body_len_set)
        return;
    if (body_len > 0 && u->body_len_set == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, u->body);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, u->eng->run->json_header);
    } else if (body_len == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    }
    if (body_len > 0)
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
    u->body_len_set = body_len;
}

/* The set-up script of one user: create the user, its devices, then each
 * device's rules. A rule fires when a reading is not 0 and sends 0 back, so
 * every measured command (values 1..100) triggers one, as in section 5.1. */
static void build_setup_request(lg_user *u)
{
    const jb_loadgen_config *cfg = u->eng->cfg;
    const char *base = u->eng->run->base;
    long step = u->step, devices = cfg->devices_per_user;
    if (step == 0) {
        u->kind = JB_REQ_CREATE_USER;
        snprintf(u->url, sizeof u->url, "%s/users", base);
        snprintf(u->body, sizeof u->body, "{\"username\":\"%s\",\"password\":\"%s\"}", u->name,
                 u->password);
    } else if (step <= devices) {
        u->kind = JB_REQ_CREATE_DEVICE;
        snprintf(u->url, sizeof u->url, "%s/users/%s/devices", base, u->name);
        snprintf(u->body, sizeof u->body, "{\"id\":\"%s\"}", u->device_ids[step - 1]);
    } else {
        long device = (step - devices - 1) / cfg->rules_per_device;
        u->kind = JB_REQ_CREATE_RULE;
        snprintf(u->url, sizeof u->url, "%s/users/%s/devices/%s/rules", base, u->name,
                 u->device_ids[device]);
        snprintf(u->body, sizeof u->body,
                 "{\"operator\":\"==\",\"value\":0,\"command\":{\"value\":0}}");
    }
}

static void build_measure_request(lg_user *u)
{
    const jb_loadgen_config *cfg = u->eng->cfg;
    const char *base = u->eng->run->base;
    const jb_load_item *it = &u->items[(size_t)u->step % u->n_items];
    const char *device = cfg->static_target ? "" : u->device_ids[it->device];
    u->kind = it->kind;
    u->body[0] = '\0';
    switch (it->kind) {
    case JB_REQ_GET_USER:
        snprintf(u->url, sizeof u->url, "%s/users/%s", base, u->name);
        break;
    case JB_REQ_GET_DEVICE:
        snprintf(u->url, sizeof u->url, "%s/users/%s/devices/%s", base, u->name, device);
        break;
    case JB_REQ_GET_READINGS:
        snprintf(u->url, sizeof u->url, "%s/users/%s/devices/%s/readings?page=1&size=%ld", base,
                 u->name, device, cfg->readings_page_size);
        break;
    case JB_REQ_POST_COMMAND:
        snprintf(u->url, sizeof u->url, "%s/users/%s/devices/%s/commands", base, u->name, device);
        snprintf(u->body, sizeof u->body, "{\"value\":%d}", it->value < 1 ? 1 : it->value);
        break;
    default:
        snprintf(u->url, sizeof u->url, "%s", cfg->target);
        break;
    }
}

static bool start_raw(lg_user *u, double now);

static bool start_request(lg_user *u, double now)
{
    lg_engine *e = u->eng;
    if (e->run->setup)
        build_setup_request(u);
    else
        build_measure_request(u);
    if (e->raw)
        return start_raw(u, now);
    CURL *h = u->easy;
    set_url_and_body(u);
    set_user_auth(u, !e->cfg->static_target && u->kind != JB_REQ_CREATE_USER);
    u->reason[0] = u->response[0] = u->curl_error[0] = '\0';
    u->response_len = 0;
    u->idle_ms = u->due_ms > u->last_done_ms ? u->due_ms - u->last_done_ms : 0;
    u->sent_ms = now;
    if (curl_multi_add_handle(e->multi, h) != CURLM_OK) {
        snprintf(e->error, sizeof e->error, "libcurl refused a request for %s", u->url);
        engine_fail(e);
        return false;
    }
    u->busy = true;
    e->inflight++;
    return true;
}

/* ---- finished requests -------------------------------------------------- */

static int64_t info_us(CURL *h, CURLINFO what)
{
    curl_off_t v = 0;
    curl_easy_getinfo(h, what, &v);
    return (int64_t)v;
}

static void describe_failure(lg_user *u, jb_sample *s)
{
    if (s->curl_code != CURLE_OK) {
        snprintf(s->message, sizeof s->message, "%s", curl_easy_strerror(s->curl_code));
        snprintf(s->failure, sizeof s->failure, "%s",
                 u->curl_error[0] ? u->curl_error : curl_easy_strerror(s->curl_code));
    } else if (!s->success) {
        snprintf(s->failure, sizeof s->failure, "HTTP %ld %.60s: %.160s", s->code, s->message,
                 u->response);
    }
}

/* Response times come from our own clock, from the due time to the moment
 * the loop saw the transfer end, as wrk measures from its own write to its
 * own read: whatever delays the answer, on either side, is in the figure.
 * libcurl's timers only split off the time to first byte. */
static double due_of(const lg_user *u)
{
    return u->due_ms < u->sent_ms ? u->due_ms : u->sent_ms;
}

/* The fields both transports fill alike. */
static void fill_common(lg_user *u, double done_ms, jb_sample *s)
{
    lg_engine *e = u->eng;
    memset(s, 0, sizeof *s);
    double due_ms = due_of(u);
    s->kind = u->kind;
    s->setup = e->run->setup;
    s->wall_start_ms = wall_of(e, u->sent_ms);
    s->intended_wall_ms = wall_of(e, due_ms);
    s->elapsed_us = (int64_t)llround((done_ms - due_ms) * 1000.0);
    s->idle_ms = u->idle_ms;
    memcpy(s->message, u->reason, sizeof s->message); /* same size, '\0'-terminated */
    s->thread_name = u->name;
    s->active = atomic_load_explicit(&e->run->active, memory_order_relaxed);
    s->url = u->url;
    s->seq = u->step;
}

static void fill_sample(lg_user *u, CURLcode rc, double done_ms, jb_sample *s)
{
    CURL *h = u->easy;
    fill_common(u, done_ms, s);
    int64_t total = info_us(h, CURLINFO_TOTAL_TIME_T);
    int64_t ttfb = info_us(h, CURLINFO_STARTTRANSFER_TIME_T);
    int64_t after_first_byte = total > ttfb ? total - ttfb : 0;
    s->latency_us =
        ttfb > 0 && s->elapsed_us > after_first_byte ? s->elapsed_us - after_first_byte : 0;
    s->connect_us = info_us(h, CURLINFO_CONNECT_TIME_T);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s->code);
    s->curl_code = (int)rc;
    s->success = rc == CURLE_OK && s->code >= 200 && s->code < 400;
    describe_failure(u, s);
    long header_bytes = 0, request_bytes = 0;
    curl_easy_getinfo(h, CURLINFO_HEADER_SIZE, &header_bytes);
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &request_bytes);
    s->bytes = header_bytes + (long)info_us(h, CURLINFO_SIZE_DOWNLOAD_T);
    s->sent_bytes = request_bytes;
}

/* The raw transport's sample: the same fields, from our own clock and
 * parser (latency: the first response byte; elapsed: the response's end). */
static void fill_raw_sample(lg_user *u, CURLcode rc, double done_ms, jb_sample *s)
{
    const lg_raw_conn *c = &u->raw;
    fill_common(u, done_ms, s);
    double due_ms = due_of(u);
    s->latency_us = c->got_byte ? (int64_t)llround((c->first_byte_ms - due_ms) * 1000.0) : 0;
    s->connect_us = u->connect_us;
    s->code = c->got_byte ? (long)c->parser.status_code : 0;
    s->curl_code = (int)rc;
    s->success = rc == CURLE_OK && s->code >= 200 && s->code < 400;
    if (rc != CURLE_OK && c->failure[0])
        snprintf(u->curl_error, sizeof u->curl_error, "%s", c->failure);
    describe_failure(u, s);
    s->bytes = c->header_bytes + c->body_bytes;
    s->sent_bytes = (long)c->out_off;
}

/* A refused or unreachable set-up ends the run before any measurement. */
static void check_setup_response(lg_user *u, const jb_sample *s)
{
    lg_engine *e = u->eng;
    if (!s->success) {
        if (s->code == 0)
            snprintf(e->error, sizeof e->error, "cannot reach the target %s: %s", e->cfg->target,
                     s->failure);
        else
            snprintf(e->error, sizeof e->error, "set-up refused: POST %s answered %s", u->url,
                     s->failure);
        engine_fail(e);
        return;
    }
    if (u->kind != JB_REQ_CREATE_DEVICE)
        return;
    /* The server may assign its own id: use whatever it answered. */
    json_t *doc = json_loadb(u->response, u->response_len, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "id"));
    if (id && *id)
        snprintf(u->device_ids[u->step - 1], NAME_LEN, "%s", id);
    json_decref(doc);
}

static void advance(lg_user *u, double now);

/* Records a finished request and moves the user on. */
static void record_and_advance(lg_user *u, const jb_sample *s, double now)
{
    lg_engine *e = u->eng;
    u->busy = false;
    u->last_done_ms = now;
    e->inflight--;
    atomic_fetch_add_explicit(&e->done, 1, memory_order_relaxed);
    if (!s->success)
        atomic_fetch_add_explicit(&e->errors, 1, memory_order_relaxed);
    if (e->run->setup)
        check_setup_response(u, s);
    if (!jb_recorder_add(&e->run->rec, &e->tally, s)) {
        snprintf(e->error, sizeof e->error, "%s", e->tally.error);
        engine_fail(e);
    }
    u->step++;
    advance(u, now);
}

static void finish_request(lg_user *u, CURLcode rc)
{
    double now = jb_now_ms();
    curl_multi_remove_handle(u->eng->multi, u->easy);
    jb_sample s;
    fill_sample(u, rc, now, &s);
    record_and_advance(u, &s, now);
}

/* ---- the raw transport ------------------------------------------------- */

/* The raw transport's epoll entries carry the user's address with the low
 * bit set; libcurl's carry the descriptor shifted left (see on_socket). */
static uint64_t raw_tag(const lg_user *u)
{
    return (uint64_t)(uintptr_t)u | 1u;
}

/* A failed or closing connection is not reused: the next request opens a
 * new one. */
static void finish_raw(lg_user *u, CURLcode rc)
{
    double now = jb_now_ms();
    jb_sample s;
    fill_raw_sample(u, rc, now, &s);
    if (rc != CURLE_OK || !u->raw.keep_alive)
        lg_raw_close(&u->raw);
    record_and_advance(u, &s, now);
}

/* libcurl opens the connection: non-blocking, its connect timeout and
 * errors, its connect time. */
static void raw_connect(lg_user *u)
{
    lg_engine *e = u->eng;
    if (curl_multi_add_handle(e->multi, u->easy) != CURLM_OK) {
        snprintf(e->error, sizeof e->error, "libcurl refused a connection to %s", e->cfg->target);
        engine_fail(e);
        return;
    }
    u->connecting = true;
}

static void raw_handle(lg_user *u, lg_raw_status st)
{
    switch (st) {
    case LG_RAW_PENDING:
        return;
    case LG_RAW_DONE:
        finish_raw(u, CURLE_OK);
        return;
    case LG_RAW_FAILED:
        finish_raw(u, (CURLcode)u->raw.curl_code);
        return;
    case LG_RAW_RETRY: /* an idle connection the server had closed: once more, fresh */
        lg_raw_close(&u->raw);
        if (u->retried) {
            finish_raw(u, CURLE_GOT_NOTHING);
            return;
        }
        u->retried = true;
        raw_connect(u);
        return;
    case LG_RAW_IDLE_EOF: /* closed between requests: the next one reconnects */
        lg_raw_close(&u->raw);
        return;
    }
}

static void raw_go(lg_user *u)
{
    if (u->raw.fd < 0)
        raw_connect(u);
    else
        raw_handle(u, lg_raw_start(&u->raw));
}

/* The connect finished (CURLMSG_DONE of the CONNECT_ONLY handle). Removing
 * the handle from the multi makes libcurl 7.88 close a CONNECT_ONLY
 * connection (curl_multi_remove_handle), so on_close_raw_socket is told to
 * keep the socket: from then on it is the raw transport's alone, and
 * nothing in libcurl's connection cache can prune it behind our back. */
static void raw_connected(lg_user *u, CURLcode rc)
{
    lg_engine *e = u->eng;
    u->connecting = false;
    u->connect_us = info_us(u->easy, CURLINFO_CONNECT_TIME_T);
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (rc == CURLE_OK)
        curl_easy_getinfo(u->easy, CURLINFO_ACTIVESOCKET, &fd);
    u->keep_socket = fd != CURL_SOCKET_BAD;
    curl_multi_remove_handle(e->multi, u->easy);
    u->keep_socket = false;
    if (fd == CURL_SOCKET_BAD) {
        finish_raw(u, rc != CURLE_OK ? rc : CURLE_COULDNT_CONNECT);
        return;
    }
    if ((size_t)fd < e->n_watch)
        e->watch[fd] = (lg_watch){0}; /* libcurl's bookkeeping of it ends here */
    if (!lg_raw_attach(&u->raw, fd)) {
        close(fd);
        snprintf(u->curl_error, sizeof u->curl_error, "epoll_ctl: %s", strerror(errno));
        finish_raw(u, CURLE_COULDNT_CONNECT);
        return;
    }
    raw_handle(u, lg_raw_start(&u->raw));
}

/* The request bytes, rebuilt only when URL, body or credentials changed
 * (every request of a static run is the same). */
static bool build_raw_request(lg_user *u, bool with_auth)
{
    if (u->auth_set == (int)with_auth && strcmp(u->url, u->url_set) == 0 &&
        strcmp(u->body, u->body_built) == 0)
        return true;
    const lg_run *run = u->eng->run;
    const char *path = u->url;
    if (strncmp(path, run->base, run->base_len) == 0)
        path += run->base_len;
    if (*path == '\0')
        path = "/";
    if (!lg_raw_build(&u->raw, path, run->host_port, with_auth ? u->auth_line : NULL, u->body))
        return false;
    memcpy(u->url_set, u->url, strlen(u->url) + 1);
    memcpy(u->body_built, u->body, strlen(u->body) + 1);
    u->auth_set = with_auth;
    return true;
}

static bool start_raw(lg_user *u, double now)
{
    lg_engine *e = u->eng;
    if (!build_raw_request(u, !e->cfg->static_target && u->kind != JB_REQ_CREATE_USER)) {
        snprintf(e->error, sizeof e->error, "out of memory building a request for %s", u->url);
        engine_fail(e);
        return false;
    }
    u->reason[0] = u->response[0] = u->curl_error[0] = '\0';
    u->response_len = 0;
    u->idle_ms = u->due_ms > u->last_done_ms ? u->due_ms - u->last_done_ms : 0;
    u->sent_ms = now;
    u->deadline_ms = now + (double)e->cfg->timeout_ms;
    if (e->sweep_at_ms < 0 || u->deadline_ms < e->sweep_at_ms)
        e->sweep_at_ms = u->deadline_ms;
    u->connect_us = 0;
    u->retried = false;
    lg_raw_reset(&u->raw);
    u->busy = true;
    e->inflight++;
    raw_go(u);
    return true;
}

/* A request past its deadline is a failed sample, as libcurl's
 * CURLE_OPERATION_TIMEDOUT; its connection (it may still answer) is closed. */
static void raw_time_out(lg_user *u, double now)
{
    if (u->connecting) {
        curl_multi_remove_handle(u->eng->multi, u->easy);
        u->connecting = false;
    }
    snprintf(u->curl_error, sizeof u->curl_error,
             "Operation timed out after %.0f milliseconds with %ld bytes received",
             now - u->sent_ms, u->raw.header_bytes + u->raw.body_bytes);
    u->raw.failure[0] = '\0';
    finish_raw(u, CURLE_OPERATION_TIMEDOUT);
}

/* Fails the requests past their deadline and finds the next deadline. */
static void sweep_timeouts(lg_engine *e, double now)
{
    double next = -1;
    for (long i = 0; i < e->n_users; i++) {
        lg_user *u = &e->users[i];
        if (u->busy && u->deadline_ms <= now)
            raw_time_out(u, now); /* the user may be busy again, with a new deadline */
        if (u->busy && (next < 0 || u->deadline_ms < next))
            next = u->deadline_ms;
    }
    e->sweep_at_ms = next;
}

/* The closed socket's entry, for a raw user's handle: the socket handed to
 * the raw transport stays open (see raw_connected). */
static int on_close_raw_socket(void *clientp, curl_socket_t fd)
{
    lg_user *u = clientp;
    if (u->keep_socket)
        return 0;
    lg_engine *e = u->eng;
    if (fd >= 0 && (size_t)fd < e->n_watch)
        e->watch[fd] = (lg_watch){0};
    return close(fd);
}

static void finish_user(lg_user *u)
{
    u->finished = true;
    u->eng->active--;
    atomic_fetch_sub_explicit(&u->eng->run->active, 1, memory_order_relaxed);
}

/* Decides the user's next request: finished, due now, or due later. With a
 * duration, a request due before the deadline still goes out, however late. */
static void advance(lg_user *u, double now)
{
    lg_engine *e = u->eng;
    const lg_run *run = e->run;
    if (u->steps >= 0 && u->step >= u->steps) {
        finish_user(u);
        return;
    }
    if (e->stopping)
        return;
    /* The schedule is the run's, not the thread's: user u's offset is its
     * place among all users, so N threads send what one thread would. */
    bool scheduled = run->interval_ms > 0 && !run->setup;
    u->due_ms = scheduled
                    ? run->start_ms + (double)u->index * run->interval_ms / (double)run->n_users +
                          (double)u->step * run->interval_ms
                    : now;
    if (run->deadline_ms > 0 && u->due_ms >= run->deadline_ms) {
        finish_user(u);
        return;
    }
    if (u->due_ms <= now)
        start_request(u, now);
    /* else the loop starts it when due */
}

/* ---- the loop ------------------------------------------------------------ */

/* libcurl's socket interface: it says which sockets to watch, epoll watches
 * them, and each wake-up touches only the connections that are ready (the
 * simpler curl_multi_perform visits every transfer on every wake-up). */
/* The socket's entry, NULL when it cannot grow (the caller then does
 * without the bookkeeping). */
static lg_watch *watch_of(lg_engine *e, curl_socket_t fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= e->n_watch) {
        size_t n = e->n_watch ? e->n_watch : 256;
        while (n <= (size_t)fd)
            n *= 2;
        lg_watch *grown = realloc(e->watch, n * sizeof *grown);
        if (!grown)
            return NULL;
        memset(grown + e->n_watch, 0, (n - e->n_watch) * sizeof *grown);
        e->watch = grown;
        e->n_watch = n;
    }
    return &e->watch[fd];
}

/* libcurl says which sockets to watch for what. A keep-alive connection is
 * "removed" when its transfer ends and "added" again when the next
 * transfer on it starts, microseconds later in a closed loop: two epoll_ctl
 * calls per request for nothing. So a removed socket stays in the epoll
 * set, parked; taking it up again with the same events costs no system
 * call. A parked socket that wakes (the server closed the idle connection)
 * leaves the set then (see wait_and_act), and a socket libcurl closes
 * leaves it by being closed (on_close_socket forgets it). */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    lg_engine *e = userp;
    lg_watch *w = watch_of(e, fd);
    if (what == CURL_POLL_REMOVE) {
        if (w && w->in_set)
            w->parked = true;
        else
            epoll_ctl(e->epoll_fd, EPOLL_CTL_DEL, fd, NULL); /* may be closed already */
        return 0;
    }
    struct epoll_event ev = {.data.u64 = (uint64_t)fd << 1}; /* low bit 0: libcurl's (raw_tag) */
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    if (w) {
        w->parked = false;
        if (w->in_set && w->events == ev.events)
            return 0;
    }
    int op = w && w->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(e->epoll_fd, op, fd, &ev) != 0) /* the bookkeeping was wrong: the other op */
        epoll_ctl(e->epoll_fd, op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
    if (w) {
        w->in_set = true;
        w->events = ev.events;
    }
    return 0;
}

/* Every socket libcurl closes passes here (CURLOPT_CLOSESOCKETFUNCTION):
 * closing drops it from the epoll set, so its descriptor's entry is reset
 * before the number can be reused. */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
    lg_engine *e = clientp;
    if (fd >= 0 && (size_t)fd < e->n_watch)
        e->watch[fd] = (lg_watch){0};
    return close(fd);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    lg_engine *e = userp;
    e->timer_at_ms = timeout_ms < 0 ? -1 : jb_now_ms() + (double)timeout_ms;
    return 0;
}

/* Waits up to wait_ms for sockets or libcurl's timer and lets libcurl act. */
static void wait_and_act(lg_engine *e, int wait_ms)
{
    double now = jb_now_ms();
    if (e->timer_at_ms >= 0) {
        double until_timer = e->timer_at_ms - now;
        if (until_timer < wait_ms)
            wait_ms = until_timer > 0 ? (int)ceil(until_timer) : 0;
    }
    struct epoll_event events[64];
    if (e->sweep_at_ms >= 0) {
        double until_sweep = e->sweep_at_ms - now;
        if (until_sweep < wait_ms)
            wait_ms = until_sweep > 0 ? (int)ceil(until_sweep) : 0;
    }
    int n = epoll_wait(e->epoll_fd, events, 64, wait_ms);
    int running = 0;
    for (int i = 0; i < n; i++) {
        uint64_t tag = events[i].data.u64;
        if (tag & 1u) {
            lg_user *u = (lg_user *)(uintptr_t)(tag & ~(uint64_t)1);
            raw_handle(u, lg_raw_event(&u->raw, events[i].events, jb_now_ms()));
            continue;
        }
        int fd = (int)(tag >> 1);
        if (fd >= 0 && (size_t)fd < e->n_watch && e->watch[fd].parked) {
            /* An idle connection woke: libcurl is not watching it, so stop
             * watching too, or level-triggered epoll would wake us again
             * and again until libcurl reuses or closes it. */
            epoll_ctl(e->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
            e->watch[fd] = (lg_watch){0};
            continue;
        }
        int mask = ((events[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                   ((events[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                   ((events[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(e->multi, fd, mask, &running);
    }
    if (e->timer_at_ms >= 0 && jb_now_ms() >= e->timer_at_ms) {
        e->timer_at_ms = -1;
        curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

/* Starts the open model's requests that have come due. */
static void start_due_requests(lg_engine *e, double now)
{
    for (long i = 0; i < e->n_users && !e->stopping; i++) {
        lg_user *u = &e->users[i];
        if (u->busy || u->finished || u->due_ms > now)
            continue;
        start_request(u, now); /* advance() already checked the deadline */
    }
}

/* How long the loop may sleep: until the next due request, at most 100 ms
 * (the run's stop flag and the writer's health are polled at that pace). */
static int sleep_ms(const lg_engine *e, double now)
{
    double wait = 100;
    if (e->run->interval_ms > 0 && !e->run->setup && !e->stopping)
        for (long i = 0; i < e->n_users; i++) {
            const lg_user *u = &e->users[i];
            if (!u->busy && !u->finished && u->due_ms - now < wait)
                wait = u->due_ms - now;
        }
    return wait > 0 ? (int)ceil(wait) : 0;
}

static void drain_finished(lg_engine *e)
{
    int left = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(e->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        lg_user *u = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&u);
        if (e->raw)
            raw_connected(u, msg->data.result);
        else
            finish_request(u, msg->data.result);
    }
}

/* Once stopping, in-flight requests may finish for a grace period, then
 * they are abandoned: not the server's failures, so not recorded. A failed
 * run abandons them at once. Returns true when the loop may end. */
static bool wind_down(lg_engine *e, double now)
{
    if (e->stop_at_ms == 0)
        e->stop_at_ms = now;
    if (e->inflight == 0)
        return true;
    if (now - e->stop_at_ms < STOP_GRACE_MS && !atomic_load(&e->run->failed))
        return false;
    for (long i = 0; i < e->n_users; i++)
        if (e->users[i].busy) {
            lg_user *u = &e->users[i];
            if (!e->raw || u->connecting)
                curl_multi_remove_handle(e->multi, u->easy);
            u->connecting = false;
            lg_raw_close(&u->raw); /* its answer would arrive for nobody */
            u->busy = false;
            e->inflight--;
            e->abandoned++;
        }
    e->sweep_at_ms = -1;
    return true;
}

static void run_loop(lg_engine *e)
{
    const lg_run *run = e->run;
    for (;;) {
        double now = jb_now_ms();
        if (!e->stopping && atomic_load_explicit(&e->run->stop, memory_order_relaxed))
            e->stopping = true;
        if (e->stopping && wind_down(e, now))
            break;
        if (e->active == 0 && e->inflight == 0)
            break;
        if (run->interval_ms > 0 && !run->setup)
            start_due_requests(e, now);
        wait_and_act(e, sleep_ms(e, now));
        drain_finished(e);
        if (e->sweep_at_ms >= 0 && jb_now_ms() >= e->sweep_at_ms)
            sweep_timeouts(e, jb_now_ms());
        if (!e->failed && !jb_recorder_ok(&e->run->rec)) {
            snprintf(e->error, sizeof e->error, "%s", e->run->rec.error);
            engine_fail(e);
        }
    }
}

/* One sending thread's phase: its users start (the closed model's first
 * requests now, the open model's when due), then its loop runs until they
 * are done or the run stops. */
static void *engine_main(void *arg)
{
    lg_engine *e = arg;
    lg_run *run = e->run;
    double now = jb_now_ms();
    for (long i = 0; i < e->n_users && !e->stopping; i++)
        advance(&e->users[i], now);
    run_loop(e);
    pthread_mutex_lock(&run->lock);
    run->engines_running--;
    pthread_cond_signal(&run->engine_ended);
    pthread_mutex_unlock(&run->lock);
    return NULL;
}

/* ---- the supervising (calling) thread --------------------------------------- */

static bool stop_requested(const lg_run *run)
{
    const jb_loadgen_config *cfg = run->cfg;
    return cfg->should_stop ? cfg->should_stop(cfg->stop_ctx) : jb_stop_requested();
}

static void report_progress(lg_run *run, double now, bool force)
{
    if (!run->cfg->progress || (!force && now - run->last_progress_ms < PROGRESS_MS))
        return;
    run->last_progress_ms = now;
    long done = 0, errors = 0;
    for (long i = 0; i < run->n_engines; i++) {
        done += atomic_load_explicit(&run->engines[i].done, memory_order_relaxed);
        errors += atomic_load_explicit(&run->engines[i].errors, memory_order_relaxed);
    }
    double elapsed = (now - run->start_ms) / 1000.0;
    jb_load_progress p = {
        .phase = run->setup ? "setup" : "measure",
        .done = done,
        .total = run->total,
        .errors = errors,
        .elapsed_s = elapsed,
        .rate = elapsed > 0 ? (double)done / elapsed : 0,
        .duration_s = run->setup ? 0 : run->cfg->duration_s,
    };
    run->cfg->progress(&p, run->cfg->progress_ctx);
}

/* Until every engine's thread has ended: polls the stop flag (the caller's
 * callback, on the caller's thread) and reports progress. */
static void supervise(lg_run *run)
{
    pthread_mutex_lock(&run->lock);
    while (run->engines_running > 0) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += SUPERVISE_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&run->engine_ended, &run->lock, &until);
        pthread_mutex_unlock(&run->lock);
        if (!atomic_load(&run->stop) && atomic_load(&run->active) > 0 && stop_requested(run)) {
            run->stopped = true;
            atomic_store(&run->stop, true);
        }
        report_progress(run, jb_now_ms(), false);
        pthread_mutex_lock(&run->lock);
    }
    pthread_mutex_unlock(&run->lock);
}

/* Resets the engine's users and counters for a phase of `steps` requests
 * per user (-1: until the deadline). */
static void prepare_engine(lg_engine *e, long steps)
{
    atomic_store(&e->done, 0);
    atomic_store(&e->errors, 0);
    e->active = e->n_users;
    for (long i = 0; i < e->n_users; i++) {
        lg_user *u = &e->users[i];
        u->step = 0;
        u->steps = steps;
        u->finished = false;
        u->last_done_ms = e->run->start_ms;
    }
}

/* Runs one phase on every engine's thread and waits for them all. A thread
 * that cannot start fails the run; the ones already started stop. */
static void run_phase(lg_run *run, bool setup)
{
    const jb_loadgen_config *cfg = run->cfg;
    run->setup = setup;
    run->start_ms = jb_now_ms();
    run->start_wall_ms = jb_wall_ms();
    run->deadline_ms = !setup && cfg->duration_s > 0 ? run->start_ms + cfg->duration_s * 1000 : 0;
    run->interval_ms =
        !setup && cfg->model == JB_LOAD_OPEN ? 1000.0 * (double)run->n_users / cfg->rate : 0;
    long setup_steps = 1 + cfg->devices_per_user * (1 + cfg->rules_per_device);
    long steps = setup ? setup_steps : (cfg->duration_s > 0 ? -1 : cfg->requests_per_user);
    run->total = steps > 0 ? steps * run->n_users : 0;
    atomic_store(&run->active, run->n_users);
    for (long i = 0; i < run->n_engines; i++)
        prepare_engine(&run->engines[i], steps);
    long started = 0;
    run->engines_running = run->n_engines;
    for (; started < run->n_engines; started++)
        if (pthread_create(&run->engines[started].thread, NULL, engine_main,
                           &run->engines[started]) != 0)
            break;
    if (started < run->n_engines) {
        snprintf(run->error, sizeof run->error, "cannot start sending thread %ld of %ld",
                 started + 1, run->n_engines);
        run->failed_early = true;
        atomic_store(&run->failed, true);
        atomic_store(&run->stop, true);
        pthread_mutex_lock(&run->lock);
        run->engines_running -= run->n_engines - started;
        pthread_mutex_unlock(&run->lock);
    }
    supervise(run);
    for (long i = 0; i < started; i++)
        pthread_join(run->engines[i].thread, NULL);
    report_progress(run, jb_now_ms(), true);
}

/* ---- set-up and tear-down ---------------------------------------------------- */

static bool init_user(lg_engine *e, lg_user *u, long index, const char *prefix)
{
    const jb_loadgen_config *cfg = e->cfg;
    u->eng = e;
    u->index = index;
    lg_raw_init(&u->raw, e->epoll_fd, raw_tag(u), u->reason, sizeof u->reason, u->response,
                sizeof u->response, &u->response_len);
    if (cfg->static_target)
        snprintf(u->name, sizeof u->name, "user-%ld", index + 1);
    else
        snprintf(u->name, sizeof u->name, "%.40s-u%ld", prefix, index + 1);
    snprintf(u->password, sizeof u->password, "pw-%08llx",
             (unsigned long long)((cfg->seed * 2654435761u + (uint64_t)index) & 0xffffffffu));
    u->items = jb_loadgen_dataset(cfg, index, &u->n_items);
    long devices = cfg->static_target ? 0 : cfg->devices_per_user;
    u->device_ids = calloc((size_t)(devices > 0 ? devices : 1), NAME_LEN);
    u->easy = curl_easy_init();
    u->parsed_url = curl_url();
    u->auth_set = -1;
    if (!u->items || !u->device_ids || !u->easy || !u->parsed_url || u->n_items == 0)
        return false;
    for (long d = 0; d < devices; d++)
        snprintf(u->device_ids[d], NAME_LEN, "%.40s-d%ld", u->name, d + 1);
    CURL *h = u->easy;
    curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)u);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, u);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, u);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, u->curl_error);
    if (e->raw) {
        /* The handle only opens the connection; raw.c sends and parses. */
        curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
        curl_easy_setopt(h, CURLOPT_URL, cfg->static_target ? cfg->target : e->run->base);
        curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close_raw_socket);
        curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, u);
        if (!lg_raw_basic_auth(u->name, u->password, u->auth_line, sizeof u->auth_line))
            return false;
    } else {
        curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
        curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, e);
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never through an http_proxy: loopback only */
    /* Set, so libcurl stops reading no_proxy from the environment on every
     * transfer (it is moot: there is no proxy). */
    curl_easy_setopt(h, CURLOPT_NOPROXY, "");
    /* No CURLOPT_USERAGENT: libcurl 7.88 rebuilds the User-Agent header with
     * its own printf on every transfer, about 7,000 instructions, 9% of a
     * request's cost (callgrind, docs/loadgen.md). Jung ignores it and wrk
     * sends none either. */
    return true;
}

static void free_engine(lg_engine *e)
{
    for (long i = 0; e->users && i < e->n_users; i++) {
        lg_user *u = &e->users[i];
        if (u->easy && (u->connecting || (u->busy && !e->raw)))
            curl_multi_remove_handle(e->multi, u->easy);
        if (u->eng) /* initialised: its raw.fd is a descriptor or -1 */
            lg_raw_free(&u->raw);
        if (u->easy)
            curl_easy_cleanup(u->easy);
        curl_url_cleanup(u->parsed_url); /* after the handle that points at it */
        free(u->items);
        free(u->device_ids);
    }
    free(e->users);
    if (e->multi)
        curl_multi_cleanup(e->multi);
    if (e->epoll_fd >= 0)
        close(e->epoll_fd);
    free(e->watch);
    jb_tally_free(&e->tally);
}

static void free_run(lg_run *run)
{
    jb_recorder_close(&run->rec); /* first: queued rows point at the users' names */
    for (long i = 0; run->engines && i < run->n_engines; i++)
        free_engine(&run->engines[i]);
    free(run->engines);
    curl_slist_free_all(run->json_header);
    pthread_cond_destroy(&run->engine_ended);
    pthread_mutex_destroy(&run->lock);
}

/* An engine for users [first, first + n) of the run. */
static bool init_engine(lg_run *run, lg_engine *e, long first, long n, const char *prefix)
{
    e->run = run;
    e->cfg = run->cfg;
    e->timer_at_ms = -1;
    e->sweep_at_ms = -1;
    e->raw = jb_loadgen_uses_raw(run->cfg);
    jb_tally_init(&e->tally);
    e->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epoll_fd < 0) {
        snprintf(run->error, sizeof run->error, "epoll_create1: %s", strerror(errno));
        return false;
    }
    e->multi = curl_multi_init();
    e->users = calloc((size_t)n, sizeof *e->users);
    if (!e->multi || !e->users) {
        snprintf(run->error, sizeof run->error, "out of memory");
        return false;
    }
    e->n_users = n;
    /* One connection per user, as JMeter's threads and wrk's connections. */
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, n);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    for (long i = 0; i < n; i++)
        if (!init_user(e, &e->users[i], first + i, prefix)) {
            snprintf(run->error, sizeof run->error, "out of memory preparing user %ld",
                     first + i + 1);
            return false;
        }
    return true;
}

/* Splits the users into cfg->threads blocks, as even as they divide. */
static bool init_engines(lg_run *run, const char *prefix)
{
    long n = run->cfg->threads;
    run->engines = calloc((size_t)n, sizeof *run->engines);
    if (!run->engines) {
        snprintf(run->error, sizeof run->error, "out of memory");
        return false;
    }
    for (long i = 0; i < n; i++)
        run->engines[i].epoll_fd = -1;
    run->n_engines = n;
    for (long i = 0; i < n; i++) {
        long first = i * run->n_users / n, end = (i + 1) * run->n_users / n;
        if (!init_engine(run, &run->engines[i], first, end - first, prefix))
            return false;
    }
    return true;
}

/* The Host header of the raw transport: the base URL's authority, without
 * user information. */
static void set_host_port(lg_run *run)
{
    const char *start = strstr(run->base, "://");
    start = start ? start + 3 : run->base;
    size_t len = strcspn(start, "/?#");
    const char *at = memchr(start, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - start);
        start = at + 1;
    }
    snprintf(run->host_port, sizeof run->host_port, "%.*s", (int)len, start);
}

static bool init_run(lg_run *run, const jb_loadgen_config *cfg)
{
    memset(run, 0, sizeof *run);
    run->cfg = cfg;
    pthread_mutex_init(&run->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&run->engine_ended, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&run->stop, false);
    atomic_init(&run->failed, false);
    atomic_init(&run->active, 0);
    run->n_users = cfg->users;
    snprintf(run->base, sizeof run->base, "%s", cfg->target);
    size_t len = strlen(run->base);
    while (len > 0 && run->base[len - 1] == '/')
        run->base[--len] = '\0';
    run->base_len = len;
    set_host_port(run);
    char prefix[NAME_LEN];
    if (cfg->user_prefix)
        snprintf(prefix, sizeof prefix, "%s", cfg->user_prefix);
    else /* unique per run, so a second run against the same Jung creates new users */
        snprintf(
            prefix, sizeof prefix, "jb%08lx",
            (unsigned long)(((uint64_t)jb_wall_ms() ^ ((uint64_t)getpid() << 20)) & 0xffffffffu));
    run->json_header = curl_slist_append(NULL, "Content-Type: application/json");
    if (!run->json_header) {
        snprintf(run->error, sizeof run->error, "out of memory");
        return false;
    }
    if (!init_engines(run, prefix))
        return false;
    if (!jb_recorder_open(&run->rec, cfg)) {
        snprintf(run->error, sizeof run->error, "%s", run->rec.error);
        return false;
    }
    return true;
}

/* The static target has no set-up to fail, so probe it once (unrecorded)
 * to tell "unreachable" apart from a measured run full of errors. */
static bool probe_target(lg_run *run)
{
    CURL *h = curl_easy_duphandle(run->engines[0].users[0].easy);
    char errbuf[CURL_ERROR_SIZE] = "";
    lg_user scratch = {0};
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 0L); /* the raw transport's handles only connect */
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, NULL);
    curl_easy_setopt(h, CURLOPT_URL, run->cfg->target);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &scratch);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &scratch);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        snprintf(run->error, sizeof run->error, "cannot reach the target %s: %s", run->cfg->target,
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return false;
    }
    return true;
}

/* The first failed engine's error, which stopped the others. */
static const lg_engine *failed_engine(const lg_run *run)
{
    for (long i = 0; i < run->n_engines; i++)
        if (run->engines[i].failed)
            return &run->engines[i];
    return NULL;
}

static jb_load_result finish(lg_run *run, jb_load_summary *out, char *err, size_t errlen)
{
    jb_tally *tallies[JB_LOADGEN_MAX_THREADS];
    long abandoned = 0;
    for (long i = 0; i < run->n_engines; i++) {
        tallies[i] = &run->engines[i].tally;
        abandoned += run->engines[i].abandoned;
    }
    jb_recorder_summary(tallies, (size_t)run->n_engines, out);
    out->abandoned = abandoned;
    out->stopped = run->stopped;
    const lg_engine *bad = failed_engine(run);
    if (bad)
        snprintf(run->error, sizeof run->error, "%s", bad->error);
    bool failed = run->failed_early || bad;
    if (!failed && !run->setup && !jb_recorder_finish(&run->rec, out)) {
        snprintf(run->error, sizeof run->error, "%s", run->rec.error);
        failed = true;
    }
    jb_load_result result = failed ? JB_LOAD_FAILED : run->stopped ? JB_LOAD_STOPPED : JB_LOAD_OK;
    if (failed)
        snprintf(err, errlen, "%s", run->error);
    free_run(run);
    curl_global_cleanup();
    return result;
}

jb_load_result jb_loadgen_run(const jb_loadgen_config *cfg, jb_load_summary *out, char *err,
                              size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!jb_loadgen_config_check(cfg, err, errlen))
        return JB_LOAD_FAILED;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl failed to initialise");
        return JB_LOAD_FAILED;
    }
    lg_run *run = malloc(sizeof *run);
    if (!run) {
        snprintf(err, errlen, "out of memory");
        curl_global_cleanup();
        return JB_LOAD_FAILED;
    }
    if (!init_run(run, cfg) || (cfg->static_target && !probe_target(run)))
        run->failed_early = true;
    if (!run->failed_early && !cfg->static_target)
        run_phase(run, true);
    bool setup_ended_run = failed_engine(run) || run->stopped || run->failed_early;
    if (!setup_ended_run)
        run_phase(run, false);
    jb_load_result result = finish(run, out, err, errlen);
    free(run);
    return result;
}
