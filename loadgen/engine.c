/* engine.c - the event loops: libcurl's multi interface drives the users'
 * connections, as wrk drives its connections from an epoll loop. With
 * --threads N there are N engines, each a thread with its own multi handle,
 * epoll set and block of users (wrk's -t); they share only the recorder's
 * queue and a few atomics. The calling thread supervises: it polls the stop
 * flag and reports progress, so the caller's callbacks run on its own
 * thread. A user is a small state machine: idle (waiting for its next due
 * time, open model only), busy (its request is with the transport), or
 * finished. The engine builds each request and records each answer; what
 * carries it is the engine's transport (transport.h: curl_transport.c, or
 * raw_transport.c, where the multi handle only opens connections). */
#include "loadgen/engine_internal.h"

#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* How long in-flight requests may finish after a stop request before they
 * are abandoned, and how often progress is reported. */
static const double STOP_GRACE_MS = 2000;
static const double PROGRESS_MS = 250;
/* How often the supervising thread polls the stop flag. */
static const long SUPERVISE_MS = 20;

_Static_assert(sizeof((lg_user *)0)->reason == sizeof((jb_sample *)0)->message,
               "the reason phrase is copied whole into the sample");

/* ---- what the transports use ---------------------------------------------- */

void lg_engine_fail(lg_engine *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->error, sizeof e->error, fmt, ap);
    va_end(ap);
    e->failed = e->stopping = true;
    atomic_store(&e->run->failed, true);
    atomic_store(&e->run->stop, true);
}

bool lg_multi_add(lg_user *u)
{
    if (curl_multi_add_handle(u->eng->multi, u->easy) != CURLM_OK)
        return false;
    u->in_multi = true;
    return true;
}

void lg_multi_remove(lg_user *u)
{
    curl_multi_remove_handle(u->eng->multi, u->easy);
    u->in_multi = false;
}

void lg_forget_socket(lg_engine *e, curl_socket_t fd)
{
    if (fd >= 0 && (size_t)fd < e->n_watch)
        e->watch[fd] = (lg_watch){0};
}

/* ---- building requests -------------------------------------------------- */

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

/* Every request but the one creating the user sends its credentials. */
static bool needs_auth(const lg_user *u)
{
    return !u->eng->cfg->static_target && u->kind != JB_REQ_CREATE_USER;
}

/* Builds the user's next request and hands it to the transport. */
static bool start_request(lg_user *u, double now)
{
    lg_engine *e = u->eng;
    if (e->run->setup)
        build_setup_request(u);
    else
        build_measure_request(u);
    u->reason[0] = u->response[0] = u->curl_error[0] = '\0';
    u->response_len = 0;
    u->idle_ms = u->due_ms > u->last_done_ms ? u->due_ms - u->last_done_ms : 0;
    u->sent_ms = now;
    /* Busy before the transport has it: an answer may be recorded (and
     * the user's next request started) before start returns. */
    u->busy = true;
    e->inflight++;
    if (e->ops->start(u, needs_auth(u), now))
        return true;
    u->busy = false;
    e->inflight--;
    return false;
}

/* ---- finished requests -------------------------------------------------- */

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
 * the loop saw the request end, as wrk measures from its own write to its
 * own read: whatever delays the answer, on either side, is in the figure. */
double lg_due_ms(const lg_user *u)
{
    return u->due_ms < u->sent_ms ? u->due_ms : u->sent_ms;
}

static double wall_of(const lg_engine *e, double mono_ms)
{
    return e->run->start_wall_ms + (mono_ms - e->run->start_ms);
}

