/* engine.c - the event loop: libcurl's multi interface drives every user's
 * easy handle from one thread, as wrk drives its connections from an epoll
 * loop. A user is a small state machine: idle (waiting for its next due
 * time, open model only), busy (its handle is in the multi), or finished. */
#include "loadgen/loadgen.h"
#include "loadgen/recorder.h"

#include <curl/curl.h>
#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cli.h"

/* Jung allows ids of up to 64 characters (docs/rest-api.md). */
enum { NAME_LEN = 72, URL_LEN = 1024, BODY_LEN = 256, SNIPPET_LEN = 512 };

/* How long in-flight requests may finish after a stop request before they
 * are abandoned, and how often progress is reported. */
static const double STOP_GRACE_MS = 2000;
static const double PROGRESS_MS = 250;

typedef struct lg_engine lg_engine;

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
} lg_user;

_Static_assert(sizeof((lg_user *)0)->reason == sizeof((jb_sample *)0)->message,
               "the reason phrase is copied whole into the sample");

struct lg_engine {
    const jb_loadgen_config *cfg;
    CURLM *multi;
    struct curl_slist *json_header;
    lg_user *users;
    long n_users;
    jb_recorder rec;
    char base[URL_LEN / 2];
    bool setup;    /* in the set-up phase */
    bool stopping; /* no new requests */
    bool stopped;  /* stop came from the stop flag, not the end of the work */
    bool failed;   /* set-up refused, target unreachable, or database error */
    char error[2048];
    long active, inflight, done, errors, total, abandoned;
    double start_ms, start_wall_ms, deadline_ms, stop_at_ms, last_progress_ms;
    double interval_ms; /* open model: time between one user's requests */
    int epoll_fd;       /* the sockets libcurl wants watched */
    double timer_at_ms; /* when libcurl wants its timeout action, < 0 for never */
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
    return e->start_wall_ms + (mono_ms - e->start_ms);
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
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, u->eng->json_header);
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
    const char *base = u->eng->base;
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
    const char *base = u->eng->base;
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

