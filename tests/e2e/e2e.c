/* e2e.c - end-to-end test of Jung over HTTP, through `jungbench up`.
 *
 * Usage: e2e JUNGBENCH CONFIG
 * Starts `JUNGBENCH up CONFIG`, waits for its `gateway=URL` line, drives the
 * REST API through the scenario of issue 2 (user, device, rule; readings
 * arrive; a command changes them; the rule sends the opposite command; the
 * error codes 400/401/403/404/405/409/413; the strict HTTP cases over a raw
 * socket, one response each), then sends SIGTERM and checks
 * that `up` exits 0 and that every service process it reported is gone.
 *
 * CONFIG may contain "@KAFKA_BOOTSTRAP@": the test then needs a reachable
 * Kafka in $KAFKA_BOOTSTRAP and exits 77 (skip) without one.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIDS 32

typedef struct jung_up {
    pid_t pid;
    int out_fd; /* up's stdout */
    char gateway[512];
    pid_t services[MAX_PIDS];
    int n_services;
    char line[512];
    size_t line_len;
} jung_up;

static jung_up g_up; /* for the failure path: never leave Jung running */
static int g_failures;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stop_up(void)
{
    if (g_up.pid > 0) {
        kill(g_up.pid, SIGTERM);
        waitpid(g_up.pid, NULL, 0);
        g_up.pid = 0;
    }
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    stop_up();
    exit(1);
}

static void skip(const char *why)
{
    printf("SKIP: %s\n", why);
    exit(77);
}

/* ---- starting `jungbench up` ------------------------------------------- */

/* Reads one line of up's stdout, waiting at most until deadline. */
static bool read_line(jung_up *u, double deadline, char *out, size_t out_len)
{
    for (;;) {
        char *nl = memchr(u->line, '\n', u->line_len);
        if (nl) {
            size_t n = (size_t)(nl - u->line);
            snprintf(out, out_len, "%.*s", (int)n, u->line);
            memmove(u->line, nl + 1, u->line_len - n - 1);
            u->line_len -= n + 1;
            return true;
        }
        double left = deadline - now_s();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = u->out_fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        if (u->line_len == sizeof u->line - 1)
            u->line_len = 0; /* an absurdly long line: drop it */
        ssize_t got = read(u->out_fd, u->line + u->line_len, sizeof u->line - 1 - u->line_len);
        if (got <= 0)
            return false;
        u->line_len += (size_t)got;
    }
}

