/* test_runner_protocol.c - `jungbench runner` as a separate process, driven
 * message by message over the embedded broker: messages for other runners
 * and STOPs for unknown runs are ignored, an invalid config is an ERROR
 * naming the problem, a duplicated RUN gets READY again, STOP gives RESULTS
 * and a duplicated STOP the same RESULTS again (same msg_id), and a RUN
 * right behind its predecessor's STOP lets that one finish with RESULTS.
 * Usage: test_runner_protocol JUNGBENCH CONFIG_YAML */
#include "broker/broker.h"
#include "../testlib.h"
#include "cli/cli.h"
#include "bus/bus.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct t {
    jb_kbus *bus;
    const char *config;
    char run_id[32];
    /* This process's own results database: a fixed path would be shared
     * with (and refused after) another build tree's run of this test. */
    char db[64];
} t;

#define PROBE_RUN_ID "probe"

/* A message of the scenario's: not a heartbeat, nor an answer to a probe
 * of wait_listening (a late one may follow the first). */
static bool counts(const jb_msg *m)
{
    return m->type != JB_MSG_HEARTBEAT && strcmp(m->run_id, PROBE_RUN_ID) != 0;
}

/* Next message of type `want` about iteration `it` within ms, skipping
 * heartbeats and probe answers; false on timeout. */
static bool expect(t *s, jb_msg_type want, long it, double ms, jb_msg *out)
{
    double until = jb_now_ms() + ms;
    char err[512];
    while (jb_now_ms() < until) {
        jb_msg m;
        if (jb_kbus_recv(s->bus, &m, 100, err, sizeof err) != 1)
            continue;
        if (!counts(&m)) {
            jb_msg_clear(&m);
            continue;
        }
        if (m.type == want && m.iteration == it) {
            *out = m;
            return true;
        }
        bool error = m.type == JB_MSG_ERROR && m.iteration == it;
        fprintf(stderr, "unexpected %s: %s\n", jb_msg_type_name(m.type), jb_msg_str(&m, "message"));
        jb_msg_clear(&m);
        if (error)
            return false; /* the runner gave up on this iteration: no point waiting */
    }
    return false;
}

/* True when nothing but heartbeats arrives within ms. */
static bool quiet_for(t *s, double ms)
{
    jb_msg m;
    double until = jb_now_ms() + ms;
    char err[512];
    while (jb_now_ms() < until) {
        if (jb_kbus_recv(s->bus, &m, 100, err, sizeof err) != 1)
            continue;
        bool quiet = !counts(&m);
        jb_msg_clear(&m);
        if (!quiet)
            return false;
    }
    return true;
}

static void send_msg(t *s, jb_msg_type type, const char *runner, long it, const char *config,
                 jb_msg *keep)
{
    jb_msg m;
    char err[256];
    jb_msg_init(&m, type, s->run_id, "native", it, runner, err, sizeof err);
    if (type == JB_MSG_RUN)
        jb_msg_run(&m, config, s->db);
    else
        jb_msg_stop(&m, "done");
    CHECK(jb_kbus_send(s->bus, JB_TOPIC_RUNNER, &m, err, sizeof err));
    if (keep)
        *keep = m;
    else
        jb_msg_clear(&m);
}

/* Waits until the runner reads its topic, which it reads from the end it
 * finds at start: a message sent before then is never seen. A RUN of
 * another run with a bad config, sent every 200 ms, is answered ERROR once
 * it reads. */
static bool wait_listening(t *s, double ms)
{
    double until = jb_now_ms() + ms;
    char err[512];
    while (jb_now_ms() < until) {
        jb_msg probe;
        if (!jb_msg_init(&probe, JB_MSG_RUN, PROBE_RUN_ID, "native", 1, "t1", err, sizeof err))
            return false;
        jb_msg_run(&probe, "name: x\nplatforms: [{name: native, driver: dokker}]\n", s->db);
        bool sent = jb_kbus_send(s->bus, JB_TOPIC_RUNNER, &probe, err, sizeof err);
        jb_msg_clear(&probe);
        for (double next = jb_now_ms() + 200; sent && jb_now_ms() < next;) {
            jb_msg m;
            if (jb_kbus_recv(s->bus, &m, 50, err, sizeof err) != 1)
                continue;
            bool answered = m.type == JB_MSG_ERROR && strcmp(m.run_id, PROBE_RUN_ID) == 0;
            jb_msg_clear(&m);
            if (answered)
                return true;
        }
    }
    return false;
}