static bool start_request(lg_user *u, double now)
{
    lg_engine *e = u->eng;
    if (e->setup)
        build_setup_request(u);
    else
        build_measure_request(u);
    CURL *h = u->easy;
    set_url_and_body(u);
    set_user_auth(u, !e->cfg->static_target && u->kind != JB_REQ_CREATE_USER);
    u->reason[0] = u->response[0] = u->curl_error[0] = '\0';
    u->response_len = 0;
    u->idle_ms = u->due_ms > u->last_done_ms ? u->due_ms - u->last_done_ms : 0;
    u->sent_ms = now;
    if (curl_multi_add_handle(e->multi, h) != CURLM_OK) {
        snprintf(e->error, sizeof e->error, "libcurl refused a request for %s", u->url);
        e->failed = true;
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
static void fill_sample(lg_user *u, CURLcode rc, double done_ms, jb_sample *s)
{
    lg_engine *e = u->eng;
    CURL *h = u->easy;
    memset(s, 0, sizeof *s);
    double due_ms = u->due_ms < u->sent_ms ? u->due_ms : u->sent_ms;
    s->kind = u->kind;
    s->setup = e->setup;
    s->wall_start_ms = wall_of(e, u->sent_ms);
    s->intended_wall_ms = wall_of(e, due_ms);
    s->elapsed_us = (int64_t)llround((done_ms - due_ms) * 1000.0);
    int64_t total = info_us(h, CURLINFO_TOTAL_TIME_T);
    int64_t ttfb = info_us(h, CURLINFO_STARTTRANSFER_TIME_T);
    int64_t after_first_byte = total > ttfb ? total - ttfb : 0;
    s->latency_us =
        ttfb > 0 && s->elapsed_us > after_first_byte ? s->elapsed_us - after_first_byte : 0;
    s->connect_us = info_us(h, CURLINFO_CONNECT_TIME_T);
    s->idle_ms = u->idle_ms;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s->code);
    s->curl_code = (int)rc;
    memcpy(s->message, u->reason, sizeof s->message); /* same size, '\0'-terminated */
    s->success = rc == CURLE_OK && s->code >= 200 && s->code < 400;
    describe_failure(u, s);
    long header_bytes = 0, request_bytes = 0;
    curl_easy_getinfo(h, CURLINFO_HEADER_SIZE, &header_bytes);
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &request_bytes);
    s->bytes = header_bytes + (long)info_us(h, CURLINFO_SIZE_DOWNLOAD_T);
    s->sent_bytes = request_bytes;
    s->thread_name = u->name;
    s->active = e->active;
    s->url = u->url;
    s->seq = u->step;
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
        e->failed = true;
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

static void finish_request(lg_user *u, CURLcode rc)
{
    lg_engine *e = u->eng;
    double now = jb_now_ms();
    curl_multi_remove_handle(e->multi, u->easy);
    u->busy = false;
    u->last_done_ms = now;
    e->inflight--;
    jb_sample s;
    fill_sample(u, rc, now, &s);
    e->done++;
    if (!s.success)
        e->errors++;
    if (e->setup)
        check_setup_response(u, &s);
    if (!jb_recorder_add(&e->rec, &s)) {
        snprintf(e->error, sizeof e->error, "%s", e->rec.error);
        e->failed = true;
    }
    if (e->failed)
        e->stopping = true;
    u->step++;
    advance(u, now);
}

static void finish_user(lg_user *u)
{
    u->finished = true;
    u->eng->active--;
}

/* Decides the user's next request: finished, due now, or due later. With a
 * duration, a request due before the deadline still goes out, however late. */
static void advance(lg_user *u, double now)
{
    lg_engine *e = u->eng;
    if (u->steps >= 0 && u->step >= u->steps) {
        finish_user(u);
        return;
    }
    if (e->stopping)
        return;
    bool scheduled = e->interval_ms > 0 && !e->setup;
    u->due_ms = scheduled ? e->start_ms + (double)u->index * e->interval_ms / (double)e->n_users +
                                (double)u->step * e->interval_ms
                          : now;
    if (e->deadline_ms > 0 && u->due_ms >= e->deadline_ms) {
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
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    lg_engine *e = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(e->epoll_fd, EPOLL_CTL_DEL, fd, NULL); /* may be closed already */
        return 0;
    }
    struct epoll_event ev = {.data.fd = fd};
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    if (epoll_ctl(e->epoll_fd, EPOLL_CTL_MOD, fd, &ev) != 0)
        epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
    return 0;
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
    int n = epoll_wait(e->epoll_fd, events, 64, wait_ms);
    int running = 0;
    for (int i = 0; i < n; i++) {
        int mask = ((events[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                   ((events[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                   ((events[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(e->multi, events[i].data.fd, mask, &running);
    }
    if (e->timer_at_ms >= 0 && jb_now_ms() >= e->timer_at_ms) {
        e->timer_at_ms = -1;
        curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

static bool stop_requested(const lg_engine *e)
{
    const jb_loadgen_config *cfg = e->cfg;
    return cfg->should_stop ? cfg->should_stop(cfg->stop_ctx) : jb_stop_requested();
}

static void report_progress(lg_engine *e, double now, bool force)
{
    if (!e->cfg->progress || (!force && now - e->last_progress_ms < PROGRESS_MS))
        return;
    e->last_progress_ms = now;
    double elapsed = (now - e->start_ms) / 1000.0;
    jb_load_progress p = {
        .phase = e->setup ? "setup" : "measure",
        .done = e->done,
        .total = e->total,
        .errors = e->errors,
        .elapsed_s = elapsed,
        .rate = elapsed > 0 ? (double)e->done / elapsed : 0,
        .duration_s = e->setup ? 0 : e->cfg->duration_s,
    };
    e->cfg->progress(&p, e->cfg->progress_ctx);
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
 * (the stop flag and the batch commits are polled at that pace). */
static int sleep_ms(const lg_engine *e, double now)
{
    double wait = 100;
    if (e->interval_ms > 0 && !e->setup && !e->stopping)
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
    if (now - e->stop_at_ms < STOP_GRACE_MS && !e->failed)
        return false;
    for (long i = 0; i < e->n_users; i++)
        if (e->users[i].busy) {
            curl_multi_remove_handle(e->multi, e->users[i].easy);
            e->users[i].busy = false;
            e->inflight--;
            e->abandoned++;
        }
    return true;
}

static void run_loop(lg_engine *e)
{
    for (;;) {
        double now = jb_now_ms();
        if (!e->stopping && e->active > 0 && stop_requested(e))
            e->stopping = e->stopped = true;
        if (e->stopping && wind_down(e, now))
            break;
        if (e->active == 0 && e->inflight == 0)
            break;
        if (e->interval_ms > 0 && !e->setup)
            start_due_requests(e, now);
        wait_and_act(e, sleep_ms(e, now));
        drain_finished(e);
        now = jb_now_ms();
        if (!jb_recorder_ok(&e->rec)) {
            snprintf(e->error, sizeof e->error, "%s", e->rec.error);
            e->failed = e->stopping = true;
        }
        report_progress(e, now, false);
    }
    report_progress(e, jb_now_ms(), true);
}

static void run_phase(lg_engine *e, bool setup)
{
    const jb_loadgen_config *cfg = e->cfg;
    e->setup = setup;
    e->done = e->errors = 0;
    e->start_ms = jb_now_ms();
    e->start_wall_ms = jb_wall_ms();
    e->deadline_ms = !setup && cfg->duration_s > 0 ? e->start_ms + cfg->duration_s * 1000 : 0;
    e->interval_ms =
        !setup && cfg->model == JB_LOAD_OPEN ? 1000.0 * (double)e->n_users / cfg->rate : 0;
    long setup_steps = 1 + cfg->devices_per_user * (1 + cfg->rules_per_device);
    long steps = setup ? setup_steps : (cfg->duration_s > 0 ? -1 : cfg->requests_per_user);
    e->total = steps > 0 ? steps * e->n_users : 0;
    e->active = e->n_users;
    for (long i = 0; i < e->n_users; i++) {
        lg_user *u = &e->users[i];
        u->step = 0;
        u->steps = steps;
        u->finished = false;
        u->last_done_ms = e->start_ms;
    }
    for (long i = 0; i < e->n_users && !e->stopping; i++)
        advance(&e->users[i], e->start_ms);
    run_loop(e);
}

/* ---- set-up and tear-down of the engine ---------------------------------- */

static bool init_user(lg_engine *e, lg_user *u, long index, const char *prefix)
{
    const jb_loadgen_config *cfg = e->cfg;
    u->eng = e;
    u->index = index;
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
    jb_recorder_close(&e->rec); /* first: queued rows point at the users' names */
    for (long i = 0; e->users && i < e->n_users; i++) {
        lg_user *u = &e->users[i];
        if (u->easy && u->busy)
            curl_multi_remove_handle(e->multi, u->easy);
        if (u->easy)
            curl_easy_cleanup(u->easy);
        curl_url_cleanup(u->parsed_url); /* after the handle that points at it */
        free(u->items);
        free(u->device_ids);
    }
    free(e->users);
    if (e->multi)
        curl_multi_cleanup(e->multi);
    curl_slist_free_all(e->json_header);
    if (e->epoll_fd >= 0)
        close(e->epoll_fd);
}

static bool init_engine(lg_engine *e, const jb_loadgen_config *cfg)
{
    memset(e, 0, sizeof *e);
    e->cfg = cfg;
    e->timer_at_ms = -1;
    e->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epoll_fd < 0) {
        snprintf(e->error, sizeof e->error, "epoll_create1: %s", strerror(errno));
        return false;
    }
    e->n_users = cfg->users;
    snprintf(e->base, sizeof e->base, "%s", cfg->target);
    size_t len = strlen(e->base);
    while (len > 0 && e->base[len - 1] == '/')
        e->base[--len] = '\0';
    char prefix[NAME_LEN];
    if (cfg->user_prefix)
        snprintf(prefix, sizeof prefix, "%s", cfg->user_prefix);
    else /* unique per run, so a second run against the same Jung creates new users */
        snprintf(
            prefix, sizeof prefix, "jb%08lx",
            (unsigned long)(((uint64_t)jb_wall_ms() ^ ((uint64_t)getpid() << 20)) & 0xffffffffu));
    e->multi = curl_multi_init();
    e->json_header = curl_slist_append(NULL, "Content-Type: application/json");
    e->users = calloc((size_t)e->n_users, sizeof *e->users);
    if (!e->multi || !e->json_header || !e->users) {
        snprintf(e->error, sizeof e->error, "out of memory");
        return false;
    }
    /* One connection per user, as JMeter's threads and wrk's connections. */
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long)e->n_users);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    for (long i = 0; i < e->n_users; i++)
        if (!init_user(e, &e->users[i], i, prefix)) {
            snprintf(e->error, sizeof e->error, "out of memory preparing user %ld", i + 1);
            return false;
        }
    if (!jb_recorder_open(&e->rec, cfg)) {
        snprintf(e->error, sizeof e->error, "%s", e->rec.error);
        return false;
    }
    return true;
}

/* The static target has no set-up to fail, so probe it once (unrecorded)
 * to tell "unreachable" apart from a measured run full of errors. */
static bool probe_target(lg_engine *e)
{
    CURL *h = curl_easy_duphandle(e->users[0].easy);
    char errbuf[CURL_ERROR_SIZE] = "";
    lg_user scratch = {0};
    curl_easy_setopt(h, CURLOPT_URL, e->cfg->target);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &scratch);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &scratch);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        snprintf(e->error, sizeof e->error, "cannot reach the target %s: %s", e->cfg->target,
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return false;
    }
    return true;
}

static jb_load_result finish(lg_engine *e, jb_load_summary *out, char *err, size_t errlen)
{
    jb_recorder_summary(&e->rec, out);
    out->abandoned = e->abandoned;
    out->stopped = e->stopped;
    if (!e->failed && !e->setup && !jb_recorder_finish(&e->rec, out)) {
        snprintf(e->error, sizeof e->error, "%s", e->rec.error);
        e->failed = true;
    }
    jb_load_result result = e->failed ? JB_LOAD_FAILED : e->stopped ? JB_LOAD_STOPPED : JB_LOAD_OK;
    if (e->failed)
        snprintf(err, errlen, "%s", e->error);
    free_engine(e);
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
    lg_engine e;
    if (!init_engine(&e, cfg)) {
        e.failed = true;
        return finish(&e, out, err, errlen);
    }
    if (cfg->static_target) {
        if (!probe_target(&e))
            e.failed = true;
    } else {
        run_phase(&e, true);
        if (e.failed || e.stopped)
            return finish(&e, out, err, errlen);
    }
    if (!e.failed)
        run_phase(&e, false);
    return finish(&e, out, err, errlen);
}