void lg_sample_init(lg_user *u, double done_ms, jb_sample *s)
{
    lg_engine *e = u->eng;
    memset(s, 0, sizeof *s);
    double due_ms = lg_due_ms(u);
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

/* A refused or unreachable set-up ends the run before any measurement. */
static void check_setup_response(lg_user *u, const jb_sample *s)
{
    lg_engine *e = u->eng;
    if (!s->success) {
        if (s->code == 0)
            lg_engine_fail(e, "cannot reach the target %s: %s", e->cfg->target, s->failure);
        else
            lg_engine_fail(e, "set-up refused: POST %s answered %s", u->url, s->failure);
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

/* Judges a finished request, records it and moves the user on. */
void lg_request_done(lg_user *u, jb_sample *s, double now)
{
    lg_engine *e = u->eng;
    s->success = s->curl_code == CURLE_OK && s->code >= 200 && s->code < 400;
    describe_failure(u, s);
    u->busy = false;
    u->last_done_ms = now;
    e->inflight--;
    atomic_fetch_add_explicit(&e->done, 1, memory_order_relaxed);
    if (!s->success)
        atomic_fetch_add_explicit(&e->errors, 1, memory_order_relaxed);
    if (e->run->setup)
        check_setup_response(u, s);
    if (!jb_recorder_add(&e->run->rec, &e->tally, s))
        lg_engine_fail(e, "%s", e->tally.error);
    u->step++;
    advance(u, now);
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
 * leaves it by being closed (the transport's CURLOPT_CLOSESOCKETFUNCTION
 * forgets it, lg_forget_socket). */
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
    struct epoll_event ev = {.data.u64 = (uint64_t)fd
                                         << 1}; /* low bit 0: libcurl's (lg_user_tag) */
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

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    lg_engine *e = userp;
    e->timer_at_ms = timeout_ms < 0 ? -1 : jb_now_ms() + (double)timeout_ms;
    return 0;
}

/* Waits up to wait_ms for sockets, libcurl's timer or the transport's
 * sweep, and lets libcurl or the transport act. */
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
            e->ops->socket_event(u, events[i].events);
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
        e->ops->transfer_done(u, msg->data.result);
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
            e->ops->abandon(u);
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
            e->ops->sweep_timeouts(e, jb_now_ms());
        if (!e->failed && !jb_recorder_ok(&e->run->rec))
            lg_engine_fail(e, "%s", e->run->rec.error);
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

/* The options every user's handle has, whichever transport carries its
 * requests. */
static void set_common_options(lg_user *u)
{
    CURL *h = u->easy;
    curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)u);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, u->curl_error);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, u->eng->cfg->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never through an http_proxy: loopback only */
    /* Set, so libcurl stops reading no_proxy from the environment on every
     * transfer (it is moot: there is no proxy). */
    curl_easy_setopt(h, CURLOPT_NOPROXY, "");
    /* No CURLOPT_USERAGENT: libcurl 7.88 rebuilds the User-Agent header with
     * its own printf on every transfer, about 7,000 instructions, 9% of a
     * request's cost (callgrind, docs/loadgen.md). Jung ignores it and wrk
     * sends none either. */
}

/* u->eng is set last, just before the transport's part is set up: from then
 * on free_engine hands the user to the transport's free_user. */
static bool init_user(lg_engine *e, lg_user *u, long index, const char *prefix)
{
    const jb_loadgen_config *cfg = e->cfg;
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
    if (!u->items || !u->device_ids || !u->easy || u->n_items == 0)
        return false;
    for (long d = 0; d < devices; d++)
        snprintf(u->device_ids[d], NAME_LEN, "%.40s-d%ld", u->name, d + 1);
    u->eng = e;
    set_common_options(u);
    return e->ops->init_user(u);
}

static void free_engine(lg_engine *e)
{
    for (long i = 0; e->users && i < e->n_users; i++) {
        lg_user *u = &e->users[i];
        if (u->in_multi)
            lg_multi_remove(u);
        if (u->easy)
            curl_easy_cleanup(u->easy);
        if (u->eng)
            e->ops->free_user(u);
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
    e->ops = jb_loadgen_uses_raw(run->cfg) ? &lg_raw_transport : &lg_curl_transport;
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
    if (!init_engines(run, prefix))
        return false;
    if (!jb_recorder_open(&run->rec, cfg)) {
        snprintf(run->error, sizeof run->error, "%s", run->rec.error);
        return false;
    }
    return true;
}

static size_t discard(char *data, size_t size, size_t nmemb, void *userp)
{
    return size * nmemb;
}

/* The static target has no set-up to fail, so probe it once (unrecorded)
 * to tell "unreachable" apart from a measured run full of errors. The
 * probe is a plain transfer on a copy of a user's handle (its common
 * options), whichever transport the run uses; its answer is not kept. */
static bool probe_target(lg_run *run)
{
    CURL *h = curl_easy_duphandle(run->engines[0].users[0].easy);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 0L); /* the raw transport's handles only connect */
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, NULL);
    curl_easy_setopt(h, CURLOPT_URL, run->cfg->target);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, discard);
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
