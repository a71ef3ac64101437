/* controller.c - the experiment loop: platforms x iterations over the
 * controller/runner protocol (controller.h, docs/protocol.md), in one lane
 * or, with runner.parallel, one lane per runner. The run's record is
 * run_record.c's, the import of a remote runner's figures results_import.c's. */
#include "controller/controller.h"
#include "controller/ctl.h"
#include "runner/runner.h"
#include "controller/identity.h"
#include "platforms/launch.h"
#include "platforms/platform.h"

#include "cli/cli.h"
#include "bus/bus.h"
#include "store/store.h"
#include "loadgen/loadgen.h"
#include "report/report.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RUN_RESEND_MS 3000.0     /* RUN again while the runner has said nothing */
#define ROW_PARTS_WAIT_MS 5000.0 /* for ROWS parts read after their RESULTS */

static run_progress progress_now(const ctl *c)
{
    pthread_mutex_lock(&c->sh->mu);
    run_progress p = c->sh->progress;
    pthread_mutex_unlock(&c->sh->mu);
    return p;
}

/* One more iteration finished; took_ms < 0 for one not run (skipped, or
 * done before a --resume), which says nothing of how long one takes. */
static void progress_finished(ctl *c, double took_ms)
{
    pthread_mutex_lock(&c->sh->mu);
    run_progress *p = &c->sh->progress;
    p->finished++;
    if (took_ms >= 0) {
        p->iter_ms_sum += took_ms;
        p->iter_ms_n++;
    }
    pthread_mutex_unlock(&c->sh->mu);
}