static void resend(t *s, const jb_msg *m)
{
    char err[256];
    CHECK(jb_kbus_send(s->bus, JB_TOPIC_RUNNER, m, err, sizeof err));
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void scenario(t *s)
{
    jb_msg got, run;
    /* Not addressed to us, and a STOP for a run nobody knows: silence. */
    send_msg(s, JB_MSG_RUN, "someone-else", 1, s->config, NULL);
    send_msg(s, JB_MSG_STOP, "t1", 7, NULL, NULL);
    CHECK(quiet_for(s, 1500));
    /* An invalid config: ERROR naming file, line and column. */
    send_msg(s, JB_MSG_RUN, "t1", 1, "name: x\nplatforms: [{name: native, driver: dokker}]\n", NULL);
    CHECK(expect(s, JB_MSG_ERROR, 1, 10000, &got));
    CHECK(strcmp(jb_msg_str(&got, "phase"), "boot") == 0);
    CHECK(strstr(jb_msg_str(&got, "message"), "RUN config:2:36: 'driver' is 'dokker'") != NULL);
    jb_msg_clear(&got);
    /* A real boot; the RUN delivered twice gets READY twice. */
    send_msg(s, JB_MSG_RUN, "t1", 2, s->config, &run);
    CHECK(expect(s, JB_MSG_READY, 2, 60000, &got));
    char endpoint[256];
    snprintf(endpoint, sizeof endpoint, "%s", jb_msg_str(&got, "endpoint"));
    CHECK(strncmp(endpoint, "http://127.0.0.1:", 17) == 0);
    CHECK(strcmp(jb_msg_str(&got, "run_msg_id"), run.msg_id) == 0);
    CHECK(json_array_size(json_object_get(got.body, "services")) == 8);
    jb_msg_clear(&got);
    resend(s, &run);
    CHECK(expect(s, JB_MSG_READY, 2, 10000, &got));
    CHECK(strcmp(jb_msg_str(&got, "endpoint"), endpoint) == 0);
    jb_msg_clear(&got);
    /* STOP: RESULTS; the same STOP again: the same RESULTS again. The
     * sampler (100 ms interval) gets a second first, as any load would give
     * it: on a busy machine a STOP right after READY can beat its first
     * sample, and then there are no summaries to check. */
    sleep(1);
    send_msg(s, JB_MSG_STOP, "t1", 2, NULL, NULL);
    CHECK(expect(s, JB_MSG_RESULTS, 2, 30000, &got));
    CHECK(json_array_size(json_object_get(got.body, "metrics")) == 8);
    CHECK(json_integer_value(json_object_get(got.body, "metric_samples")) > 0);
    char results_id[40];
    snprintf(results_id, sizeof results_id, "%s", got.msg_id);
    jb_msg_clear(&got);
    send_msg(s, JB_MSG_STOP, "t1", 2, NULL, NULL);
    CHECK(expect(s, JB_MSG_RESULTS, 2, 10000, &got));
    CHECK(strcmp(got.msg_id, results_id) == 0);
    jb_msg_clear(&got);
    /* A late copy of the finished RUN does not boot Jung again. */
    resend(s, &run);
    CHECK(quiet_for(s, 1500));
    jb_msg_clear(&run);
    /* STOP and the next RUN back to back (a controller that moved on while
     * the teardown runs, as after a partition): the stopped iteration ends
     * with its RESULTS, not as "superseded", then the next one boots. */
    send_msg(s, JB_MSG_RUN, "t1", 3, s->config, NULL);
    CHECK(expect(s, JB_MSG_READY, 3, 60000, &got));
    jb_msg_clear(&got);
    send_msg(s, JB_MSG_STOP, "t1", 3, NULL, NULL);
    send_msg(s, JB_MSG_RUN, "t1", 4, s->config, NULL);
    CHECK(expect(s, JB_MSG_RESULTS, 3, 30000, &got));
    jb_msg_clear(&got);
    CHECK(expect(s, JB_MSG_READY, 4, 60000, &got));
    jb_msg_clear(&got);
    send_msg(s, JB_MSG_STOP, "t1", 4, NULL, NULL);
    CHECK(expect(s, JB_MSG_RESULTS, 4, 30000, &got));
    jb_msg_clear(&got);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_runner_protocol JUNGBENCH CONFIG\n");
        return 2;
    }
    char err[512];
    jb_broker_options bo = {0};
    jb_broker *broker = jb_broker_start(&bo, err, sizeof err);
    if (!broker) {
        printf("SKIP: cannot start the embedded broker: %s\n", err);
        return 77;
    }
    t s = {.config = read_file(argv[2])};
    snprintf(s.run_id, sizeof s.run_id, "rp-%d", (int)getpid());
    char dir[48];
    snprintf(dir, sizeof dir, "/tmp/jb-runner-protocol-%d", (int)getpid());
    snprintf(s.db, sizeof s.db, "%s/results.db", dir);
    s.bus = jb_kbus_open(jb_broker_bootstrap(broker), NULL, 0, JB_TOPIC_CONTROLLER, "t", 10000, err,
                         sizeof err);
    if (!s.bus || !s.config) {
        fprintf(stderr, "setup: %s\n", s.bus ? "cannot read the config" : err);
        return 1;
    }
    char log[64];
    snprintf(log, sizeof log, "/tmp/jb-runner-protocol-%d.log", (int)getpid());
    pid_t pid = fork();
    if (pid == 0) {
        freopen(log, "w", stderr);
        execl(argv[1], argv[1], "runner", "--broker", jb_broker_bootstrap(broker), "--id", "t1",
              "--heartbeat-ms", "300", (char *)NULL);
        _exit(127);
    }
    CHECK(wait_listening(&s, 30000));
    scenario(&s);
    const char *text = read_file(log);
    CHECK(text && strstr(text, "ignoring STOP for rp-"));
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (failures)
        fprintf(stderr, "runner log:\n%s\n", text ? text : "");
    unlink(log);
    jb_kbus_close(s.bus);
    jb_broker_stop(broker);
    char rm[96];
    snprintf(rm, sizeof rm, "rm -rf %s", dir); /* the runner made it: logs/ and results.db */
    if (system(rm) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
