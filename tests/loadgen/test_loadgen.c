/* test_loadgen.c - the load generator against an in-process fake Jung:
 *   test_loadgen dataset|record|faults|timeout|open|setup|unreachable|stop|duration|threads
 * Each case is one ctest test, once per transport: JB_LOADGEN_TRANSPORT=curl
 * runs it over libcurl transfers, unset or raw over the raw transport. */
#include "tests/testlib.h"
#include "cli/cli.h"
#include "loadgen/loadgen.h"
#include "tests/loadgen/fake_jung.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

/* The transport under test (JB_LOADGEN_TRANSPORT=raw|curl, default raw). */
static void apply_transport(jb_loadgen_config *cfg)
{
    const char *t = getenv("JB_LOADGEN_TRANSPORT");
    cfg->transport = t && strcmp(t, "curl") == 0 ? JB_TRANSPORT_CURL : JB_TRANSPORT_RAW;
}

typedef struct fixture {
    fake_jung server;
    char url[64];
    char db_path[256];
    jb_store store;
    jb_loadgen_config cfg;
} fixture;

static bool fixture_start(fixture *fx, const fake_jung_faults *faults)
{
    memset(fx, 0, sizeof *fx);
    if (!fake_jung_start(&fx->server, 0, faults)) {
        printf("SKIP: cannot start the fake Jung server on 127.0.0.1\n");
        return false;
    }
    snprintf(fx->url, sizeof fx->url, "http://127.0.0.1:%u", fx->server.port);
    snprintf(fx->db_path, sizeof fx->db_path, "/tmp/jb-loadgen-test-%d.db", (int)getpid());
    unlink(fx->db_path);
    char err[512];
    if (!jb_store_open(&fx->store, fx->db_path, err, sizeof err)) {
        fprintf(stderr, "cannot open %s: %s\n", fx->db_path, err);
        fake_jung_stop(&fx->server);
        return false;
    }
    jb_loadgen_config_defaults(&fx->cfg);
    apply_transport(&fx->cfg);
    fx->cfg.target = fx->url;
    fx->cfg.store = &fx->store;
    fx->cfg.run_id = "test-run";
    fx->cfg.platform = "fake";
    fx->cfg.iteration = 7;
    fx->cfg.user_prefix = "t";
    fx->cfg.timeout_ms = 10000;
    return true;
}

static void fixture_stop(fixture *fx)
{
    jb_store_close(&fx->store);
    fake_jung_stop(&fx->server);
    char path[300];
    unlink(fx->db_path);
    snprintf(path, sizeof path, "%s-wal", fx->db_path);
    unlink(path);
    snprintf(path, sizeof path, "%s-shm", fx->db_path);
    unlink(path);
}