void ctl_say(const ctl *c, const char *fmt, ...)
{
    if (c->o->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* JB_TRACE=1: time-stamped phase lines on stderr (see runner/job.c). */
static void trace(const ctl *c, const char *what)
{
    const char *on = getenv("JB_TRACE");
    if (on && strcmp(on, "0") != 0)
        fprintf(stderr, "trace %.3f controller %s#%ld %s\n", jb_wall_ms() / 1000, c->run.platform,
                c->run.iteration, what);
}

static void format_duration(double ms, char *out, size_t outlen)
{
    long s = (long)(ms / 1000 + 0.5);
    if (s >= 3600)
        snprintf(out, outlen, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(out, outlen, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(out, outlen, "%lds", s);
}

/* ---- the database ---------------------------------------------------------- */

/* A re-run iteration starts from nothing: rows of an attempt that did not
 * finish (crash, Ctrl-C) would otherwise be counted twice. */
static void delete_partial(ctl *c, const char *platform, long iteration)
{
    if (!jb_store_clear_iteration(&c->store, c->run_id, platform, iteration))
        fprintf(stderr, "jungbench %s: cannot clear iteration %ld of %s: %s\n", CTL_CMD, iteration,
                platform, jb_store_errmsg(&c->store));
}

static const char *iteration_status(ctl *c, const char *platform, long iteration, char *buf,
                                    size_t buflen)
{
    sqlite3_stmt *st = NULL;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(c->store.db,
                           "SELECT status FROM iterations WHERE run_id=?1 AND platform=?2 AND "
                           "iteration=?3",
                           -1, &st, NULL) != SQLITE_OK)
        return buf;
    sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, platform, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, iteration);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, buflen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf;
}

static void record_iteration(ctl *c, const char *platform, long iteration, double started_ms,
                             const char *status, const char *accel, const char *error)
{
    const jb_store_iteration row = {.run_id = c->run_id,
                                    .platform = platform,
                                    .iteration = iteration,
                                    .started_ms = started_ms,
                                    .finished_ms =
                                        strcmp(status, "running") == 0 ? -1 : jb_wall_ms(),
                                    .status = status,
                                    .accel = accel,
                                    .error = error};
    if (!jb_store_put_iteration(&c->store, &row))
        fprintf(stderr, "jungbench %s: cannot record iteration: %s\n", CTL_CMD,
                jb_store_errmsg(&c->store));
}

void ctl_set_run_status(ctl *c, const char *status)
{
    jb_store_set_run_status(&c->store, c->run_id, status,
                            strcmp(status, "running") == 0 ? -1 : jb_wall_ms());
}

/* ---- messages -------------------------------------------------------------- */

/* A message belongs to the iteration in flight when it names it, comes from
 * our runner, and (when it says) answers our RUN rather than an older one
 * for the same iteration (a resumed run). */
static bool is_ours(const ctl *c, const jb_msg *m)
{
    if (!c->run.body || !jb_msg_same_iteration(&c->run, m) || strcmp(m->runner, c->runner_id) != 0)
        return false;
    const char *answers = jb_msg_str(m, "run_msg_id");
    return !answers[0] || strcmp(answers, c->run.msg_id) == 0;
}

static void on_message(ctl *c, jb_msg *m)
{
    if (!is_ours(c, m))
        return; /* other runs, other runners, other controllers' traffic */
    c->heard = true;
    c->last_heard_ms = jb_now_ms();
    if (c->last_heard_ms - c->liveness_last_ms > c->max_gap_ms)
        c->max_gap_ms = c->last_heard_ms - c->liveness_last_ms;
    c->liveness_last_ms = c->last_heard_ms;
    c->messages++;
    if (m->type == JB_MSG_READY && !c->ready)
        c->ready = json_incref(m->body);
    else if (m->type == JB_MSG_RESULTS && !c->results)
        c->results = json_incref(m->body);
    else if (m->type == JB_MSG_ROWS)
        ctl_keep_row_part(c, m);
    else if (m->type == JB_MSG_ERROR && !c->runner_failed) {
        c->runner_failed = true;
        const char *svc = jb_msg_str(m, "service");
        snprintf(c->error, sizeof c->error, "runner '%s' (%s%s%s): %s", m->runner,
                 jb_msg_str(m, "phase"), svc[0] ? ", " : "", svc, jb_msg_str(m, "message"));
    }
}

/* Reads at most one message, waiting up to timeout_ms. */
static void pump(ctl *c, int timeout_ms)
{
    jb_msg m;
    char err[512];
    int rc = jb_kbus_recv(c->bus, &m, timeout_ms, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "jungbench %s: skipped a message: %s\n", CTL_CMD, err);
    if (rc > 0) {
        on_message(c, &m);
        jb_msg_clear(&m);
    }
}

/* Fills c->error with "broker HOST:PORT unreachable since HH:MM:SS (...)"
 * and true when the bus has known the broker to be down; false otherwise. */
static bool broker_down_error(ctl *c, const char *what)
{
    char why[256];
    double down = jb_kbus_down_since(c->bus, why, sizeof why);
    if (down <= 0)
        return false;
    char when[32];
    time_t t = (time_t)(down / 1000);
    struct tm tm;
    strftime(when, sizeof when, "%H:%M:%S", localtime_r(&t, &tm));
    snprintf(c->error, sizeof c->error, "broker %s unreachable since %s (%.0f s; %s): %s",
             c->o->brokers, when, (jb_wall_ms() - down) / 1000, why[0] ? why : "no broker up",
             what);
    c->bus_lost = true;
    return true;
}

static bool send_to_runner(ctl *c, const jb_msg *m)
{
    char err[512];
    if (jb_kbus_send(c->bus, JB_TOPIC_RUNNER, m, err, sizeof err))
        return true;
    if (!broker_down_error(c, err))
        snprintf(c->error, sizeof c->error, "%s", err);
    return false;
}

static void send_stop(ctl *c, const char *reason)
{
    jb_msg stop;
    char err[256];
    if (!jb_msg_init(&stop, JB_MSG_STOP, c->run.run_id, c->run.platform, c->run.iteration,
                     c->runner_id, err, sizeof err))
        return;
    jb_msg_stop(&stop, reason);
    if (!send_to_runner(c, &stop))
        fprintf(stderr, "jungbench %s: %s\n", CTL_CMD, c->error);
    jb_msg_clear(&stop);
}

/* True once the runner has been silent for runner.silence_timeout_ms, with
 * the reason in c->error. Silence has two causes that need different fixes:
 * the broker itself unreachable (librdkafka says so through the bus), or a
 * runner that is gone while the broker is fine. */
static bool silence_exceeded(ctl *c, const char *waiting_for)
{
    double now = jb_now_ms(), silent_ms = now - c->last_heard_ms;
    if (silent_ms < (double)c->cfg->runner.silence_timeout_ms)
        return false;
    char what[160];
    snprintf(what, sizeof what, "no %s from runner '%s' for %.0f s", waiting_for, c->runner_id,
             silent_ms / 1000);
    if (!broker_down_error(c, what)) {
        /* The runner's --broker is this broker as its own host reaches it,
         * which need not be the address this controller uses. */
        snprintf(c->error, sizeof c->error,
                 "runner '%s' is silent: no %s for %.0f s (is `jungbench runner --id %s --broker "
                 "ADDR` running, ADDR reaching the broker this controller reaches at %s?)",
                 c->runner_id, waiting_for, silent_ms / 1000, c->runner_id, c->o->brokers);
    }
    return true;
}

/* How long a busy runner may take from RUN to READY: a guest platform
 * that may run emulated gets the runner's scaled readiness wait
 * (JB_EMULATION_TIMEOUT_SCALE); a silent runner is caught by its heartbeat
 * long before. */
static double ready_wait_ms(const ctl *c, const jb_config_platform *pl)
{
    double ms = (double)c->cfg->runner.ready_timeout_ms;
    bool maybe_emulated = strcmp(pl->driver, "libvirt") == 0 && strcmp(pl->accel, "kvm") != 0;
    return maybe_emulated ? ms * JB_EMULATION_TIMEOUT_SCALE : ms;
}

/* Sends RUN and waits for READY. */
static it_result boot_platform(ctl *c, const jb_config_platform *pl)
{
    double ready_wait = ready_wait_ms(c, pl);
    if (!send_to_runner(c, &c->run))
        return IT_PLATFORM_FAILED;
    c->sent_ms = c->last_heard_ms = c->liveness_last_ms = jb_now_ms();
    c->max_gap_ms = 0;
    c->messages = 0;
    double last_send = c->sent_ms;
    for (;;) {
        pump(c, 100);
        double now = jb_now_ms();
        if (c->ready)
            return IT_DONE;
        if (c->runner_failed)
            return IT_PLATFORM_FAILED;
        if (jb_stop_requested())
            return IT_INTERRUPTED;
        if (!c->heard && now - last_send >= RUN_RESEND_MS) {
            send_to_runner(c, &c->run); /* same msg_id: a duplicate for the runner */
            last_send = now;
        }
        bool waiting_for_known = c->runner_known && !c->heard;
        if (!waiting_for_known && silence_exceeded(c, c->heard ? "heartbeat" : "answer to RUN"))
            return IT_PLATFORM_FAILED;
        if (now - c->sent_ms >= ready_wait) {
            snprintf(c->error, sizeof c->error,
                     "runner '%s' sent no READY within %.0f s of RUN (runner.ready_timeout_ms)%s",
                     c->runner_id, (now - c->sent_ms) / 1000,
                     c->heard ? "" : "; it answered in an earlier iteration and is silent since");
            return IT_PLATFORM_FAILED;
        }
    }
}

/* After STOP: waits for RESULTS or ERROR while the runner keeps talking. */
static void wait_final(ctl *c)
{
    double start = jb_now_ms();
    c->last_heard_ms = start;
    while (!c->results && !c->runner_failed) {
        pump(c, 100);
        if (silence_exceeded(c, "RESULTS after STOP")) {
            c->runner_failed = true;
            return;
        }
    }
    /* The runner sent its ROWS parts before RESULTS, but on a topic of
     * several partitions they may be read after it. */
    double results_at = jb_now_ms();
    while (c->results && ctl_missing_row_parts(c) > 0 &&
           jb_now_ms() - results_at < ROW_PARTS_WAIT_MS)
        pump(c, 100);
}

/* The iteration's runner_liveness row; the silence up to now counts too (a
 * runner that died sends nothing more). */
static void record_liveness(ctl *c, const char *platform, long it)
{
    double tail = jb_now_ms() - c->liveness_last_ms;
    jb_store_runner_liveness l = {.run_id = c->run_id,
                                  .platform = platform,
                                  .runner = c->runner_id,
                                  .iteration = it,
                                  .messages = c->messages,
                                  .max_gap_ms = tail > c->max_gap_ms ? tail : c->max_gap_ms};
    if (!jb_store_set_runner_liveness(&c->store, &l))
        fprintf(stderr, "jungbench %s: cannot record runner_liveness: %s\n", CTL_CMD,
                sqlite3_errmsg(c->store.db));
}

/* ---- the load ------------------------------------------------------------- */

typedef struct load_ctx {
    ctl *c;
    double last_print_ms;
    const char *platform;
    long iteration;
    /* The load runs on its own thread (drive_load); the controller's loop
     * keeps reading the bus and sets stop when the runner fails or falls
     * silent, which the load generator's should_stop reads. */
    atomic_bool stop;
    atomic_bool done;
    jb_loadgen_config lc;
    jb_load_summary *sum;
    jb_load_result result;
    char err[1024];
} load_ctx;

/* The load generator's question, between requests: stop now? */
static bool load_should_stop(void *arg)
{
    load_ctx *l = arg;
    return jb_stop_requested() || atomic_load(&l->stop);
}

static void *load_thread(void *arg)
{
    load_ctx *l = arg;
    l->result = jb_loadgen_run(&l->lc, l->sum, l->err, sizeof l->err);
    atomic_store(&l->done, true);
    return NULL;
}

/* While the load runs: the bus, so a runner's ERROR (a service died) stops
 * the load at once, and so does a runner silent for silence_timeout_ms (a
 * lost broker, a dead runner): its heartbeats go on during the load. */
static void watch_load(ctl *c, load_ctx *l)
{
    while (!atomic_load(&l->done)) {
        pump(c, 100);
        if (!c->runner_failed && silence_exceeded(c, "heartbeat during the load"))
            c->runner_failed = true;
        if (c->runner_failed && !atomic_load(&l->stop)) {
            c->load_stopped_for_error = true;
            atomic_store(&l->stop, true);
        }
    }
}

/* The load's remaining ms at its live rate; -1 before there is a rate. */
static double load_left_ms(const jb_load_progress *p)
{
    if (p->duration_s > 0)
        return fmax(p->duration_s - p->elapsed_s, 0) * 1000;
    if (p->rate > 0 && p->total > 0)
        return (double)(p->total - p->done) / p->rate * 1000;
    return -1;
}

/* ms until the run ends: this iteration's load left, then the iterations
 * after it at the finished ones' mean, or, while the first one runs, at
 * its own time so far plus its load left. -1 when unknown (no rate yet). */
static double run_left_ms(const ctl *c, double load_left)
{
    if (load_left < 0)
        return -1;
    run_progress p = progress_now(c);
    double per_iter =
        p.iter_ms_n ? p.iter_ms_sum / (double)p.iter_ms_n : jb_now_ms() - c->iter_t0 + load_left;
    long after = p.planned - p.finished - 1;
    return load_left + per_iter * (double)(after > 0 ? after : 0) / (double)p.nlanes;
}

/* The live line on a terminal: the load's count, rate and ETA, and the
 * run's elapsed time and ETA from the first iteration on. */
static void load_progress(const jb_load_progress *p, void *arg)
{
    load_ctx *l = arg;
    double now = jb_now_ms();
    run_progress run = progress_now(l->c);
    /* lanes in parallel would overwrite each other's line: they print only
     * their results */
    if (l->c->o->quiet || !isatty(STDOUT_FILENO) || run.nlanes > 1 || now - l->last_print_ms < 500)
        return;
    l->last_print_ms = now;
    char elapsed[32], eta[32] = "?", run_eta[32] = "?";
    format_duration(now - run.run_t0, elapsed, sizeof elapsed);
    double left = load_left_ms(p);
    if (left >= 0)
        format_duration(left, eta, sizeof eta);
    /* the setup phase's rate says nothing of the measured load's: there
     * only finished iterations tell how long this one takes */
    const ctl *c = l->c;
    if (strcmp(p->phase, "measure") != 0)
        left = run.iter_ms_n ? fmax(run.iter_ms_sum / (double)run.iter_ms_n - (now - c->iter_t0), 0)
                             : -1;
    if (left >= 0)
        format_duration(run_left_ms(c, left), run_eta, sizeof run_eta);
    printf("\r  %s #%ld %-7s %ld/%ld requests, %ld errors, %.0f req/s, ETA %s; run %s, ETA %s   ",
           l->platform, l->iteration, p->phase, p->done, p->total, p->errors, p->rate, eta, elapsed,
           run_eta);
    fflush(stdout);
}

static bool loadgen_settings(ctl *c, const char *endpoint, const char *platform, long iteration,
                             load_ctx *l)
{
    jb_loadgen_config *lc = &l->lc;
    const jb_config_workload *w = &c->cfg->workload;
    jb_loadgen_config_defaults(lc);
    lc->target = endpoint;
    lc->users = w->users;
    lc->requests_per_user = w->requests_per_user;
    lc->devices_per_user = w->devices_per_user;
    lc->rules_per_device = w->rules_per_device;
    memset(&lc->mix, 0, sizeof lc->mix);
    for (size_t i = 0; i < w->nmix; i++)
        if (!jb_loadgen_mix_add(&lc->mix, w->mix[i].label, w->mix[i].count, c->error,
                                sizeof c->error))
            return false;
    lc->seed = w->seed;
    lc->shuffle = w->shuffle;
    lc->model = strcmp(w->model, "open") == 0 ? JB_LOAD_OPEN : JB_LOAD_CLOSED;
    lc->rate = w->rate;
    /* An emulated gateway's own calls may take JB_EMULATION_TIMEOUT_SCALE
     * times their usual timeout: cutting its answers shorter would count
     * as errors what the platform does answer. */
    const char *accel = json_string_value(json_object_get(c->ready, "accel"));
    bool emulated = accel && strcmp(accel, "emulated") == 0;
    lc->timeout_ms = w->timeout_ms * (emulated ? JB_EMULATION_TIMEOUT_SCALE : 1);
    lc->store = &c->store;
    lc->run_id = c->run_id;
    lc->platform = platform;
    lc->iteration = iteration;
    l->c = c;
    l->platform = platform;
    l->iteration = iteration;
    lc->should_stop = load_should_stop;
    lc->stop_ctx = l;
    lc->progress = load_progress;
    lc->progress_ctx = l;
    return jb_loadgen_config_check(lc, c->error, sizeof c->error);
}

static it_result drive_load_with(ctl *c, const char *endpoint, const char *platform, long iteration,
                                 jb_load_summary *sum, load_ctx *l)
{
    if (!loadgen_settings(c, endpoint, platform, iteration, l))
        return IT_PLATFORM_FAILED;
    const char *gateway_id = json_string_value(json_object_get(c->ready, "gateway_id"));
    if (!jb_gateway_identity_check(endpoint, gateway_id, l->lc.timeout_ms, c->error,
                                   sizeof c->error))
        return IT_FAILED;
    l->sum = sum;
    pthread_t thread;
    if (pthread_create(&thread, NULL, load_thread, l) != 0)
        return snprintf(c->error, sizeof c->error, "cannot start the load thread"),
               IT_PLATFORM_FAILED;
    watch_load(c, l);
    pthread_join(thread, NULL);
    if (!c->load_stopped_for_error && l->err[0]) /* else c->error holds the runner's ERROR */
        snprintf(c->error, sizeof c->error, "%s", l->err);
    if (!c->o->quiet && isatty(STDOUT_FILENO) && progress_now(c).nlanes == 1)
        printf("\r%*s\r", 140, "");
    if (l->result == JB_LOAD_OK)
        return IT_DONE;
    if (l->result == JB_LOAD_STOPPED && !c->load_stopped_for_error)
        return IT_INTERRUPTED;
    return IT_FAILED; /* c->error: the load generator's reason or the runner's ERROR */
}

static it_result drive_load(ctl *c, const char *platform, long iteration, jb_load_summary *sum)
{
    const char *endpoint = json_string_value(json_object_get(c->ready, "endpoint"));
    if (!endpoint || !endpoint[0]) {
        snprintf(c->error, sizeof c->error,
                 "READY named no endpoint (no api_gateway in services?)");
        return IT_PLATFORM_FAILED;
    }
    load_ctx *l = calloc(1, sizeof *l);
    if (!l)
        return snprintf(c->error, sizeof c->error, "out of memory"), IT_PLATFORM_FAILED;
    it_result r = drive_load_with(c, endpoint, platform, iteration, sum, l);
    free(l);
    return r;
}

/* ---- one iteration ---------------------------------------------------------- */

static void reset_iteration(ctl *c)
{
    jb_msg_clear(&c->run);
    json_decref(c->ready);
    json_decref(c->results);
    json_decref(c->row_parts);
    c->ready = c->results = c->row_parts = NULL;
    c->runner_failed = c->heard = c->load_stopped_for_error = c->bus_lost = false;
    c->error[0] = c->import_warning[0] = '\0';
}

static it_result run_iteration(ctl *c, const jb_config_platform *pl, long it, jb_load_summary *sum)
{
    reset_iteration(c);
    memset(sum, 0, sizeof *sum);
    c->runner_id = jb_config_platform_runner(c->cfg, pl);
    if (!jb_msg_init(&c->run, JB_MSG_RUN, c->run_id, pl->name, it, c->runner_id, c->error,
                     sizeof c->error) ||
        !jb_msg_run(&c->run, c->o->config_text, c->db_path))
        return IT_PLATFORM_FAILED;
    json_object_set_new(c->run.body, "topic_prefix", json_string(c->topic_prefix));
    json_t *services = json_array();
    for (size_t i = 0; i < c->cfg->nservices; i++)
        json_array_append_new(services,
                              json_pack("{s:s, s:I}", "name", c->cfg->services[i].name, "replicas",
                                        (json_int_t)c->cfg->services[i].replicas));
    json_object_set_new(c->run.body, "services", services);
    trace(c, "RUN sent");
    it_result r = boot_platform(c, pl);
    trace(c, "READY received");
    bool silent = r == IT_PLATFORM_FAILED && !c->heard;
    if (r == IT_DONE)
        r = drive_load(c, pl->name, it, sum);
    trace(c, "load done");
    /* STOP in every case (a runner still booting tears down when done). */
    char saved[sizeof c->error];
    snprintf(saved, sizeof saved, "%s", c->error);
    /* With the broker gone a STOP cannot be delivered and no RESULTS can
     * come: waiting another silence period would only delay the verdict. */
    if (!c->bus_lost)
        send_stop(c, r == IT_DONE ? "done" : r == IT_INTERRUPTED ? "interrupted" : "failed");
    if (!silent && !c->runner_failed && !c->bus_lost)
        wait_final(c);
    trace(c, "RESULTS received");
    record_liveness(c, pl->name, it);
    if (saved[0] && r != IT_DONE)
        snprintf(c->error, sizeof c->error, "%s", saved); /* the first cause, not the echo */
    if (r == IT_DONE && c->runner_failed)
        r = IT_FAILED; /* teardown or metrics failed: the iteration is not complete */
    if (r != IT_DONE && jb_stop_requested()) {
        /* A failure during Ctrl-C is the interruption's doing (the platform
         * is torn down under the load), not a finding. */
        r = IT_INTERRUPTED;
        snprintf(c->error, sizeof c->error, "interrupted by signal %d", jb_stop_signal());
    }
    if (r == IT_DONE && c->results) {
        ctl_import_from_messages(c, pl->name, it);
        const char *warning = json_string_value(json_object_get(c->results, "warning"));
        if (!warning && c->import_warning[0])
            warning = c->import_warning;
        if (warning) /* kept in iterations.error of a done iteration */
            snprintf(c->error, sizeof c->error, "warning: %s", warning);
    }
    return r;
}

/* ---- the run ------------------------------------------------------------------ */

static void print_result(ctl *c, const jb_config_platform *pl, long it, it_result r,
                         const jb_load_summary *sum, double took_ms)
{
    char took[32], elapsed[32], eta[80];
    run_progress p = progress_now(c);
    format_duration(took_ms, took, sizeof took);
    format_duration(jb_now_ms() - p.run_t0, elapsed, sizeof elapsed);
    snprintf(eta, sizeof eta, "; run %s", elapsed);
    long left = p.planned - p.finished;
    if (p.iter_ms_n > 0 && left > 0) {
        char d[32];
        format_duration(p.iter_ms_sum / (double)p.iter_ms_n * (double)left / (double)p.nlanes, d,
                        sizeof d);
        snprintf(eta, sizeof eta, "; run %s, ETA %s", elapsed, d);
    }
    if (r == IT_DONE && c->error[0])
        ctl_say(c, "  %s #%ld %s\n", pl->name, it, c->error);
    if (r == IT_INTERRUPTED)
        eta[0] = '\0'; /* the run ends here */
    if (r == IT_DONE)
        ctl_say(c,
                "[%ld/%ld] %s #%ld done in %s: %ld requests, %ld errors, %.0f req/s, p50 %.2f ms, "
                "p99 %.2f ms%s\n",
                p.finished, p.planned, pl->name, it, took, sum->samples, sum->errors,
                sum->throughput, sum->p50_ms, sum->p99_ms, eta);
    else
        ctl_say(c, "[%ld/%ld] %s #%ld %s after %s: %s%s\n", p.finished, p.planned, pl->name, it,
                r == IT_INTERRUPTED ? "interrupted" : "FAILED", took, c->error, eta);
}

/* Runs one platform's iterations; false when the whole run must end. */
static bool run_platform(ctl *c, const jb_config_platform *pl, bool *any_failed)
{
    bool runner_answered = false;
    for (long it = 1; it <= c->cfg->iterations && !jb_stop_requested() && !atomic_load(&c->sh->end);
         it++) {
        char status[32];
        iteration_status(c, pl->name, it, status, sizeof status);
        if (strcmp(status, "done") == 0 || strcmp(status, "failed") == 0) {
            progress_finished(c, -1);
            *any_failed |= strcmp(status, "failed") == 0;
            continue; /* --resume: finished before */
        }
        delete_partial(c, pl->name, it);
        double started = jb_wall_ms(), t0 = jb_now_ms();
        c->iter_t0 = t0;
        record_iteration(c, pl->name, it, started, "running", NULL, NULL);
        jb_load_summary sum;
        c->runner_known = runner_answered;
        it_result r = run_iteration(c, pl, it, &sum);
        runner_answered |= c->heard;
        const char *accel = json_string_value(json_object_get(c->ready, "accel"));
        static const char *const status_of[] = {"done", "failed", "failed", "interrupted"};
        record_iteration(c, pl->name, it, started, status_of[r], accel, c->error);
        trace(c, "iteration recorded");
        if (r != IT_INTERRUPTED)
            progress_finished(c, jb_now_ms() - t0);
        print_result(c, pl, it, r, &sum, jb_now_ms() - t0);
        if (r == IT_INTERRUPTED)
            return false;
        if (r == IT_DONE)
            continue;
        *any_failed = true;
        if (c->cfg->stop_on_failure)
            return false;
        if (r == IT_PLATFORM_FAILED) {
            for (long rest = it + 1; rest <= c->cfg->iterations; rest++) {
                char why[2200];
                snprintf(why, sizeof why, "skipped: iteration %ld could not boot the platform: %s",
                         it, c->error);
                record_iteration(c, pl->name, rest, jb_wall_ms(), "skipped", NULL, why);
                progress_finished(c, -1);
            }
            ctl_say(c, "  %s: remaining iterations skipped; going on with the next platform\n",
                    pl->name);
            return true;
        }
    }
    return true;
}

/* ---- lanes ---------------------------------------------------------------- */

static jb_kbus *open_bus(const ctl *c, char *err, size_t errlen)
{
    return jb_kbus_open(c->o->brokers, c->cfg->broker.properties, c->cfg->broker.nproperties,
                        JB_TOPIC_CONTROLLER, "jungbench-controller", 10000, err, errlen);
}

/* Lane k > 0 of the run c opened: the run's identity, a connection of its
 * own to results.db (SQLite serialises the writers), a bus client of its
 * own (each reads every message and keeps its runner's) and its own Jung
 * topic prefix. NULL with the reason in err. */
static ctl *open_lane(const ctl *c, size_t k, char *err, size_t errlen)
{
    ctl *l = calloc(1, sizeof *l);
    if (!l)
        return snprintf(err, errlen, "out of memory"), NULL;
    l->o = c->o;
    l->cfg = c->cfg;
    l->sh = c->sh;
    l->lock_fd = -1;
    l->runner_id = c->cfg->runner.id;
    l->go_on = true;
    snprintf(l->run_id, sizeof l->run_id, "%s", c->run_id);
    snprintf(l->dir, sizeof l->dir, "%s", c->dir);
    snprintf(l->db_path, sizeof l->db_path, "%s", c->db_path);
    if (jb_launch_lane_topic_prefix(c->cfg, c->topic_prefix, k, l->topic_prefix,
                                    sizeof l->topic_prefix, err, errlen) &&
        jb_store_open(&l->store, l->db_path, err, errlen) && (l->bus = open_bus(l, err, errlen)))
        return l;
    jb_store_close(&l->store);
    free(l);
    return NULL;
}

static void close_lane(ctl *l)
{
    reset_iteration(l);
    jb_kbus_close(l->bus);
    jb_store_close(&l->store);
    free(l);
}

/* Splits the config's platforms into lanes: one holding all of them, in
 * config order, or with runner.parallel one per runner, in the order the
 * runners first appear. lanes[0] is c; the others are opened here. The
 * number of lanes, 0 when one cannot be opened (said on stderr). */
static size_t plan_lanes(ctl *c, ctl *lanes[JB_CFG_MAX_PLATFORMS])
{
    const char *runner_of_lane[JB_CFG_MAX_PLATFORMS];
    size_t n = 0;
    lanes[0] = c;
    for (size_t p = 0; p < c->cfg->nplatforms; p++) {
        const jb_config_platform *pl = &c->cfg->platforms[p];
        const char *runner = jb_config_platform_runner(c->cfg, pl);
        size_t k = 0;
        while (k < n && c->cfg->runner.parallel && strcmp(runner_of_lane[k], runner) != 0)
            k++;
        if (k == n) {
            char err[1024];
            if (n > 0 && !(lanes[n] = open_lane(c, n, err, sizeof err))) {
                jb_fail(CTL_CMD, "cannot open the lane of runner '%s': %s", runner, err);
                for (size_t i = 1; i < n; i++)
                    close_lane(lanes[i]);
                return 0;
            }
            runner_of_lane[n++] = runner;
        }
        lanes[k]->lane[lanes[k]->nlane++] = pl;
    }
    return n;
}

/* One lane's platforms, in turn; a lane that must end the run says so to
 * the others. */
static void run_lane(ctl *c)
{
    for (size_t i = 0; i < c->nlane && c->go_on && !atomic_load(&c->sh->end); i++)
        c->go_on = run_platform(c, c->lane[i], &c->any_failed);
    if (!c->go_on)
        atomic_store(&c->sh->end, true);
}

static void *lane_thread(void *arg)
{
    run_lane(arg);
    return NULL;
}

/* Every lane to its end: lane 0 on this thread, the others on their own.
 * True when some iteration failed. */
static bool run_lanes(ctl *lanes[], size_t n)
{
    pthread_t threads[JB_CFG_MAX_PLATFORMS];
    bool started[JB_CFG_MAX_PLATFORMS] = {false};
    for (size_t k = 1; k < n; k++)
        started[k] = pthread_create(&threads[k], NULL, lane_thread, lanes[k]) == 0;
    run_lane(lanes[0]);
    bool any_failed = false;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && started[k])
            pthread_join(threads[k], NULL);
        else if (k > 0)
            run_lane(lanes[k]); /* no thread to spare: in turn, as without parallel */
        any_failed |= lanes[k]->any_failed;
    }
    return any_failed;
}

