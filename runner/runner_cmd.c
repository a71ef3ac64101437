/* runner_cmd.c - `jungbench runner`: the machine-under-test side of the
 * controller/runner protocol (docs/protocol.md).
 *
 * The main thread owns the bus: it reads RUN and STOP from the `runner`
 * topic, starts a job thread per platform iteration (runner/job.c), and
 * reports the job's progress on `controller`: HEARTBEAT while busy, READY
 * once Jung is up, RESULTS (or ERROR) once it is torn down. Rules that make
 * duplicates and restarts harmless:
 *   - a RUN whose msg_id is the active job's is a redelivery: READY is sent
 *     again if Jung is up, otherwise nothing happens;
 *   - any other RUN supersedes the active job (its controller gave up on it,
 *     e.g. after a crash and --resume): the job is torn down, reported as
 *     ERROR, and the new one starts;
 *   - STOP for the active iteration stops it (again: no-op); STOP for the
 *     iteration just finished re-sends its RESULTS/ERROR; any other STOP is
 *     ignored with a log line.
 */
#include "runner/runner.h"

#include "cli/cli.h"
#include "bus/bus.h"
#include "runner/job.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUNNER_CMD "runner"

typedef struct runner {
    const jb_runner_options *opts;
    jb_kbus *bus;
    runner_job *job;
    bool ready_sent;
    bool early_error_sent;
    bool stop_received; /* the job's STOP arrived: it is tearing down as asked */
    double last_sent_ms;
    jb_msg last_final;         /* the RESULTS/ERROR of the last finished job, for duplicates */
    jb_broker_spare own_spare; /* when the options bring none */
    jb_broker_spare *spare;    /* the next iteration's embedded broker (broker/spare.h) */
} runner;