/* The one integer a query returns, -1 on error. */
static long query_long(jb_store *store, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    sqlite3_stmt *st = NULL;
    long v = -1;
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bad query %s: %s\n", sql, sqlite3_errmsg(store->db));
        return -1;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static double query_double(jb_store *store, const char *sql)
{
    sqlite3_stmt *st = NULL;
    double v = -1;
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static long measured(jb_store *store, const char *where)
{
    return query_long(store, "SELECT count(*) FROM samples WHERE phase='measure' AND %s", where);
}

/* ---- dataset ------------------------------------------------------------------ */

static void count_kinds(const jb_load_item *items, size_t n, long counts[JB_REQ_KINDS])
{
    memset(counts, 0, sizeof(long) * JB_REQ_KINDS);
    for (size_t i = 0; i < n; i++)
        counts[items[i].kind]++;
}

static int test_dataset(void)
{
    jb_loadgen_config cfg;
    jb_loadgen_config_defaults(&cfg);
    cfg.target = "http://127.0.0.1:1";
    size_t n = 0, n2 = 0;
    jb_load_item *a = jb_loadgen_dataset(&cfg, 0, &n);
    long counts[JB_REQ_KINDS];
    count_kinds(a, n, counts);
    CHECK(n == 500, "%zu items", n);
    CHECK(counts[JB_REQ_GET_USER] == 25 && counts[JB_REQ_GET_DEVICE] == 25 &&
              counts[JB_REQ_GET_READINGS] == 225 && counts[JB_REQ_POST_COMMAND] == 225,
          "table 2 counts: %ld %ld %ld %ld", counts[0], counts[1], counts[2], counts[3]);
    /* Table 2's order (figure 27): 25 get_user, 25 get_device, 225 readings, 225 commands. */
    CHECK(a[0].kind == JB_REQ_GET_USER && a[24].kind == JB_REQ_GET_USER, "order start");
    CHECK(a[25].kind == JB_REQ_GET_DEVICE && a[49].kind == JB_REQ_GET_DEVICE, "order device");
    CHECK(a[50].kind == JB_REQ_GET_READINGS && a[274].kind == JB_REQ_GET_READINGS, "readings");
    CHECK(a[275].kind == JB_REQ_POST_COMMAND && a[499].kind == JB_REQ_POST_COMMAND, "commands");
    bool devices_in_range = true, spread = false;
    for (size_t i = 0; i < n; i++) {
        devices_in_range &= a[i].device >= 0 && a[i].device < 30;
        spread |= a[i].device != a[0].device;
    }
    CHECK(devices_in_range && spread, "devices 0..29 and not all the same");

    jb_load_item *b = jb_loadgen_dataset(&cfg, 0, &n2);
    CHECK(n2 == n && memcmp(a, b, n * sizeof *a) == 0, "same seed, same dataset");
    free(b);
    b = jb_loadgen_dataset(&cfg, 1, &n2);
    CHECK(memcmp(a, b, n * sizeof *a) != 0, "another user, other devices");
    free(b);
    cfg.seed = 2;
    b = jb_loadgen_dataset(&cfg, 0, &n2);
    CHECK(memcmp(a, b, n * sizeof *a) != 0, "another seed, another dataset");
    free(b);

    cfg.seed = 1;
    cfg.shuffle = true;
    b = jb_loadgen_dataset(&cfg, 0, &n2);
    long shuffled[JB_REQ_KINDS];
    count_kinds(b, n2, shuffled);
    CHECK(memcmp(counts, shuffled, sizeof counts) == 0, "shuffle keeps the counts");
    bool reordered = false;
    for (size_t i = 0; i < n; i++)
        reordered |= a[i].kind != b[i].kind;
    CHECK(reordered, "shuffle changes the order");
    jb_load_item *c = jb_loadgen_dataset(&cfg, 0, &n2);
    CHECK(memcmp(b, c, n * sizeof *b) == 0, "shuffle is seeded");
    free(b);
    free(c);
    free(a);

    /* A mix that does not add up to requests-per-user is scaled, exactly. */
    cfg.shuffle = false;
    cfg.requests_per_user = 101;
    a = jb_loadgen_dataset(&cfg, 0, &n);
    count_kinds(a, n, counts);
    CHECK(n == 101 && counts[0] + counts[1] + counts[2] + counts[3] == 101, "scaled total");
    CHECK(counts[0] == 5 && counts[1] == 5 && counts[2] >= 45 && counts[3] >= 45,
          "scaled %ld %ld %ld %ld", counts[0], counts[1], counts[2], counts[3]);
    free(a);

    char err[256];
    jb_load_mix mix;
    CHECK(jb_loadgen_parse_mix("post_command=3,get_user=1", &mix, err, sizeof err) && mix.n == 2 &&
              mix.kind[0] == JB_REQ_POST_COMMAND && mix.count[1] == 1,
          "mix order kept");
    CHECK(!jb_loadgen_parse_mix("get_users=3", &mix, err, sizeof err) && strstr(err, "get_users"),
          "unknown label named: %s", err);
    CHECK(!jb_loadgen_parse_mix("get_user=x", &mix, err, sizeof err), "bad count");
    CHECK(!jb_loadgen_parse_mix("get_user=0", &mix, err, sizeof err), "empty mix");

    int64_t sorted[1000];
    for (int i = 0; i < 1000; i++)
        sorted[i] = i + 1;
    CHECK(jb_loadgen_percentile(sorted, 1000, 50) == 500, "p50");
    CHECK(jb_loadgen_percentile(sorted, 1000, 99.9) == 999, "p99.9");
    CHECK(jb_loadgen_percentile(sorted, 1000, 100) == 1000, "p100");
    CHECK(jb_loadgen_percentile(sorted, 3, 50) == 2, "p50 of 3");
    return failures ? 1 : 0;
}

/* ---- a whole run, every field ---------------------------------------------------- */

static int test_record(void)
{
    fixture fx;
    if (!fixture_start(&fx, NULL))
        return 77;
    fx.cfg.users = 3;
    fx.cfg.requests_per_user = 40;
    fx.cfg.devices_per_user = 4;
    fx.cfg.rules_per_device = 2;
    jb_load_summary sum;
    char err[1024] = "";
    double before = jb_wall_ms();
    jb_load_result res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    double after = jb_wall_ms();
    CHECK(res == JB_LOAD_OK, "result %d: %s", res, err);
    CHECK(sum.samples == 120 && sum.errors == 0, "%ld samples %ld errors", sum.samples, sum.errors);
    CHECK(sum.setup_requests == 3 * (1 + 4 + 4 * 2), "setup %ld", sum.setup_requests);
    jb_store *st = &fx.store;
    CHECK(measured(st, "1") == 120, "rows");
    CHECK(query_long(st, "SELECT count(*) FROM samples WHERE phase='setup'") == 39, "setup rows");
    CHECK(query_long(st, "SELECT count(*) FROM samples WHERE phase='setup' AND label='create_rule'"
                         " AND url LIKE '%%/users/t-u%%/devices/t-u%%-d%%/rules'") == 24,
          "rule rows");
    /* 40 = 2 + 2 + 18 + 18 after scaling 25:25:225:225. */
    CHECK(measured(st, "label='get_user'") == 6 && measured(st, "label='get_device'") == 6 &&
              measured(st, "label='get_readings'") == 54 &&
              measured(st, "label='post_command'") == 54,
          "labels");
    CHECK(fx.server.count[FAKE_GET_READINGS] == 54 && fx.server.count[FAKE_POST_COMMAND] == 54 &&
              fx.server.count[FAKE_CREATE_DEVICE] == 12 && fx.server.unauthenticated == 0 &&
              fx.server.bad_bodies == 0,
          "server saw what was recorded, every body exact");
    CHECK(measured(st, "label='post_command' AND response_code='202' AND "
                       "response_message='Accepted' AND success=1 AND failure_message=''") == 54,
          "command rows");
    CHECK(measured(st, "label='get_readings' AND response_code='200' AND response_message='OK'"
                       " AND url LIKE '%%/readings?page=1&size=10'") == 54,
          "readings rows");
    CHECK(measured(st, "run_id='test-run' AND platform='fake' AND iteration=7") == 120, "ids");
    CHECK(measured(st, "bytes > 60 AND sent_bytes > 40 AND elapsed >= latency AND latency >= 0"
                       " AND connect >= 0 AND elapsed_us >= 0 AND grp_threads BETWEEN 1 AND 3"
                       " AND all_threads = grp_threads") == 120,
          "sizes and times");
    long lo = (long)before - 1, hi = (long)after + 1;
    CHECK(measured(st, "1") == query_long(st,
                                          "SELECT count(*) FROM samples WHERE phase='measure' AND"
                                          " time_stamp BETWEEN %ld AND %ld AND"
                                          " abs(intended_ms - time_stamp) < 2",
                                          lo, hi),
          "timestamps within the run, intended = actual in the closed model");
    /* Each user's requests carry seq 0..39 in table 2's order. */
    CHECK(query_long(st, "SELECT count(DISTINCT thread_name) FROM samples WHERE phase='measure'") ==
              3,
          "three users");
    CHECK(measured(st, "thread_name='t-u2' AND seq < 2 AND label='get_user'") == 2 &&
              measured(st, "thread_name='t-u2' AND seq >= 22 AND label='post_command'") == 18 &&
              query_long(st, "SELECT max(seq) FROM samples WHERE phase='measure'") == 39,
          "order by seq");
    CHECK(query_long(st, "SELECT samples FROM load_summaries WHERE run_id='test-run' AND "
                         "platform='fake' AND iteration=7") == 120,
          "summary row");
    double p50 = query_double(st, "SELECT p50_ms FROM load_summaries");
    CHECK(p50 > 0 && p50 <= sum.p99_ms && sum.min_ms <= sum.avg_ms && sum.avg_ms <= sum.max_ms,
          "summary ordering p50 %.3f", p50);
    fixture_stop(&fx);
    return failures ? 1 : 0;
}

/* ---- injected slow and failing responses -------------------------------------------- */

static int test_faults(void)
{
    fake_jung_faults faults = {.fail_every = 10, .slow_every = 7, .slow_ms = 300};
    fixture fx;
    if (!fixture_start(&fx, &faults))
        return 77;
    fx.cfg.users = 4;
    fx.cfg.requests_per_user = 25;
    fx.cfg.devices_per_user = 2;
    jb_load_summary sum;
    char err[1024] = "";
    jb_load_result res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    CHECK(res == JB_LOAD_OK, "result %d: %s", res, err);
    jb_store *st = &fx.store;
    CHECK(sum.samples == 100 && sum.errors == 10, "%ld samples, %ld errors", sum.samples,
          sum.errors);
    CHECK(sum.error_pct > 9.99 && sum.error_pct < 10.01, "error %% %.2f", sum.error_pct);
    CHECK(measured(st, "success=0 AND response_code='500' AND response_message='Internal Server "
                       "Error' AND failure_message LIKE 'HTTP 500%%injected failure%%'") == 10,
          "failed rows");
    CHECK(measured(st, "elapsed >= 300") >= 14, "slow rows: %ld", measured(st, "elapsed >= 300"));
    CHECK(fx.server.slowed == 14, "server slowed %ld", (long)fx.server.slowed);
    CHECK(sum.max_ms >= 300, "max %.1f", sum.max_ms);
    CHECK(query_long(st, "SELECT errors FROM load_summaries") == 10, "summary errors");
    fixture_stop(&fx);
    return failures ? 1 : 0;
}

static int test_timeout(void)
{
    fake_jung_faults faults = {.slow_every = 5, .slow_ms = 1500};
    fixture fx;
    if (!fixture_start(&fx, &faults))
        return 77;
    fx.cfg.users = 2;
    fx.cfg.requests_per_user = 10;
    fx.cfg.devices_per_user = 1;
    fx.cfg.timeout_ms = 300;
    jb_load_summary sum;
    char err[1024] = "";
    jb_load_result res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    CHECK(res == JB_LOAD_OK, "result %d: %s", res, err);
    jb_store *st = &fx.store;
    CHECK(sum.samples == 20, "timeouts are samples too: %ld", sum.samples);
    CHECK(sum.errors == 4, "4 timeouts, got %ld errors", sum.errors);
    CHECK(measured(st, "success=0 AND response_code LIKE 'Non HTTP response code: curl error 28'"
                       " AND failure_message LIKE '%%timed out%%' AND elapsed >= 290") == 4,
          "timeout rows");
    fixture_stop(&fx);
    return failures ? 1 : 0;
}

/* ---- open model: arrival rate and coordinated omission ------------------------------- */

static int run_stalled(jb_load_model model, jb_load_summary *sum, fixture *fx)
{
    fake_jung_faults faults = {.stall_at = 40, .stall_ms = 1000};
    if (!fixture_start(fx, &faults))
        return 77;
    fx->cfg.users = 2;
    fx->cfg.requests_per_user = 100;
    fx->cfg.devices_per_user = 2;
    fx->cfg.model = model;
    fx->cfg.rate = 100;
    char err[1024] = "";
    jb_load_result res = jb_loadgen_run(&fx->cfg, sum, err, sizeof err);
    CHECK(res == JB_LOAD_OK, "result %d: %s", res, err);
    return 0;
}

static int test_open(void)
{
    fixture fx;
    if (!fixture_start(&fx, NULL))
        return 77;
    fx.cfg.users = 3;
    fx.cfg.requests_per_user = 60;
    fx.cfg.devices_per_user = 2;
    fx.cfg.model = JB_LOAD_OPEN;
    fx.cfg.rate = 90; /* 180 requests in about 2 s */
    jb_load_summary sum;
    char err[1024] = "";
    jb_load_result res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    CHECK(res == JB_LOAD_OK, "result %d: %s", res, err);
    CHECK(sum.samples == 180, "%ld", sum.samples);
    /* The schedule itself: each user's intended times 3/90 s apart, exactly. */
    double gap = query_double(&fx.store, "SELECT (max(intended_ms) - min(intended_ms)) / 59.0 FROM "
                                         "samples WHERE phase='measure' AND thread_name='t-u1'");
    CHECK(gap > 33.2 && gap < 33.5, "per-user interval %.3f ms", gap);
    CHECK(sum.throughput > 90 * 0.7 && sum.throughput < 90 * 1.1, "rate kept: %.1f req/s",
          sum.throughput);
    CHECK(measured(&fx.store, "time_stamp + 1 >= intended_ms") == 180, "never sent early");
    fixture_stop(&fx);

    /* A 1 s stall on one request: the closed model hides it behind one
     * sample, the open model shows it in every request that was due while
     * the user waited, so it reaches the p99. */
    jb_load_summary closed, open;
    if (run_stalled(JB_LOAD_CLOSED, &closed, &fx) == 77)
        return 77;
    fixture_stop(&fx);
    if (run_stalled(JB_LOAD_OPEN, &open, &fx) == 77)
        return 77;
    CHECK(measured(&fx.store, "elapsed >= 500") >= 20, "queued behind the stall: %ld",
          measured(&fx.store, "elapsed >= 500"));
    fixture_stop(&fx);
    CHECK(closed.max_ms >= 1000 && closed.p99_ms < 500, "closed p99 %.1f max %.1f", closed.p99_ms,
          closed.max_ms);
    CHECK(open.max_ms >= 1000 && open.p99_ms >= 800, "open p99 %.1f max %.1f", open.p99_ms,
          open.max_ms);
    return failures ? 1 : 0;
}

/* --duration: the open model sends exactly the requests due before the
 * deadline; the closed model cycles over the dataset until it. */
static int test_duration(void)
{
    fixture fx;
    if (!fixture_start(&fx, NULL))
        return 77;
    fx.cfg.users = 4;
    fx.cfg.requests_per_user = 10;
    fx.cfg.devices_per_user = 2;
    fx.cfg.model = JB_LOAD_OPEN;
    fx.cfg.rate = 100;
    fx.cfg.duration_s = 1;
    jb_load_summary sum;
    char err[1024] = "";
    jb_load_result res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    CHECK(res == JB_LOAD_OK && sum.samples == 100, "open: result %d, %ld samples: %s", res,
          sum.samples, err);
    CHECK(query_long(&fx.store, "SELECT max(seq) FROM samples WHERE phase='measure'") == 24,
          "open: 25 per user, cycling over 10");
    fixture_stop(&fx);
    if (!fixture_start(&fx, NULL))
        return 77;
    fx.cfg.users = 2;
    fx.cfg.requests_per_user = 10;
    fx.cfg.devices_per_user = 2;
    fx.cfg.duration_s = 0.5;
    res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    CHECK(res == JB_LOAD_OK && sum.samples > 20, "closed: result %d, %ld samples: %s", res,
          sum.samples, err);
    CHECK(sum.duration_ms >= 490 && sum.duration_ms < 5000, "closed: %.0f ms", sum.duration_ms);
    CHECK(measured(&fx.store, "seq >= 10 AND label = 'get_user' AND seq % 10 < 1") > 0,
          "closed: the second cycle starts again with get_user");
    fixture_stop(&fx);
    return failures ? 1 : 0;
}

/* ---- refusals and stops ------------------------------------------------------------- */

static int test_setup_refused(void)
{
    fake_jung_faults faults = {.refuse_setup = true};
    fixture fx;
    if (!fixture_start(&fx, &faults))
        return 77;
    fx.cfg.users = 2;
    jb_load_summary sum;
    char err[1024] = "";
    jb_load_result res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    CHECK(res == JB_LOAD_FAILED, "result %d", res);
    CHECK(strstr(err, "set-up refused") && strstr(err, "403") && strstr(err, "/users"),
          "message: %s", err);
    CHECK(fx.server.measured == 0 && measured(&fx.store, "1") == 0, "nothing measured");
    CHECK(query_long(&fx.store, "SELECT count(*) FROM load_summaries") == 0, "no summary");
    fixture_stop(&fx);
    return failures ? 1 : 0;
}

static int test_unreachable(void)
{
    /* A port that was just free: bind, read the port, close. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        printf("SKIP: no loopback socket\n");
        return 77;
    }
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", ntohs(addr.sin_port));
    for (int is_static = 0; is_static < 2; is_static++) {
        jb_loadgen_config cfg;
        jb_loadgen_config_defaults(&cfg);
        apply_transport(&cfg);
        cfg.target = url;
        cfg.static_target = is_static;
        jb_load_summary sum;
        char err[1024] = "";
        jb_load_result res = jb_loadgen_run(&cfg, &sum, err, sizeof err);
        CHECK(res == JB_LOAD_FAILED && strstr(err, "cannot reach") && strstr(err, url),
              "static=%d result %d: %s", is_static, res, err);
        CHECK(sum.samples == 0, "no samples");
    }
    return failures ? 1 : 0;
}

static bool stop_after_50(void *ctx)
{
    fixture *fx = ctx;
    return fx->server.measured >= 50;
}

/* ---- --threads ------------------------------------------------------------------------ */

static bool index_exists(jb_store *store)
{
    return query_long(store, "SELECT count(*) FROM sqlite_master WHERE type='index' AND"
                             " name='samples_by_iteration'") == 1;
}

/* A stop after 50 measured requests on `threads` threads keeps every sample,
 * a consistent database and the samples index. */
static int stop_case(int threads)
{
    fake_jung_faults faults = {.slow_every = 1, .slow_ms = 5};
    fixture fx;
    if (!fixture_start(&fx, &faults))
        return 77;
    fx.cfg.users = 4;
    fx.cfg.threads = threads;
    fx.cfg.requests_per_user = 500;
    fx.cfg.devices_per_user = 2;
    fx.cfg.should_stop = stop_after_50;
    fx.cfg.stop_ctx = &fx;
    jb_load_summary sum;
    char err[1024] = "";
    jb_load_result res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    CHECK(res == JB_LOAD_STOPPED && sum.stopped, "result %d: %s", res, err);
    long rows = measured(&fx.store, "1");
    CHECK(sum.samples >= 50 && sum.samples < 2000, "%ld samples", sum.samples);
    CHECK(rows == sum.samples, "every sample kept: %ld rows, %ld samples", rows, sum.samples);
    /* Every request the server answered was recorded or, still in flight, abandoned. */
    CHECK(rows <= fx.server.measured && fx.server.measured <= rows + sum.abandoned,
          "rows %ld, abandoned %ld, served %ld", rows, sum.abandoned, (long)fx.server.measured);
    CHECK(query_long(&fx.store, "SELECT samples FROM load_summaries") == rows, "summary");
    CHECK(query_long(&fx.store, "SELECT count(*) FROM pragma_integrity_check WHERE "
                                "integrity_check='ok'") == 1,
          "integrity");
    CHECK(query_long(&fx.store, "SELECT count(DISTINCT thread_name) FROM samples WHERE"
                                " phase='measure'") == 4,
          "every user sent");
    CHECK(index_exists(&fx.store), "index back after a stop");
    fixture_stop(&fx);
    return failures ? 1 : 0;
}

static int test_stop(void)
{
    return stop_case(1);
}

/* 7 users on 3 threads (blocks of 2, 2, 3): every user's whole list is
 * recorded under its own name, the mix holds, the set-up ran per user. */
static int check_threads_closed(void)
{
    fixture fx;
    if (!fixture_start(&fx, NULL))
        return 77;
    fx.cfg.users = 7;
    fx.cfg.threads = 3;
    fx.cfg.requests_per_user = 40;
    fx.cfg.devices_per_user = 2;
    jb_load_summary sum;
    char err[1024] = "";
    jb_load_result res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    CHECK(res == JB_LOAD_OK, "result %d: %s", res, err);
    CHECK(sum.samples == 280 && sum.errors == 0, "%ld samples %ld errors", sum.samples, sum.errors);
    CHECK(sum.setup_requests == 7 * (1 + 2 + 2), "setup %ld", sum.setup_requests);
    jb_store *st = &fx.store;
    CHECK(measured(st, "1") == 280, "rows %ld", measured(st, "1"));
    CHECK(query_long(st, "SELECT count(*) FROM (SELECT thread_name FROM samples WHERE"
                         " phase='measure' GROUP BY thread_name HAVING count(*) = 40 AND"
                         " count(DISTINCT seq) = 40 AND min(seq) = 0 AND max(seq) = 39 AND"
                         " thread_name GLOB 't-u[1-7]')") == 7,
          "each of the 7 users: seq 0..39 once, under its own name");
    /* 40 per user = 2 + 2 + 18 + 18 (table 2 scaled), times 7 users. */
    CHECK(measured(st, "label='get_user'") == 14 && measured(st, "label='get_device'") == 14 &&
              measured(st, "label='get_readings'") == 126 &&
              measured(st, "label='post_command'") == 126,
          "labels follow the mix");
    CHECK(measured(st, "thread_name='t-u7' AND seq >= 22 AND label='post_command'") == 18,
          "the last block's last user keeps table 2's order");
    CHECK(fx.server.count[FAKE_POST_COMMAND] == 126 && fx.server.count[FAKE_CREATE_DEVICE] == 14 &&
              fx.server.unauthenticated == 0 && fx.server.bad_bodies == 0,
          "server saw what was recorded");
    CHECK(measured(st, "grp_threads BETWEEN 1 AND 7 AND elapsed >= latency") == 280,
          "active users counted over all threads");
    CHECK(query_long(st, "SELECT samples FROM load_summaries") == 280, "summary row");
    CHECK(index_exists(st), "samples_by_iteration rebuilt after the load");
    /* A second iteration into the non-empty table keeps the index up. */
    fx.cfg.iteration = 8;
    fx.cfg.user_prefix = "t2";
    res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    CHECK(res == JB_LOAD_OK && sum.samples == 280, "second iteration %d: %s", res, err);
    CHECK(measured(st, "iteration=8") == 280 && index_exists(st), "second iteration rows, index");
    fixture_stop(&fx);
    return 0;
}

/* The open model's schedule is the run's: 4 users on 2 threads keep the
 * per-user interval and the offsets between users one thread would. */
static int check_threads_open(void)
{
    fixture fx;
    if (!fixture_start(&fx, NULL))
        return 77;
    fx.cfg.users = 4;
    fx.cfg.threads = 2;
    fx.cfg.requests_per_user = 20;
    fx.cfg.devices_per_user = 2;
    fx.cfg.model = JB_LOAD_OPEN;
    fx.cfg.rate = 80; /* each user every 50 ms, users 12.5 ms apart */
    jb_load_summary sum;
    char err[1024] = "";
    jb_load_result res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    CHECK(res == JB_LOAD_OK && sum.samples == 80, "result %d, %ld samples: %s", res, sum.samples,
          err);
    double gap = query_double(&fx.store, "SELECT (max(intended_ms) - min(intended_ms)) / 19.0 FROM "
                                         "samples WHERE phase='measure' AND thread_name='t-u4'");
    CHECK(gap > 49.8 && gap < 50.2, "per-user interval %.3f ms", gap);
    double offset = query_double(
        &fx.store, "SELECT (SELECT min(intended_ms) FROM samples WHERE phase='measure' AND"
                   " thread_name='t-u4') - (SELECT min(intended_ms) FROM samples WHERE"
                   " phase='measure' AND thread_name='t-u1')");
    CHECK(offset > 37.0 && offset < 38.0, "u4 due 3 x 12.5 ms after u1 (other thread): %.3f",
          offset);
    fixture_stop(&fx);
    return 0;
}

static int check_threads_stop(void)
{
    return stop_case(2);
}

/* The server closes connections idle for a second; users wait 1.6 s
 * between requests (open model). Every request still succeeds on a new
 * connection, and the closed idle sockets do not make the loop spin (a
 * socket libcurl stopped watching stays in the epoll set until it wakes). */
static int check_idle_close(void)
{
    fake_jung_faults faults = {.idle_close_s = 1};
    fixture fx;
    if (!fixture_start(&fx, &faults))
        return 77;
    fx.cfg.users = 2;
    fx.cfg.threads = 2;
    fx.cfg.requests_per_user = 3;
    fx.cfg.devices_per_user = 1;
    fx.cfg.model = JB_LOAD_OPEN;
    fx.cfg.rate = 1.25; /* each user every 1.6 s */
    jb_load_summary sum;
    char err[1024] = "";
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    double start = jb_now_ms();
    jb_load_result res = jb_loadgen_run(&fx.cfg, &sum, err, sizeof err);
    double wall_s = (jb_now_ms() - start) / 1000.0;
    getrusage(RUSAGE_SELF, &after);
    double cpu_s = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec) +
                   (double)(after.ru_stime.tv_sec - before.ru_stime.tv_sec) +
                   (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec) / 1e6 +
                   (double)(after.ru_stime.tv_usec - before.ru_stime.tv_usec) / 1e6;
    CHECK(res == JB_LOAD_OK && sum.samples == 6 && sum.errors == 0,
          "result %d, %ld samples, %ld errors: %s", res, sum.samples, sum.errors, err);
    CHECK(atomic_load(&fx.server.connections) >= 6,
          "idle connections were closed and replaced: %ld connections",
          (long)atomic_load(&fx.server.connections));
    CHECK(cpu_s < 0.2 * wall_s, "no spinning on closed idle sockets: %.2f s CPU in %.2f s", cpu_s,
          wall_s);
    fixture_stop(&fx);
    return 0;
}

static int test_threads(void)
{
    jb_loadgen_config cfg;
    jb_loadgen_config_defaults(&cfg);
    cfg.target = "http://127.0.0.1:1";
    cfg.users = 2;
    cfg.threads = 3;
    char err[256] = "";
    CHECK(!jb_loadgen_config_check(&cfg, err, sizeof err) && strstr(err, "threads"),
          "more threads than users refused: %s", err);
    cfg.threads = 0;
    CHECK(!jb_loadgen_config_check(&cfg, err, sizeof err) && strstr(err, "threads"),
          "0 threads refused: %s", err);
    int rc = check_threads_closed();
    if (rc == 0)
        rc = check_threads_open();
    if (rc == 0)
        rc = check_threads_stop();
    if (rc == 0)
        rc = check_idle_close();
    return rc == 77 ? 77 : failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } cases[] = {
        {"dataset", test_dataset},         {"record", test_record}, {"faults", test_faults},
        {"timeout", test_timeout},         {"open", test_open},     {"setup", test_setup_refused},
        {"unreachable", test_unreachable}, {"stop", test_stop},     {"duration", test_duration},
        {"threads", test_threads},
    };
    for (size_t i = 0; argc == 2 && i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(argv[1], cases[i].name) == 0) {
            int rc = cases[i].run();
            if (rc == 0)
                printf("PASS %s\n", argv[1]);
            return rc;
        }
    fprintf(
        stderr,
        "usage: %s dataset|record|faults|timeout|open|setup|unreachable|stop|duration|threads\n",
        argv[0]);
    return 2;
}
