/* test_loadgen_raw.c - the raw transport against a scripted HTTP server
 * whose answers libmicrohttpd would not give:
 *   test_loadgen_raw split|chunked|idle_close|mid_close|same_fields
 * split: each response in 3-byte TCP writes; chunked: a chunked body;
 * idle_close: the server closes every connection after its answer, without
 * saying so; mid_close: it closes half-way through the body; same_fields:
 * the recorded fields equal the curl transport's for the same answers. */
#include "tests/testlib.h"
#include "cli/cli.h"
#include "loadgen/loadgen.h"

#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum { MODE_PLAIN, MODE_SPLIT, MODE_CHUNKED, MODE_IDLE_CLOSE, MODE_MID_CLOSE } mode;

typedef struct server {
    int listen_fd;
    unsigned short port;
    mode how;
    pthread_t thread;
    atomic_bool stop;
    atomic_long requests, connections;
} server;

static const char PLAIN[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            "Content-Length: 26\r\n\r\nabcdefghijklmnopqrstuvwxyz";
static const char CHUNKED[] = "HTTP/1.1 200 Fine\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
static const char PARTIAL[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly twenty bytes...";

static void write_all(int fd, const char *p, size_t n, size_t step)
{
    while (n > 0) {
        size_t k = n < step ? n : step;
        ssize_t w = send(fd, p, k, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
        if (step < 64)
            usleep(200); /* separate segments, so the client reads them apart */
    }
}

/* Reads one request's head; false at the end of the connection. */
static bool read_request(int fd)
{
    char buf[4096];
    size_t have = 0;
    while (have < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0)
            return false;
        have += (size_t)n;
        buf[have] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return true;
    }
    return false;
}

/* Answers one connection's requests as the mode says; false: close it. */
static bool answer(server *s, int fd)
{
    atomic_fetch_add(&s->requests, 1);
    switch (s->how) {
    case MODE_PLAIN:
        write_all(fd, PLAIN, sizeof PLAIN - 1, 4096);
        return true;
    case MODE_SPLIT:
        write_all(fd, PLAIN, sizeof PLAIN - 1, 3);
        return true;
    case MODE_CHUNKED:
        write_all(fd, CHUNKED, sizeof CHUNKED - 1, 4);
        return true;
    case MODE_IDLE_CLOSE:
        write_all(fd, PLAIN, sizeof PLAIN - 1, 4096);
        usleep(2000); /* closed while idle, after the client has its answer */
        return false;
    case MODE_MID_CLOSE: /* the first request is the target probe: it must succeed */
        if (atomic_load(&s->requests) == 1) {
            write_all(fd, PLAIN, sizeof PLAIN - 1, 4096);
            return true;
        }
        write_all(fd, PARTIAL, sizeof PARTIAL - 1, 4096);
        return false;
    }
    return false;
}

/* One connection at a time is enough: the tests run one user. */
static void *serve(void *arg)
{
    server *s = arg;
    while (!atomic_load(&s->stop)) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->connections, 1);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct timeval tv = {.tv_sec = 2};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        while (!atomic_load(&s->stop) && read_request(fd) && answer(s, fd))
            ;
        close(fd);
    }
    return NULL;
}

static bool server_start(server *s, mode how)
{
    memset(s, 0, sizeof *s);
    s->how = how;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    struct timeval tv = {.tv_usec = 100000}; /* accept() wakes to see the stop flag */
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&sa, &len) != 0 ||
        setsockopt(s->listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        return false;
    s->port = ntohs(sa.sin_port);
    return pthread_create(&s->thread, NULL, serve, s) == 0;
}