static void logf_(const runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const runner *r, const char *fmt, ...)
{
    if (r->opts->quiet)
        return;
    fprintf(stderr, "jungbench runner %s: ", r->opts->id);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void send_msg(runner *r, const jb_msg *msg)
{
    char err[512];
    if (!jb_kbus_send(r->bus, JB_TOPIC_CONTROLLER, msg, err, sizeof err))
        logf_(r, "%s", err);
    r->last_sent_ms = jb_now_ms();
}

/* A message about the iteration of `about`, with body (stolen) as its fields. */
static bool make_reply(runner *r, const jb_msg *about, jb_msg_type type, json_t *body, jb_msg *out)
{
    char err[256];
    if (!jb_msg_init(out, type, about->run_id, about->platform, about->iteration, r->opts->id, err,
                     sizeof err)) {
        json_decref(body);
        logf_(r, "%s", err);
        return false;
    }
    if (body) {
        json_object_update(out->body, body);
        json_decref(body);
    }
    /* Which RUN this answers: a resumed controller re-sends RUN for the
     * same iteration and must not take the old RUN's answers for its own. */
    if (r->job && jb_msg_same_iteration(&r->job->run, about))
        json_object_set_new(out->body, "run_msg_id", json_string(r->job->run.msg_id));
    return true;
}

static void send_error(runner *r, const jb_msg *about, const char *phase, const char *service,
                       const char *text)
{
    jb_msg msg;
    if (!make_reply(r, about, JB_MSG_ERROR, NULL, &msg))
        return;
    jb_msg_error(&msg, phase, service, text);
    logf_(r, "ERROR %s %s#%ld: %s", about->run_id, about->platform, about->iteration, text);
    send_msg(r, &msg);
    jb_msg_clear(&msg);
}

/* ---- the active job ------------------------------------------------------------ */

/* Joins a finished job and sends (and keeps) its RESULTS or ERROR. */
/* The ROWS parts of a finished job, before its RESULTS (whose `parts`
 * says how many the controller waits for). */
static void send_row_parts(runner *r, runner_job *job, const json_t *row_parts)
{
    const char *table = NULL;
    long part = 0, parts = 0;
    size_t i;
    const json_t *p;
    json_array_foreach(row_parts, i, p)
    {
        const char *t = json_string_value(json_object_get(p, "table"));
        if (!table || strcmp(t, table) != 0) {
            table = t;
            part = 0;
            parts = (long)json_integer_value(
                json_object_get(json_object_get(job->results_body, "parts"), t));
        }
        jb_msg m;
        if (!make_reply(r, &job->run, JB_MSG_ROWS, NULL, &m))
            continue;
        if (jb_msg_rows(&m, t, ++part, parts, json_incref(json_object_get(p, "rows"))))
            send_msg(r, &m);
        jb_msg_clear(&m);
    }
}

static void finish_job(runner *r)
{
    runner_job *job = r->job;
    jb_msg final;
    bool ok = runner_job_state(job) == JOB_DONE;
    json_t *body;
    pthread_mutex_lock(&job->mu);
    if (ok) {
        send_row_parts(r, job, job->row_parts);
        body = json_incref(job->results_body);
    } else {
        body = json_pack("{s:s, s:s, s:s}", "phase", job->err_phase[0] ? job->err_phase : "run",
                         "service", job->err_service, "message",
                         job->err_text[0] ? job->err_text : "stopped");
    }
    pthread_mutex_unlock(&job->mu);
    if (make_reply(r, &job->run, ok ? JB_MSG_RESULTS : JB_MSG_ERROR, body, &final)) {
        logf_(r, "%s %s %s#%ld%s%s", ok ? "RESULTS" : "ERROR", job->run.run_id, job->run.platform,
              job->run.iteration, ok ? "" : ": ", ok ? "" : jb_msg_str(&final, "message"));
        send_msg(r, &final);
        jb_msg_clear(&r->last_final);
        r->last_final = final;
    }
    runner_job_free(job);
    r->job = NULL;
}

static void send_ready(runner *r)
{
    jb_msg ready;
    pthread_mutex_lock(&r->job->mu);
    json_t *body = json_incref(r->job->ready_body);
    pthread_mutex_unlock(&r->job->mu);
    if (!make_reply(r, &r->job->run, JB_MSG_READY, body, &ready))
        return;
    logf_(r, "READY %s %s#%ld at %s", ready.run_id, ready.platform, ready.iteration,
          jb_msg_str(&ready, "endpoint"));
    send_msg(r, &ready);
    jb_msg_clear(&ready);
    r->ready_sent = true;
}

static void send_heartbeat(runner *r, job_state state)
{
    static const char *const names[] = {"booting", "ready", "stopping", "stopping", "stopping"};
    jb_msg hb;
    if (!make_reply(r, &r->job->run, JB_MSG_HEARTBEAT, NULL, &hb))
        return;
    jb_msg_heartbeat(&hb, names[state]);
    send_msg(r, &hb);
    jb_msg_clear(&hb);
}

/* A service that died under load is reported at once, before the teardown:
 * the controller stops the load rather than measuring a dying platform. */
static void report_early_error(runner *r)
{
    runner_job *job = r->job;
    char service[64] = "", text[2048] = "";
    pthread_mutex_lock(&job->mu);
    if (strcmp(job->err_phase, "run") == 0) {
        snprintf(service, sizeof service, "%s", job->err_service);
        snprintf(text, sizeof text, "%s", job->err_text);
    }
    pthread_mutex_unlock(&job->mu);
    if (!text[0])
        return;
    r->early_error_sent = true;
    send_error(r, &job->run, "run", service, text);
}

/* Reports what the job did since the last look. */
static void watch_job(runner *r)
{
    if (!r->job)
        return;
    if (!r->early_error_sent)
        report_early_error(r);
    job_state state = runner_job_state(r->job);
    if (state == JOB_DONE || state == JOB_FAILED) {
        finish_job(r);
        return;
    }
    if (state == JOB_READY && !r->ready_sent) {
        send_ready(r);
        return;
    }
    if (jb_now_ms() - r->last_sent_ms >= r->opts->heartbeat_ms)
        send_heartbeat(r, state);
}

static void wait_job_end(runner *r)
{
    while (runner_job_state(r->job) != JOB_DONE && runner_job_state(r->job) != JOB_FAILED)
        usleep(50 * 1000);
}

/* Tears the active job down now (shutdown, or superseded by a new RUN). */
static void abandon_job(runner *r, const char *why)
{
    if (!r->job)
        return;
    runner_job_ask_stop(r->job);
    wait_job_end(r);
    /* Reported as ERROR even when the teardown itself went well: the
     * iteration never got its STOP. */
    pthread_mutex_lock(&r->job->mu);
    if (!r->job->err_text[0])
        snprintf(r->job->err_text, sizeof r->job->err_text, "%s", why);
    snprintf(r->job->err_phase, sizeof r->job->err_phase, "run");
    r->job->state = JOB_FAILED;
    pthread_mutex_unlock(&r->job->mu);
    finish_job(r);
}

/* ---- messages ------------------------------------------------------------------ */

static void on_run(runner *r, jb_msg *msg)
{
    if (r->job && strcmp(r->job->run.msg_id, msg->msg_id) == 0) {
        if (r->ready_sent)
            send_ready(r); /* a redelivered RUN: answer again */
        return;
    }
    if (r->last_final.body && strcmp(jb_msg_str(&r->last_final, "run_msg_id"), msg->msg_id) == 0)
        return; /* a late copy of a RUN already done */
    if (r->job && r->stop_received) {
        /* Its STOP came first (a controller that moved on while this
         * teardown ran, e.g. after a partition): finish it as asked. */
        logf_(r, "RUN %s %s#%ld: finishing the teardown of %s#%ld first", msg->run_id,
              msg->platform, msg->iteration, r->job->run.platform, r->job->run.iteration);
        wait_job_end(r);
        finish_job(r);
    } else if (r->job) {
        logf_(r, "RUN %s %s#%ld supersedes %s#%ld", msg->run_id, msg->platform, msg->iteration,
              r->job->run.platform, r->job->run.iteration);
        abandon_job(r, "superseded by a newer RUN before its STOP");
    }
    logf_(r, "RUN %s %s#%ld: booting", msg->run_id, msg->platform, msg->iteration);
    runner_job_options jo = {.brokers = r->opts->brokers,
                             .bin_dir = r->opts->bin_dir,
                             .advertise = r->opts->advertise,
                             .results_dir = r->opts->results_dir,
                             .spare = r->spare};
    jb_msg about = *msg;
    about.body = NULL;
    char err[1024] = "";
    r->job = runner_job_start(msg, &jo, err, sizeof err);
    r->ready_sent = r->early_error_sent = r->stop_received = false;
    if (!r->job)
        send_error(r, &about, "boot", "", err);
    else
        send_heartbeat(r, JOB_BOOTING);
}

static void on_stop(runner *r, const jb_msg *msg)
{
    if (r->job && jb_msg_same_iteration(&r->job->run, msg)) {
        logf_(r, "STOP %s %s#%ld (%s)", msg->run_id, msg->platform, msg->iteration,
              jb_msg_str(msg, "reason"));
        runner_job_ask_stop(r->job);
        r->stop_received = true;
        return;
    }
    if (r->last_final.body && jb_msg_same_iteration(&r->last_final, msg)) {
        send_msg(r, &r->last_final); /* the controller missed it: same msg_id again */
        return;
    }
    logf_(r, "ignoring STOP for %s %s#%ld: not a run of this runner", msg->run_id, msg->platform,
          msg->iteration);
}

static void on_message(runner *r, jb_msg *msg)
{
    if (strcmp(msg->runner, r->opts->id) != 0)
        return; /* addressed to another runner */
    if (msg->type == JB_MSG_RUN)
        on_run(r, msg);
    else if (msg->type == JB_MSG_STOP)
        on_stop(r, msg);
}

/* ---- the loop ------------------------------------------------------------------- */

static bool should_stop(const runner *r)
{
    return (!r->opts->ignore_stop_signal && jb_stop_requested()) ||
           (r->opts->should_stop && r->opts->should_stop(r->opts->stop_ctx));
}

int jb_runner_serve(const jb_runner_options *opts)
{
    runner r = {.opts = opts};
    char err[1024];
    char client_id[128];
    snprintf(client_id, sizeof client_id, "jungbench-runner-%s", opts->id);
    r.bus = jb_kbus_open(opts->brokers, opts->props, opts->nprops, JB_TOPIC_RUNNER, client_id,
                         10000, err, sizeof err);
    if (!r.bus)
        return jb_fail(RUNNER_CMD, "%s", err);
    r.spare = opts->spare ? opts->spare : &r.own_spare;
    if (!opts->spare)
        jb_broker_spare_init(&r.own_spare);
    logf_(&r, "listening on %s (topic '%s')", opts->brokers, JB_TOPIC_RUNNER);
    if (opts->on_listening)
        opts->on_listening(opts->listening_ctx);
    while (!should_stop(&r)) {
        jb_msg msg;
        int rc = jb_kbus_recv(r.bus, &msg, 100, err, sizeof err);
        if (rc < 0)
            logf_(&r, "skipped a message: %s", err);
        if (rc > 0) {
            on_message(&r, &msg);
            jb_msg_clear(&msg);
        }
        watch_job(&r);
    }
    if (r.job) {
        char why[128];
        snprintf(why, sizeof why, "the runner was stopped%s",
                 jb_stop_signal() ? " by a signal" : "");
        abandon_job(&r, why);
    }
    jb_msg_clear(&r.last_final);
    if (!opts->spare)
        jb_broker_spare_destroy(&r.own_spare);
    jb_kbus_close(r.bus);
    return JB_EXIT_OK;
}

/* ---- command line -------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: jungbench runner --broker HOST:PORT [OPTIONS]\n\n"
            "Serves a controller (jungbench controller/run) on the machine under test:\n"
            "on RUN boots Jung on the requested platform and samples its CPU and memory,\n"
            "answers READY with the REST endpoint, and on STOP tears it down and answers\n"
            "RESULTS. Runs until SIGINT/SIGTERM; tears down whatever is running then.\n\n"
            "Options:\n"
            "  --broker HOST:PORT   Kafka bootstrap servers (the services use them too)\n"
            "  --id NAME            this runner's name; RUN messages address it (default local)\n"
            "  --property K=V       a librdkafka property (repeatable)\n"
            "  --bin-dir DIR        where the jung-* executables are (process platform)\n"
            "  --advertise ADDR     this machine's IPv4 address the controller reaches Jung on:\n"
            "                       the gateway listens there (processes, host-network\n"
            "                       containers), ports are published and guests' forwards\n"
            "                       bound there, and READY names it (default 127.0.0.1)\n"
            "  --results DIR        write metrics to DIR/<run-id>/results.db instead of the\n"
            "                       path the RUN names (for a runner on another machine)\n"
            "  --heartbeat-ms N     heartbeat period while busy (default 2000)\n"
            "  -q, --quiet          no log lines\n"
            "  -h, --help           this help\n\n"
            "Exit status: 0 after a clean stop, 1 when the broker is unreachable, 2 on usage "
            "errors.\n");
}

typedef struct runner_args {
    jb_runner_options opts;
    jb_config_prop props[JB_CFG_MAX_PROPS];
} runner_args;

static bool add_property(runner_args *a, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || a->opts.nprops == JB_CFG_MAX_PROPS ||
        (size_t)(eq - kv) >= sizeof a->props[0].key || strlen(eq + 1) >= sizeof a->props[0].value)
        return false;
    jb_config_prop *p = &a->props[a->opts.nprops++];
    snprintf(p->key, sizeof p->key, "%.*s", (int)(eq - kv), kv);
    snprintf(p->value, sizeof p->value, "%s", eq + 1);
    return true;
}

static bool valid_id(const char *id)
{
    if (!id[0] || strlen(id) >= 64)
        return false;
    for (const char *c = id; *c; c++)
        if (!(('a' <= *c && *c <= 'z') || ('A' <= *c && *c <= 'Z') || ('0' <= *c && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.'))
            return false;
    return true;
}

/* The advertised address must be one this machine can listen on: a
 * typo would otherwise show only as every gateway failing to bind. */
static bool local_address(const char *addr)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 || sa.sin_addr.s_addr == htonl(INADDR_ANY))
        return false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static int parse_args(int argc, char **argv, runner_args *a)
{
    static const struct option longopts[] = {{"broker", required_argument, NULL, 'b'},
                                             {"id", required_argument, NULL, 'i'},
                                             {"property", required_argument, NULL, 'p'},
                                             {"bin-dir", required_argument, NULL, 'd'},
                                             {"advertise", required_argument, NULL, 'a'},
                                             {"results", required_argument, NULL, 'r'},
                                             {"heartbeat-ms", required_argument, NULL, 't'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    a->opts = (jb_runner_options){.id = "local", .heartbeat_ms = 2000, .props = a->props};
    optind = 1;
    int ch;
    long ms;
    while ((ch = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            a->opts.brokers = optarg;
            break;
        case 'i':
            if (!valid_id(optarg))
                return jb_usage_error(
                    RUNNER_CMD, "--id '%s': use 1-63 letters, digits, '_', '-' or '.'", optarg);
            a->opts.id = optarg;
            break;
        case 'p':
            if (!add_property(a, optarg))
                return jb_usage_error(RUNNER_CMD, "--property '%s': expected KEY=VALUE", optarg);
            break;
        case 'd':
            a->opts.bin_dir = optarg;
            break;
        case 'a':
            if (!local_address(optarg))
                return jb_usage_error(RUNNER_CMD,
                                      "--advertise '%s': not an IPv4 address of this machine "
                                      "(see `ip -4 addr`)",
                                      optarg);
            a->opts.advertise = optarg;
            break;
        case 'r':
            a->opts.results_dir = optarg;
            break;
        case 't':
            if (!jb_parse_long(RUNNER_CMD, "--heartbeat-ms", optarg, 100, 60000, &ms))
                return JB_EXIT_USAGE;
            a->opts.heartbeat_ms = (double)ms;
            break;
        case 'q':
            a->opts.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return JB_EXIT_OK;
        case ':':
            return jb_usage_error(RUNNER_CMD, "option '%s' needs a value", argv[optind - 1]);
        default:
            return jb_usage_error(RUNNER_CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return jb_usage_error(RUNNER_CMD, "unexpected argument '%s'", argv[optind]);
    if (!a->opts.brokers)
        return jb_usage_error(RUNNER_CMD, "missing --broker HOST:PORT (e.g. 127.0.0.1:9092)");
    return -1;
}

int runner_main(int argc, char **argv)
{
    runner_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    jb_install_stop_handlers();
    return jb_runner_serve(&a.opts);
}