static void start_up(jung_up *u, const char *jungbench, const char *config)
{
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe: %s", strerror(errno));
    u->pid = fork();
    if (u->pid < 0)
        die("fork: %s", strerror(errno));
    if (u->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(jungbench, jungbench, "up", config, (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", jungbench, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    u->out_fd = fds[0];
    double deadline = now_s() + 90;
    char line[512];
    while (read_line(u, deadline, line, sizeof line)) {
        printf("up: %s\n", line);
        int pid;
        if (sscanf(line, "service %*s pid=%d", &pid) == 1 && u->n_services < MAX_PIDS)
            u->services[u->n_services++] = pid;
        if (strncmp(line, "gateway=", 8) == 0) {
            snprintf(u->gateway, sizeof u->gateway, "%s", line + 8);
            return;
        }
    }
    die("jungbench up did not print gateway=URL within 90 s");
}

/* Keeps reading up's stdout after the gateway line so that up (and any
 * service logging through it) never blocks on a full pipe. */
static void *drain(void *arg)
{
    jung_up *u = arg;
    char chunk[4096];
    ssize_t n;
    while ((n = read(u->out_fd, chunk, sizeof chunk)) > 0)
        fwrite(chunk, 1, (size_t)n, stdout);
    return NULL;
}

/* After SIGTERM, up must exit 0 and take every service with it. */
static void check_teardown(jung_up *u)
{
    kill(u->pid, SIGTERM);
    int status = 0;
    double deadline = now_s() + 30;
    pid_t done = 0;
    while ((done = waitpid(u->pid, &status, WNOHANG)) == 0 && now_s() < deadline)
        usleep(50 * 1000);
    if (done != u->pid)
        die("jungbench up still running 30 s after SIGTERM");
    u->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("jungbench up exited with status 0x%x after SIGTERM, want exit 0", status);
    if (u->n_services < 8)
        die("up reported %d service pids, want 8 (one 'service NAME pid=N' line each)",
            u->n_services);
    for (int i = 0; i < u->n_services; i++)
        if (kill(u->services[i], 0) == 0 || errno != ESRCH)
            die("service pid %d still exists after up exited", u->services[i]);
    printf("ok: up exited 0 on SIGTERM and its %d services are gone\n", u->n_services);
}

/* ---- HTTP ---------------------------------------------------------------- */

typedef struct buf {
    char *data;
    size_t len;
} buf;

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    buf *b = ud;
    char *grown = realloc(b->data, b->len + size * n + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, p, size * n);
    b->data = grown;
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* One request; returns the status and, when the body is JSON, *json. */
static long http(const char *method, const char *path, const char *userpwd, const char *body,
                 json_t **json)
{
    char url[1200];
    snprintf(url, sizeof url, "%s%s", g_up.gateway, path);
    CURL *c = curl_easy_init();
    buf b = {0};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (userpwd)
        curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        die("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    json_t *j = b.data ? json_loads(b.data, 0, NULL) : NULL;
    if (!j)
        die("%s %s -> %ld with a body that is not JSON: %.200s", method, path, status,
            b.data ? b.data : "(empty)");
    free(b.data);
    if (json)
        *json = j;
    else
        json_decref(j);
    return status;
}

/* Sends a request and checks its status; errors must carry {"error": "..."}. */
static json_t *expect(long want, const char *method, const char *path, const char *userpwd,
                      const char *body)
{
    json_t *j = NULL;
    long got = http(method, path, userpwd, body, &j);
    char *text = json_dumps(j, JSON_COMPACT);
    if (got != want) {
        fprintf(stderr, "FAIL: %s %s -> %ld %s, want %ld\n", method, path, got, text, want);
        g_failures++;
    } else if (want >= 400 && !json_is_string(json_object_get(j, "error"))) {
        fprintf(stderr, "FAIL: %s %s -> %ld without an \"error\" string: %s\n", method, path, got,
                text);
        g_failures++;
    } else {
        printf("ok: %s %s -> %ld %.160s\n", method, path, got, text);
    }
    free(text);
    return j;
}

static void expect_only(long want, const char *method, const char *path, const char *userpwd,
                        const char *body)
{
    json_decref(expect(want, method, path, userpwd, body));
}

/* ---- the scenario ----------------------------------------------------------- */

#define ALICE "alice:alice-secret"
#define BOB "bob:bob-secret"
#define LAMP "/users/alice/devices/lamp"

static void setup_accounts(void)
{
    expect_only(201, "POST", "/users", NULL,
                "{\"username\":\"alice\",\"password\":\"alice-secret\"}");
    expect_only(409, "POST", "/users", NULL, "{\"username\":\"alice\",\"password\":\"other\"}");
    expect_only(201, "POST", "/users", NULL, "{\"username\":\"bob\",\"password\":\"bob-secret\"}");
    json_t *dev = expect(201, "POST", "/users/alice/devices", ALICE, "{\"id\":\"lamp\"}");
    if (!json_is_string(json_object_get(dev, "id")) ||
        strcmp(json_string_value(json_object_get(dev, "id")), "lamp") != 0)
        die("created device has no id 'lamp'");
    json_decref(dev);
    json_t *user = expect(200, "GET", "/users/alice", ALICE, NULL);
    json_t *devices = json_object_get(user, "devices");
    if (json_array_size(devices) != 1 || json_object_get(user, "password_hash"))
        die("GET /users/alice should list exactly the device and no password hash");
    json_decref(user);
    expect_only(200, "GET", LAMP, ALICE, NULL);
    expect_only(201, "POST", LAMP "/rules", ALICE,
                "{\"operator\":\"==\",\"value\":0,\"command\":{\"value\":0}}");
    json_t *rules = expect(200, "GET", LAMP "/rules", ALICE, NULL);
    if (json_array_size(json_object_get(rules, "rules")) != 1)
        die("GET rules should list the one rule");
    json_decref(rules);
}

/* Newest-first readings of the lamp. */
static json_t *readings(void)
{
    json_t *j = NULL;
    long st = http("GET", LAMP "/readings?page=1&size=200", ALICE, NULL, &j);
    if (st != 200)
        die("GET readings -> %ld", st);
    return j;
}

/* True when the history holds a reading of `changed` followed (later
 * timestamp) by a reading of `back`. */
static bool changed_then_back(json_t *page, double changed, double back)
{
    json_t *list = json_object_get(page, "readings");
    double changed_at = -1;
    for (size_t i = json_array_size(list); i-- > 0;) { /* oldest first */
        json_t *r = json_array_get(list, i);
        double v = json_number_value(json_object_get(r, "value"));
        double t = json_number_value(json_object_get(r, "timestamp"));
        if (v == changed && changed_at < 0)
            changed_at = t;
        if (v == back && changed_at >= 0 && t > changed_at)
            return true;
    }
    return false;
}

static void rule_round_trip(void)
{
    double deadline = now_s() + 30;
    for (;;) {
        json_t *page = readings();
        json_t *first = json_array_get(json_object_get(page, "readings"), 0);
        bool ok = first && json_number_value(json_object_get(first, "value")) == 0;
        json_decref(page);
        if (ok)
            break;
        if (now_s() > deadline)
            die("no reading of value 0 from the simulated lamp within 30 s");
        usleep(200 * 1000);
    }
    printf("ok: readings arrive (value 0)\n");
    expect_only(202, "POST", LAMP "/commands", ALICE, "{\"value\":7}");
    deadline = now_s() + 30;
    for (;;) {
        json_t *page = readings();
        bool ok = changed_then_back(page, 7, 0);
        json_decref(page);
        if (ok)
            break;
        if (now_s() > deadline)
            die("readings did not go to 7 and back to 0 (rule '== 0 -> command 0') in 30 s");
        usleep(200 * 1000);
    }
    printf("ok: the command set the lamp to 7 and the rule set it back to 0\n");
}

static void error_codes(void)
{
    expect_only(403, "GET", LAMP, BOB, NULL);
    expect_only(403, "GET", "/users/alice", BOB, NULL);
    expect_only(403, "POST", LAMP "/commands", BOB, "{\"value\":1}");
    expect_only(401, "GET", LAMP, "alice:wrong", NULL);
    expect_only(401, "GET", LAMP, "nobody:x", NULL);
    expect_only(401, "GET", LAMP, NULL, NULL);
    expect_only(400, "POST", LAMP "/commands", ALICE, "{\"value\": ");
    expect_only(400, "POST", LAMP "/commands", ALICE, "{\"value\":\"high\"}");
    expect_only(400, "POST", "/users", NULL, "[1,2]");
    expect_only(400, "POST", LAMP "/rules", ALICE,
                "{\"operator\":\"~\",\"value\":0,\"command\":{\"value\":0}}");
    expect_only(404, "GET", "/nowhere", NULL, NULL);
    expect_only(404, "GET", "/users/alice/devices/ghost", ALICE, NULL);
    expect_only(405, "DELETE", "/users/alice", ALICE, NULL);
    expect_only(405, "GET", "/users", NULL, NULL);
    size_t big = 100 * 1024;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    body[big] = '\0';
    expect_only(413, "POST", "/users", NULL, body);
    free(body);
    /* still serving after all that */
    expect_only(200, "GET", "/users/alice", ALICE, NULL);
}

/* ---- strict HTTP, over a raw socket -------------------------------------------- */

/* Sends a raw request to the gateway, reads until it closes (10 s at most)
 * and returns how many responses began; *code is the first one's status. */
static int raw_exchange(const char *request, int *code)
{
    unsigned port = 0;
    sscanf(strrchr(g_up.gateway, ':') + 1, "%u", &port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    if (getaddrinfo("127.0.0.1", service, &hints, &ai) != 0)
        die("no address for the gateway");
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        die("cannot connect to the gateway at %s", g_up.gateway);
    freeaddrinfo(ai);
    (void)!send(fd, request, strlen(request), MSG_NOSIGNAL); /* it may answer and close early */
    shutdown(fd, SHUT_WR);
    static char reply[65536];
    size_t len = 0;
    double until = now_s() + 10;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (len < sizeof reply - 1 && now_s() < until && poll(&p, 1, 1000) >= 0) {
        ssize_t n = recv(fd, reply + len, sizeof reply - 1 - len, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            break;
        len += n > 0 ? (size_t)n : 0;
    }
    close(fd);
    reply[len] = '\0';
    int responses = 0;
    *code = 0;
    for (const char *at = strstr(reply, "HTTP/1."); at; at = strstr(at + 1, "HTTP/1.")) {
        if (responses++ == 0)
            sscanf(at + 9, "%d", code);
    }
    return responses;
}

static void expect_raw(int want, const char *what, const char *request)
{
    int code;
    int responses = raw_exchange(request, &code);
    if (responses != 1 || code != want) {
        fprintf(stderr, "FAIL: %s -> %d response(s), first %d (want one %d)\n", what, responses,
                code, want);
        g_failures++;
    } else
        printf("ok: %d %s, one response\n", want, what);
}

/* What libmicrohttpd alone got wrong (docs/rest-api.md, Errors): every case
 * gets one response with the right code, from the gateway `up` started. */
static void strict_http(void)
{
    expect_raw(400, "?size=10%00", "GET " LAMP "/readings?size=10%00 HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_raw(400, "/users/bob%00/...",
               "GET /users/bob%00/devices/lamp/readings HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_raw(400, "Content-Length: abc",
               "POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}");
    expect_raw(400, "Content-Length: +32",
               "POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: +32\r\n\r\n{}");
    expect_raw(
        400, "two Content-Length headers",
        "POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}");
    expect_raw(501, "Transfer-Encoding: gzip",
               "POST /users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}");
    static char many[20000];
    int n = snprintf(many, sizeof many, "GET " LAMP "/readings?");
    for (int i = 0; i < 2000; i++)
        n += snprintf(many + n, sizeof many - (size_t)n, "%sa%d=1", i ? "&" : "", i);
    snprintf(many + n, sizeof many - (size_t)n, " HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_raw(400, "2,000 query arguments", many);
    expect_only(200, "GET", "/users/alice", ALICE, NULL); /* still serving */
}

/* ---- Kafka variant ------------------------------------------------------------ */

static bool reachable(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host)
        return false;
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return false;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return ok;
}

/* Copies the config to a temporary file with @KAFKA_BOOTSTRAP@ replaced. */
static const char *prepare_config(const char *path, char *tmp, size_t tmp_len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open config %s: %s", path, strerror(errno));
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *mark = strstr(text, "@KAFKA_BOOTSTRAP@");
    if (!mark)
        return path;
    const char *bootstrap = getenv("KAFKA_BOOTSTRAP");
    if (!bootstrap || !*bootstrap)
        skip("KAFKA_BOOTSTRAP is not set (start Kafka with scripts/kafka and export it)");
    if (!reachable(bootstrap)) {
        char why[400];
        snprintf(why, sizeof why, "Kafka at KAFKA_BOOTSTRAP=%s is not reachable", bootstrap);
        skip(why);
    }
    snprintf(tmp, tmp_len, "/tmp/jb-e2e-XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0)
        die("mkstemp: %s", strerror(errno));
    f = fdopen(fd, "w");
    fprintf(f, "%.*s%s%s", (int)(mark - text), text, bootstrap, mark + strlen("@KAFKA_BOOTSTRAP@"));
    fclose(f);
    return tmp;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: e2e JUNGBENCH CONFIG\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    char tmp[64] = "";
    const char *config = prepare_config(argv[2], tmp, sizeof tmp);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    start_up(&g_up, argv[1], config);
    pthread_t drainer;
    pthread_create(&drainer, NULL, drain, &g_up);
    pthread_detach(drainer); /* ends with up's stdout, or with the test */
    setup_accounts();
    rule_round_trip();
    error_codes();
    strict_http();
    check_teardown(&g_up);
    curl_global_cleanup();
    if (tmp[0])
        unlink(tmp);
    if (g_failures) {
        fprintf(stderr, "FAIL: %d checks failed\n", g_failures);
        return 1;
    }
    printf("PASS\n");
    return 0;
}