int jb_controller_run(const jb_controller_options *o)
{
    ctl *c = calloc(1, sizeof *c);
    ctl_shared *sh = calloc(1, sizeof *sh);
    if (!c || !sh) {
        free(c);
        free(sh);
        return jb_fail(CTL_CMD, "out of memory");
    }
    pthread_mutex_init(&sh->mu, NULL);
    c->sh = sh;
    c->o = o;
    c->cfg = c->o->cfg;
    c->runner_id = c->cfg->runner.id;
    c->go_on = true;
    jb_launch_new_topic_prefix(c->cfg, c->topic_prefix, sizeof c->topic_prefix);
    c->lock_fd = -1;
    /* Held for the whole run: parallel lanes' load generators then only
     * count references, and never initialise libcurl at the same time. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = JB_EXIT_FAIL;
    ctl *lanes[JB_CFG_MAX_PLATFORMS] = {NULL};
    size_t nlanes = 0;
    if (!ctl_open_run(c))
        goto out;
    char err[1024];
    if (!(c->bus = open_bus(c, err, sizeof err))) {
        jb_fail(CTL_CMD, "%s", err);
        ctl_set_run_status(c, "failed");
        goto out;
    }
    if (!(nlanes = plan_lanes(c, lanes))) {
        ctl_set_run_status(c, "failed");
        goto out;
    }
    sh->progress = (run_progress){.planned = (long)c->cfg->nplatforms * c->cfg->iterations,
                                  .run_t0 = jb_now_ms(),
                                  .nlanes = nlanes};
    ctl_say(c, "run %s: %zu platform(s) x %ld iteration(s), results in %s\n", c->run_id,
            c->cfg->nplatforms, c->cfg->iterations, c->dir);
    if (nlanes > 1)
        ctl_say(c, "runner.parallel: the platforms of %zu runners run at the same time\n", nlanes);
    bool any_failed = run_lanes(lanes, nlanes);
    rc = ctl_finish_run(c, jb_stop_requested(), any_failed);
out:
    for (size_t k = 1; k < nlanes; k++)
        close_lane(lanes[k]);
    reset_iteration(c);
    jb_kbus_close(c->bus);
    jb_store_close(&c->store);
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    curl_global_cleanup();
    pthread_mutex_destroy(&sh->mu);
    free(sh);
    free(c);
    return rc;
}