static void server_stop(server *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

/* What one run recorded. */
typedef struct outcome {
    jb_load_result res;
    jb_load_summary sum;
    long ok, rows;
    char code[16], message[64], failure[256];
    long bytes, bad_times;
} outcome;

static void query_text(jb_store *st, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *q = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
}

static long query_num(jb_store *st, const char *sql)
{
    char text[64];
    query_text(st, sql, text, sizeof text);
    return text[0] ? atol(text) : -1;
}

/* n static GETs by one user over the transport; the first measured row's
 * fields into out. */
static bool run_load(server *s, jb_load_transport transport, long n, outcome *out)
{
    char url[64], db[128], err[1024] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%u/file", s->port);
    snprintf(db, sizeof db, "/tmp/jb-loadgen-raw-%d.db", (int)getpid());
    unlink(db);
    jb_store st;
    if (!jb_store_open(&st, db, err, sizeof err))
        return false;
    jb_loadgen_config cfg;
    jb_loadgen_config_defaults(&cfg);
    cfg.target = url;
    cfg.static_target = true;
    cfg.users = 1;
    cfg.requests_per_user = n;
    cfg.timeout_ms = 3000;
    cfg.transport = transport;
    cfg.store = &st;
    cfg.run_id = "raw-test";
    cfg.platform = "fake";
    memset(out, 0, sizeof *out);
    out->res = jb_loadgen_run(&cfg, &out->sum, err, sizeof err);
    if (out->res != JB_LOAD_OK)
        fprintf(stderr, "run: %s\n", err);
    const char *first = "FROM samples WHERE phase='measure' ORDER BY seq LIMIT 1";
    char sql[256];
    out->rows = query_num(&st, "SELECT count(*) FROM samples WHERE phase='measure'");
    out->ok = query_num(&st, "SELECT count(*) FROM samples WHERE phase='measure' AND success=1");
    out->bad_times = query_num(&st, "SELECT count(*) FROM samples WHERE phase='measure' AND"
                                    " (latency > elapsed OR latency < 0)");
    snprintf(sql, sizeof sql, "SELECT response_code %s", first);
    query_text(&st, sql, out->code, sizeof out->code);
    snprintf(sql, sizeof sql, "SELECT response_message %s", first);
    query_text(&st, sql, out->message, sizeof out->message);
    snprintf(sql, sizeof sql, "SELECT failure_message %s", first);
    query_text(&st, sql, out->failure, sizeof out->failure);
    snprintf(sql, sizeof sql, "SELECT bytes %s", first);
    out->bytes = query_num(&st, sql);
    jb_store_close(&st);
    unlink(db);
    char path[160];
    snprintf(path, sizeof path, "%s-wal", db);
    unlink(path);
    snprintf(path, sizeof path, "%s-shm", db);
    unlink(path);
    return true;
}

/* Runs n requests over the raw transport against a server in mode how. */
static int run_mode(mode how, long n, outcome *out, server *s)
{
    if (!server_start(s, how)) {
        printf("SKIP: cannot start the scripted server\n");
        return 77;
    }
    bool ran = run_load(s, JB_TRANSPORT_RAW, n, out);
    server_stop(s);
    CHECK(ran, "the run could not start");
    return ran ? 0 : 1;
}

static int test_split(void)
{
    server s;
    outcome o;
    int rc = run_mode(MODE_SPLIT, 20, &o, &s);
    if (rc)
        return rc;
    CHECK(o.res == JB_LOAD_OK && o.rows == 20 && o.ok == 20, "%ld of %ld ok", o.ok, o.rows);
    CHECK(strcmp(o.code, "200") == 0 && strcmp(o.message, "OK") == 0, "%s %s", o.code, o.message);
    CHECK(o.bytes == (long)sizeof PLAIN - 1, "bytes %ld (headers and body)", o.bytes);
    CHECK(o.bad_times == 0, "latency <= elapsed");
    CHECK(s.connections == 2, "one keep-alive connection (and the probe's): %ld",
          (long)s.connections);
    return failures ? 1 : 0;
}

static int test_chunked(void)
{
    server s;
    outcome o;
    int rc = run_mode(MODE_CHUNKED, 20, &o, &s);
    if (rc)
        return rc;
    CHECK(o.res == JB_LOAD_OK && o.ok == 20, "%ld of %ld ok", o.ok, o.rows);
    CHECK(strcmp(o.message, "Fine") == 0, "message %s", o.message);
    /* libcurl counts the header bytes and the decoded body ("hello, world"). */
    long head = (long)(strstr(CHUNKED, "\r\n\r\n") - CHUNKED) + 4;
    CHECK(o.bytes == head + 12, "bytes %ld, expected %ld", o.bytes, head + 12);
    CHECK(s.connections == 2, "kept alive: %ld connections", (long)s.connections);
    return failures ? 1 : 0;
}

static int test_idle_close(void)
{
    server s;
    outcome o;
    int rc = run_mode(MODE_IDLE_CLOSE, 30, &o, &s);
    if (rc)
        return rc;
    CHECK(o.res == JB_LOAD_OK && o.rows == 30 && o.ok == 30, "%ld of %ld ok: %s", o.ok, o.rows,
          o.failure);
    CHECK(s.connections >= 30, "reconnected: %ld connections", (long)s.connections);
    return failures ? 1 : 0;
}

static int test_mid_close(void)
{
    server s;
    outcome o;
    int rc = run_mode(MODE_MID_CLOSE, 5, &o, &s);
    if (rc)
        return rc;
    CHECK(o.res == JB_LOAD_OK && o.rows == 5 && o.ok == 0, "%ld of %ld ok", o.ok, o.rows);
    CHECK(strstr(o.failure, "mid-response"), "failure: %s", o.failure);
    CHECK(o.sum.errors == 5, "errors %ld", o.sum.errors);
    return failures ? 1 : 0;
}

/* The same answers recorded by both transports: the same fields. */
static int test_same_fields(void)
{
    static const mode modes[] = {MODE_PLAIN, MODE_CHUNKED, MODE_MID_CLOSE};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        outcome o[2];
        for (int t = 0; t < 2; t++) {
            server s;
            if (!server_start(&s, modes[i])) {
                printf("SKIP: cannot start the scripted server\n");
                return 77;
            }
            CHECK(run_load(&s, t ? JB_TRANSPORT_CURL : JB_TRANSPORT_RAW, 5, &o[t]), "run");
            server_stop(&s);
        }
        CHECK(o[0].rows == o[1].rows && o[0].ok == o[1].ok, "mode %zu: ok %ld/%ld vs %ld/%ld", i,
              o[0].ok, o[0].rows, o[1].ok, o[1].rows);
        CHECK(strcmp(o[0].code, o[1].code) == 0 && strcmp(o[0].message, o[1].message) == 0,
              "mode %zu: raw %s %s, curl %s %s", i, o[0].code, o[0].message, o[1].code,
              o[1].message);
        if (modes[i] != MODE_MID_CLOSE) /* libcurl counts an aborted body differently */
            CHECK(o[0].bytes == o[1].bytes, "mode %zu: bytes raw %ld curl %ld", i, o[0].bytes,
                  o[1].bytes);
        CHECK(o[0].bad_times == 0 && o[1].bad_times == 0, "latency <= elapsed");
        printf("mode %zu: raw '%s' / curl '%s'\n", i, o[0].failure, o[1].failure);
    }
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } cases[] = {
        {"split", test_split},
        {"chunked", test_chunked},
        {"idle_close", test_idle_close},
        {"mid_close", test_mid_close},
        {"same_fields", test_same_fields},
    };
    for (size_t i = 0; argc == 2 && i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(argv[1], cases[i].name) == 0) {
            int rc = cases[i].run();
            if (rc == 0)
                printf("PASS %s\n", argv[1]);
            return rc;
        }
    fprintf(stderr, "usage: %s split|chunked|idle_close|mid_close|same_fields\n", argv[0]);
    return 2;
}
