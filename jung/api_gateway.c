/* api_gateway.c - Jung's API gateway (dissertation section 4.1.1).
 *
 * Translates the REST API (docs/rest-api.md) into tasks on the bus: every
 * authenticated request first sends AUTH to auth_manager (with the device id
 * on device routes), then the task to the service that owns the resource,
 * and answers with that service's result as JSON.
 *
 * HTTP is libmicrohttpd with one thread per connection: a handler blocks on
 * jung_bus_call for the length of a request/reply over the broker, and a
 * connection thread keeps that blocking off every other client's path. The
 * main thread serves the (unused) api_gateway_tasks topic so that SIGTERM,
 * which stops the bus, also ends the process.
 */
#include "jung/lib/jung.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define GW_SERVICE "api_gateway"
#define GW_MAX_NAME 64
#define GW_DEFAULT_PAGE_SIZE 10
#define GW_MAX_PAGE_SIZE 1000
#define GW_IDLE_TIMEOUT_S 60
/* libmicrohttpd's own limit sits this far above the budget, so that the
 * connections past it can still be answered 503 (see the guard below). */
#define GW_SPARE_CONNECTIONS 64
#define GW_REAPER_PERIOD_MS 200
/* The API reads two query arguments (page, size); a few more are tolerated
 * for cache busters and the like. */
#define GW_MAX_QUERY_ARGS 32

/* ---- connection guard ---------------------------------------------------
 * libmicrohttpd closes a connection only once it has been idle for
 * GW_IDLE_TIMEOUT_S, and counts every open connection against a single
 * limit. A client trickling one header byte every few seconds held its slot
 * for good, and 1,024 such sockets from anyone shut the gateway to
 * everyone, whose requests were then closed unanswered. Three rules fix it:
 *  - one client address holds at most --max-client-connections
 *    (libmicrohttpd's per-IP limit);
 *  - a request line and its headers must arrive within --header-timeout-ms
 *    of the connection opening or of the previous response: the reaper
 *    thread shuts down the socket of a connection still waiting past that,
 *    and libmicrohttpd then closes it as a client that hung up;
 *  - past --max-connections open connections a request is answered 503
 *    with "Connection: close" rather than dropped; libmicrohttpd's own limit
 *    sits GW_SPARE_CONNECTIONS above, to have room for those answers.
 * The guard knows each connection through libmicrohttpd's per-connection
 * context (MHD_OPTION_NOTIFY_CONNECTION). */
typedef struct guarded_conn {
    struct guarded_conn *prev, *next;
    int fd;
    double waiting_since_ms; /* waiting for a request's headers since; 0: not waiting */
} guarded_conn;

typedef struct conn_guard {
    pthread_mutex_t lock;
    guarded_conn list; /* sentinel of a circular list */
    int open;
    long budget, per_client, header_timeout_ms;
    long shut_slow, refused_full; /* counters, for the log at exit */
    pthread_t reaper;
    bool reaper_started;
    atomic_bool stop;
} conn_guard;

/* ---- login throttle -------------------------------------------------------
 * Failed logins (auth_manager answering AUTH with 401: unknown user or
 * wrong password) are counted per user name and per client address, each
 * over a window that opens at the first failure. Past a limit, logins of
 * that user or from that client are answered 429 with Retry-After until
 * the window closes, without asking auth_manager: a guess then costs the
 * attacker a wait and the platform no Argon2id hash. The right password is
 * refused too while throttled, or the limit would tell right from wrong.
 * A success clears the user's count (not the client's, or one valid
 * account would reset the client's). Each table is a fixed hash table: a
 * key may use GW_THROTTLE_PROBES slots from its hash on, a new one taking
 * an expired slot there, else the one with the fewest failures, so memory
 * stays bounded whatever names are tried and a lookup costs a few
 * compares under the lock, not a scan. */
#define GW_THROTTLE_SLOTS 4096
#define GW_THROTTLE_PROBES 8 /* slots a key may use, from its hash on */

typedef struct throttle_entry {
    char key[JUNG_MAX_USERNAME + 1]; /* user name or IPv4 address; "" free */
    double window_start_ms;
    long failures;
} throttle_entry;

typedef struct throttle_table {
    throttle_entry *slots; /* GW_THROTTLE_SLOTS */
    uint64_t seed;
    long limit; /* failures per window; 0: no limit */
} throttle_table;

typedef struct login_throttle {
    pthread_mutex_t lock;
    throttle_table users, clients;
    long window_ms;
    long refused; /* logins answered 429, for the log at exit */
} login_throttle;

typedef struct gateway {
    jung_bus *bus;
    size_t max_body;
    int call_timeout_ms;
    conn_guard guard;
    login_throttle throttle;
} gateway;

/* Per-request state kept across libmicrohttpd's calls of the handler: the
 * body arrives in pieces before the final call that answers. */
typedef struct request {
    char *body;
    size_t len;
    bool too_large;
} request;

/* ---- responses -------------------------------------------------------- */

/* The name every response carries in X-Jung-Gateway (--gateway-id,
 * default the instance id). A harness that knows which gateway it booted
 * checks it before the load, so a different Jung answering on the same
 * address (another run's, another host's) is refused, not measured. Set
 * once in main() before the HTTP server starts, then only read. */
static const char *gw_identity = "";
#define GW_IDENTITY_HEADER "X-Jung-Gateway"

/* A JSON response (body is stolen); NULL when out of memory. */
static struct MHD_Response *json_response(json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return NULL;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, GW_IDENTITY_HEADER, gw_identity);
    return resp;
}

static json_t *error_body(const char *message)
{
    return json_pack("{s:s}", "error", message);
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, json_t *body)
{
    struct MHD_Response *resp = json_response(body);
    if (!resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *message)
{
    return send_json(conn, status, error_body(message));
}

/* 401 carries WWW-Authenticate so browsers and curl know to send Basic. */
static enum MHD_Result send_unauthorized(struct MHD_Connection *conn, const char *message)
{
    struct MHD_Response *resp = json_response(error_body(message));
    if (!resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_basic_auth_fail_response(conn, "jung", resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Services answer with HTTP-like codes; anything outside the client and
 * server error ranges is a bug somewhere, reported as 502. */
static enum MHD_Result send_bus_error(struct MHD_Connection *conn, const jung_error *err)
{
    unsigned status = (err->code >= 400 && err->code <= 599) ? (unsigned)err->code : 502;
    if (status == 401)
        return send_unauthorized(conn, err->message);
    return send_error(conn, status, err->message);
}

static double guard_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* libmicrohttpd calls this as each connection opens and closes. */
static void guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe)
{
    conn_guard *g = cls;
    guarded_conn *c = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c = calloc(1, sizeof *c);
        if (!c)
            return;
        c->fd = fd ? fd->connect_fd : -1;
        c->waiting_since_ms = guard_now_ms();
        pthread_mutex_lock(&g->lock);
        c->next = g->list.next;
        c->prev = &g->list;
        g->list.next->prev = c;
        g->list.next = c;
        g->open++;
        pthread_mutex_unlock(&g->lock);
        *socket_context = c;
    } else if (c) { /* closed: libmicrohttpd closes the socket after this */
        pthread_mutex_lock(&g->lock);
        c->prev->next = c->next;
        c->next->prev = c->prev;
        g->open--;
        pthread_mutex_unlock(&g->lock);
        free(c);
        *socket_context = NULL;
    }
}

static guarded_conn *guarded(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

/* A request's headers are in: no deadline while it is handled. True when
 * the gateway is over its connection budget. */
static bool guard_request_started(conn_guard *g, struct MHD_Connection *conn)
{
    guarded_conn *c = guarded(conn);
    pthread_mutex_lock(&g->lock);
    if (c)
        c->waiting_since_ms = 0;
    bool full = g->open > g->budget;
    g->refused_full += full;
    pthread_mutex_unlock(&g->lock);
    return full;
}

/* The response is out: the next request's deadline starts now. */
static void guard_request_done(conn_guard *g, struct MHD_Connection *conn)
{
    guarded_conn *c = guarded(conn);
    pthread_mutex_lock(&g->lock);
    if (c)
        c->waiting_since_ms = guard_now_ms();
    pthread_mutex_unlock(&g->lock);
}

static void *guard_reaper(void *arg)
{
    conn_guard *g = arg;
    const struct timespec period = {0, GW_REAPER_PERIOD_MS * 1000000L};
    while (!atomic_load(&g->stop)) {
        nanosleep(&period, NULL);
        double now = guard_now_ms();
        pthread_mutex_lock(&g->lock);
        /* Under the lock, so the fd cannot be closed and reused meanwhile. */
        for (guarded_conn *c = g->list.next; c != &g->list; c = c->next)
            if (c->waiting_since_ms > 0 && now - c->waiting_since_ms > g->header_timeout_ms &&
                c->fd >= 0) {
                shutdown(c->fd, SHUT_RDWR);
                c->waiting_since_ms = 0;
                g->shut_slow++;
            }
        pthread_mutex_unlock(&g->lock);
    }
    return NULL;
}

static bool guard_start(conn_guard *g)
{
    pthread_mutex_init(&g->lock, NULL);
    g->list.next = g->list.prev = &g->list;
    g->reaper_started = pthread_create(&g->reaper, NULL, guard_reaper, g) == 0;
    return g->reaper_started;
}

static void guard_stop(conn_guard *g, const char *instance)
{
    atomic_store(&g->stop, true);
    if (g->reaper_started)
        pthread_join(g->reaper, NULL);
    if (g->shut_slow || g->refused_full)
        jung_log("%s: %ld connection(s) closed for sending no complete request within %ld ms, "
                 "%ld request(s) answered 503 over the budget of %ld connections",
                 instance, g->shut_slow, g->header_timeout_ms, g->refused_full, g->budget);
}

static enum MHD_Result send_full(struct MHD_Connection *conn, long budget)
{
    char msg[128];
    snprintf(msg, sizeof msg, "the gateway is at its limit of %ld connections: try again", budget);
    struct MHD_Response *resp = json_response(error_body(msg));
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
    MHD_destroy_response(resp);
    return ret;
}

static bool throttle_start(login_throttle *t)
{
    if (sodium_init() < 0) /* for randombytes_buf */
        return false;
    pthread_mutex_init(&t->lock, NULL);
    t->users.slots = calloc(GW_THROTTLE_SLOTS, sizeof *t->users.slots);
    t->clients.slots = calloc(GW_THROTTLE_SLOTS, sizeof *t->clients.slots);
    randombytes_buf(&t->users.seed, sizeof t->users.seed);
    randombytes_buf(&t->clients.seed, sizeof t->clients.seed);
    return t->users.slots && t->clients.slots;
}

static void throttle_stop(login_throttle *t, const char *instance)
{
    if (t->refused)
        jung_log("%s: %ld login(s) answered 429 after too many failures", instance, t->refused);
    free(t->users.slots);
    free(t->clients.slots);
}

static bool throttle_live(const throttle_entry *e, double now, long window_ms)
{
    return e->key[0] && now - e->window_start_ms < window_ms;
}

/* FNV-1a over the key, from a per-process random seed, so that no one
 * can pick names that share slots. */
static size_t throttle_slot(const throttle_table *t, const char *key)
{
    uint64_t h = t->seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % GW_THROTTLE_SLOTS);
}

/* The key's entry with an open window, or NULL; with create, a fresh one
 * in the slot least worth keeping among the key's GW_THROTTLE_PROBES. */
static throttle_entry *throttle_find(throttle_table *t, const char *key, double now, long window_ms,
                                     bool create)
{
    throttle_entry *spare = NULL;
    size_t first = throttle_slot(t, key);
    for (size_t i = 0; i < GW_THROTTLE_PROBES; i++) {
        throttle_entry *e = &t->slots[(first + i) % GW_THROTTLE_SLOTS];
        bool live = throttle_live(e, now, window_ms);
        if (live && strcmp(e->key, key) == 0)
            return e;
        bool spare_live = spare && throttle_live(spare, now, window_ms);
        if (!spare || (!live && spare_live) ||
            (live && spare_live && e->failures < spare->failures))
            spare = e;
    }
    if (!create)
        return NULL;
    snprintf(spare->key, sizeof spare->key, "%s", key);
    spare->window_start_ms = now;
    spare->failures = 0;
    return spare;
}

/* Milliseconds until the key may log in again; 0 when it may now. */
static long throttle_wait_in(throttle_table *t, const char *key, double now, long window_ms)
{
    throttle_entry *e = t->limit ? throttle_find(t, key, now, window_ms, false) : NULL;
    if (!e || e->failures < t->limit)
        return 0;
    return (long)(e->window_start_ms + window_ms - now) + 1;
}

static long throttle_wait_ms(login_throttle *t, const char *user, const char *client)
{
    double now = guard_now_ms();
    pthread_mutex_lock(&t->lock);
    long u = throttle_wait_in(&t->users, user, now, t->window_ms);
    long c = throttle_wait_in(&t->clients, client, now, t->window_ms);
    t->refused += u > 0 || c > 0;
    pthread_mutex_unlock(&t->lock);
    return u > c ? u : c;
}

/* Counts a failed login, or clears the user's count after a success. */
static void throttle_record(login_throttle *t, const char *user, const char *client, bool failed)
{
    double now = guard_now_ms();
    pthread_mutex_lock(&t->lock);
    throttle_entry *u =
        t->users.limit ? throttle_find(&t->users, user, now, t->window_ms, failed) : NULL;
    if (u)
        u->failures = failed ? u->failures + 1 : 0;
    throttle_entry *c = failed && t->clients.limit
                            ? throttle_find(&t->clients, client, now, t->window_ms, true)
                            : NULL;
    if (c)
        c->failures++;
    pthread_mutex_unlock(&t->lock);
}

/* The client's IPv4 address as text ("" when unknown). */
static void client_address(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (i && i->client_addr && i->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)i->client_addr)->sin_addr, out,
                  (socklen_t)len);
}

static enum MHD_Result send_throttled(struct MHD_Connection *conn, long wait_ms)
{
    long seconds = (wait_ms + 999) / 1000;
    char msg[128], retry[24];
    snprintf(msg, sizeof msg,
             "too many failed logins for this user or from this client: try again in %ld s",
             seconds);
    snprintf(retry, sizeof retry, "%ld", seconds);
    struct MHD_Response *resp = json_response(error_body(msg));
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_TOO_MANY_REQUESTS, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- strict HTTP ----------------------------------------------------------
 * libmicrohttpd 0.9.75 decodes the URL before the handler sees it and
 * stops at a decoded NUL ("/users/bob%00/x" reached it as "/users/bob",
 * "?size=10%00" as "10"); it stores each query argument in its 32 KiB
 * connection pool and, once that is full, closes the connection without
 * an answer (2,000 arguments); and for a Content-Length it cannot parse
 * ("abc", "-1", "+32", "32, 32") it sends its 400's status line and headers
 * twice, because its header parser queues the error and its state machine
 * then queues the same response again. Two hooks see these requests before
 * libmicrohttpd acts on them, both on the connection's own thread:
 *  - the URI log callback gets the raw request target, before decoding and
 *    before the arguments are parsed;
 *  - the error logger is called the moment the Content-Length is refused,
 *    before any byte of the reply is built.
 * Where libmicrohttpd would answer wrongly, reject_now writes one complete
 * response to the socket itself and shuts its sending side, so what
 * libmicrohttpd sends after it fails and it closes the connection. */

/* What the request line told, kept per thread (one thread per
 * connection, one request at a time on it) until the handler's first call:
 * the connection, whether reject_now has answered it, and why its raw URL
 * is refused (NULL: it is not). Nothing is allocated before that call:
 * when its connection pool runs out (2,000 query arguments) libmicrohttpd
 * drops a request without the completion callback that would free it. */
static _Thread_local struct MHD_Connection *tl_conn;
static _Thread_local bool tl_answered;
static _Thread_local const char *tl_bad_url;

/* Writes "STATUS + JSON error + Connection: close" straight to the socket
 * and shuts its sending side. Non-blocking socket, a few hundred bytes
 * into an empty send buffer: one send is enough; a client that hung up
 * just misses it. */
static void reject_now(struct MHD_Connection *conn, unsigned status, const char *message)
{
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    json_t *error = error_body(message);
    char *body = error ? json_dumps(error, JSON_COMPACT) : NULL;
    json_decref(error);
    if (!fd || !body) {
        free(body);
        return;
    }
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %u %s\r\nDate: %s\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     status, MHD_get_reason_phrase_for(status), date, strlen(body));
    struct iovec iov[2] = {{head, (size_t)n}, {body, strlen(body)}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    (void)!sendmsg(fd->connect_fd, &msg, MSG_NOSIGNAL);
    shutdown(fd->connect_fd, SHUT_WR);
    free(body);
    tl_answered = true;
}

/* Query arguments in a raw target: '&'-separated pieces after '?'. */
static size_t count_query_args(const char *target)
{
    const char *q = strchr(target, '?');
    if (!q || q[1] == '\0')
        return 0;
    size_t n = 1;
    for (const char *p = q + 1; *p; p++)
        n += *p == '&';
    return n;
}

/* libmicrohttpd calls this with the raw target of each request line. */
static void *on_request_line(void *cls, const char *target, struct MHD_Connection *conn)
{
    (void)cls;
    tl_conn = conn;
    tl_answered = false;
    tl_bad_url = NULL;
    if (count_query_args(target) > GW_MAX_QUERY_ARGS) {
        char msg[96];
        snprintf(msg, sizeof msg, "the query has more than %d arguments", GW_MAX_QUERY_ARGS);
        reject_now(conn, MHD_HTTP_BAD_REQUEST, msg);
    } else if (strstr(target, "%00"))
        tl_bad_url = "the URL contains an encoded NUL byte (%00)";
    return NULL; /* the request's context starts in on_request */
}

/* libmicrohttpd's error log, still printed (to stderr, as its own logger); the two messages it logs
 * as it refuses a Content-Length precede its doubled reply (see above). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (tl_answered)
        return; /* the failures that follow reject_now, by design */
    fputs(msg, stderr);
    if (!tl_conn)
        return;
    if (strncmp(msg, "Failed to parse `Content-Length'", 32) == 0)
        reject_now(tl_conn, MHD_HTTP_BAD_REQUEST,
                   "Content-Length must be one decimal number of bytes");
    else if (strncmp(msg, "Too large value of 'Content-Length'", 35) == 0)
        reject_now(tl_conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
}

/* The framing headers of a request, counted at its first handler call. */
typedef struct framing {
    int content_lengths, transfer_encodings;
    bool chunked; /* the one Transfer-Encoding is "chunked" */
    char coding[48];
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    framing *f = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        f->content_lengths++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encodings++;
        f->chunked = strcasecmp(value, "chunked") == 0;
        snprintf(f->coding, sizeof f->coding, "%s", value);
    }
    return MHD_YES;
}

/* Refuses a request whose body length is ambiguous: libmicrohttpd reads
 * the first Content-Length and ignores the others, and passes any
 * Transfer-Encoding but chunked on as a body of unknown length. Returns
 * false with the response queued in *ret. */
static bool framing_ok(struct MHD_Connection *conn, enum MHD_Result *ret)
{
    framing f = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.transfer_encodings > 1 || (f.transfer_encodings == 1 && !f.chunked)) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "transfer coding '%s' is not supported: send chunked or "
                 "Content-Length",
                 f.transfer_encodings > 1 ? "several" : f.coding);
        *ret = send_error(conn, MHD_HTTP_NOT_IMPLEMENTED, msg);
        return false;
    }
    if (f.content_lengths > 1 || (f.content_lengths && f.transfer_encodings)) {
        *ret = send_error(conn, MHD_HTTP_BAD_REQUEST,
                          f.content_lengths > 1 ? "more than one Content-Length header"
                                                : "both Content-Length and Transfer-Encoding");
        return false;
    }
    return true;
}

/* ---- input validation ------------------------------------------------- */

/* User names and device ids appear in URL paths, so they are limited to
 * characters that need no escaping there. */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > GW_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

static bool valid_operator(const char *op)
{
    return strcmp(op, "==") == 0 || strcmp(op, "!=") == 0 || strcmp(op, ">") == 0 ||
           strcmp(op, "<") == 0;
}

/* Parses the request body as one JSON object; on failure writes why. */
static json_t *parse_body(const request *req, char *why, size_t why_len)
{
    if (req->len == 0) {
        snprintf(why, why_len, "request body is empty: send a JSON object");
        return NULL;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!body) {
        snprintf(why, why_len, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        snprintf(why, why_len, "request body must be a JSON object");
        return NULL;
    }
    return body;
}

/* ---- routing ------------------------------------------------------------ */

typedef enum route_kind {
    ROUTE_NONE,
    ROUTE_USERS,        /* /users */
    ROUTE_USER,         /* /users/{u} */
    ROUTE_USER_DEVICES, /* /users/{u}/devices */
    ROUTE_DEVICE,       /* /users/{u}/devices/{d} */
    ROUTE_DEVICE_READINGS /* /users/{u}/devices/{d}/readings */,
    ROUTE_DEVICE_COMMANDS,
    ROUTE_DEVICE_RULES,
} route_kind;

typedef struct route {
    route_kind kind;
    char user[GW_MAX_NAME + 1];
    char device[GW_MAX_NAME + 1];
} route;

#define GW_MAX_SEGMENTS 6

/* Splits "/a/b/c" into at most GW_MAX_SEGMENTS segments; false when the path
 * has more, an empty segment, or a segment too long to be a name. */
static bool split_path(const char *url, char seg[][GW_MAX_NAME + 1], int *n)
{
    *n = 0;
    if (url[0] != '/')
        return false;
    const char *p = url + 1;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || len > GW_MAX_NAME || *n == GW_MAX_SEGMENTS)
            return false;
        memcpy(seg[*n], p, len);
        seg[*n][len] = '\0';
        (*n)++;
        if (!slash)
            break;
        p = slash + 1;
        if (*p == '\0')
            return false; /* trailing slash */
    }
    return true;
}

static route match_route(const char *url)
{
    route r = {.kind = ROUTE_NONE};
    char seg[GW_MAX_SEGMENTS][GW_MAX_NAME + 1];
    int n;
    if (!split_path(url, seg, &n) || n == 0 || strcmp(seg[0], "users") != 0)
        return r;
    if (n == 1) {
        r.kind = ROUTE_USERS;
        return r;
    }
    if (!valid_name(seg[1]))
        return r;
    strcpy(r.user, seg[1]);
    if (n == 2) {
        r.kind = ROUTE_USER;
        return r;
    }
    if (strcmp(seg[2], "devices") != 0)
        return r;
    if (n == 3) {
        r.kind = ROUTE_USER_DEVICES;
        return r;
    }
    if (!valid_name(seg[3]))
        return r;
    strcpy(r.device, seg[3]);
    if (n == 4)
        r.kind = ROUTE_DEVICE;
    else if (n == 5 && strcmp(seg[4], "readings") == 0)
        r.kind = ROUTE_DEVICE_READINGS;
    else if (n == 5 && strcmp(seg[4], "commands") == 0)
        r.kind = ROUTE_DEVICE_COMMANDS;
    else if (n == 5 && strcmp(seg[4], "rules") == 0)
        r.kind = ROUTE_DEVICE_RULES;
    return r;
}

/* The methods each route answers, for 405 and its Allow header. */
static const char *route_allow(route_kind kind)
{
    switch (kind) {
    case ROUTE_USERS:
    case ROUTE_USER_DEVICES:
    case ROUTE_DEVICE_COMMANDS:
        return "POST";
    case ROUTE_USER:
    case ROUTE_DEVICE:
    case ROUTE_DEVICE_READINGS:
        return "GET";
    case ROUTE_DEVICE_RULES:
        return "GET, POST";
    case ROUTE_NONE:
        break;
    }
    return "";
}

static bool method_allowed(route_kind kind, const char *method)
{
    const char *allow = route_allow(kind);
    if (strcmp(method, "GET") == 0)
        return strstr(allow, "GET") != NULL;
    if (strcmp(method, "POST") == 0)
        return strstr(allow, "POST") != NULL;
    return false;
}

static enum MHD_Result send_not_allowed(struct MHD_Connection *conn, route_kind kind,
                                        const char *method)
{
    char msg[128];
    snprintf(msg, sizeof msg, "method %.16s not allowed here; allowed: %s", method,
             route_allow(kind));
    struct MHD_Response *resp = json_response(error_body(msg));
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, route_allow(kind));
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- handlers ----------------------------------------------------------- */

/* Everything a handler needs about one request. */
typedef struct call {
    gateway *gw;
    struct MHD_Connection *conn;
    const route *rt;
    const request *req;
    const char *method;
} call;

/* The Basic credentials as JSON strings ({username, password}), or NULL
 * with the reason in *why. Decoded here rather than by libmicrohttpd, whose
 * parser ends the password at a NUL byte ("s3cret\0junk" read as "s3cret")
 * and passes on invalid UTF-8, which no JSON task can carry: either is a
 * bad credential (401), never a shortened or an empty one. */
static json_t *basic_credentials(struct MHD_Connection *conn, const char **why)
{
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    *why = "missing credentials: use HTTP Basic authentication";
    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return NULL;
    unsigned char raw[JUNG_MAX_USERNAME + JUNG_MAX_PASSWORD + 2];
    size_t n = 0;
    *why = "malformed credentials: the Basic token is not base64, or too long";
    if (sodium_base642bin(raw, sizeof raw, h + 6, strlen(h + 6), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return NULL;
    const unsigned char *colon = memchr(raw, ':', n);
    size_t ulen = colon ? (size_t)(colon - raw) : 0, plen = colon ? n - ulen - 1 : 0;
    *why = "malformed credentials: give user:password, neither empty nor too long";
    if (!colon || ulen == 0 || plen == 0 || ulen > JUNG_MAX_USERNAME || plen > JUNG_MAX_PASSWORD)
        return NULL;
    *why = "malformed credentials: a NUL byte";
    if (memchr(raw, '\0', n))
        return NULL;
    /* json_stringn refuses invalid UTF-8. */
    json_t *user = json_stringn((const char *)raw, ulen);
    json_t *pass = json_stringn((const char *)colon + 1, plen);
    sodium_memzero(raw, sizeof raw);
    *why = "malformed credentials: not UTF-8";
    if (!user || !pass) {
        json_decref(user);
        json_decref(pass);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "username", user, "password", pass);
}

/* Asks auth_manager whether the Basic credentials may act on the route's
 * user (and device). On refusal queues the error response in *ret and
 * returns false; on success hands auth_manager's answer ({username,
 * device?}) to *granted, which the caller releases. */
static bool authorize(const call *c, enum MHD_Result *ret, json_t **granted)
{
    const char *why = NULL;
    json_t *payload = basic_credentials(c->conn, &why);
    if (!payload) {
        *ret = send_unauthorized(c->conn, why);
        return false;
    }
    char user[JUNG_MAX_USERNAME + 1], client[INET_ADDRSTRLEN];
    snprintf(user, sizeof user, "%s", json_string_value(json_object_get(payload, "username")));
    client_address(c->conn, client, sizeof client);
    long wait_ms = throttle_wait_ms(&c->gw->throttle, user, client);
    if (wait_ms > 0) {
        json_decref(payload);
        *ret = send_throttled(c->conn, wait_ms);
        return false;
    }
    bool same_user = strcmp(user, c->rt->user) == 0;
    if (c->rt->device[0])
        json_object_set_new(payload, "device_id", json_string(c->rt->device));
    json_t *data = NULL;
    jung_error err = {0};
    bool ok = jung_bus_call(c->gw->bus, "auth_manager", "AUTH", payload, c->gw->call_timeout_ms,
                            &data, &err);
    /* Only auth_manager's 401 is a wrong guess; a 403 or 404 about the
     * device comes after the password matched. */
    if (ok || err.code == 401 || err.code == 403 || err.code == 404)
        throttle_record(&c->gw->throttle, user, client, !ok && err.code == 401);
    if (!ok) {
        *ret = send_bus_error(c->conn, &err);
        return false;
    }
    if (!same_user) {
        json_decref(data);
        *ret =
            send_error(c->conn, MHD_HTTP_FORBIDDEN, "these credentials may not access this user");
        return false;
    }
    *granted = data;
    return true;
}

/* Sends one task and answers with its result under the given status. */
static enum MHD_Result forward(const call *c, const char *service, const char *type,
                               json_t *payload, unsigned status)
{
    json_t *data = NULL;
    jung_error err = {0};
    if (!jung_bus_call(c->gw->bus, service, type, payload, c->gw->call_timeout_ms, &data, &err))
        return send_bus_error(c->conn, &err);
    return send_json(c->conn, status, data ? data : json_object());
}

/* GET /users/U/devices/D: auth_manager has just read the device from
 * device_registry (or its short-lived cache of it) to check its owner, and
 * returns that record with the grant, so asking the registry again would
 * only add two broker hops (docs/tasks.md). */
static enum MHD_Result get_device(const call *c, json_t *granted)
{
    json_t *device = json_object_get(granted, "device");
    if (json_is_object(device))
        return send_json(c->conn, MHD_HTTP_OK, json_incref(device));
    return forward(c, "device_registry", "GET", json_pack("{s:s}", "id", c->rt->device),
                   MHD_HTTP_OK);
}

static enum MHD_Result create_user(const call *c)
{
    char why[200];
    json_t *body = parse_body(c->req, why, sizeof why);
    if (!body)
        return send_error(c->conn, MHD_HTTP_BAD_REQUEST, why);
    const char *username = json_string_value(json_object_get(body, "username"));
    const char *password = json_string_value(json_object_get(body, "password"));
    enum MHD_Result ret;
    if (!username || !valid_name(username))
        ret =
            send_error(c->conn, MHD_HTTP_BAD_REQUEST,
                       "field 'username' must be a string of 1-64 letters, digits, '_', '-', '.'");
    else if (!password || password[0] == '\0')
        ret = send_error(c->conn, MHD_HTTP_BAD_REQUEST,
                         "field 'password' must be a non-empty string");
    else
        ret = forward(c, "user_registry", "CREATE",
                      json_pack("{s:s, s:s}", "username", username, "password", password),
                      MHD_HTTP_CREATED);
    json_decref(body);
    return ret;
}

/* The registry's answer includes the password hash, which never leaves
 * the platform. */
static enum MHD_Result get_user(const call *c)
{
    json_t *data = NULL;
    jung_error err = {0};
    if (!jung_bus_call(c->gw->bus, "user_registry", "GET",
                       json_pack("{s:s}", "username", c->rt->user), c->gw->call_timeout_ms, &data,
                       &err))
        return send_bus_error(c->conn, &err);
    json_t *out = json_object();
    json_object_set(out, "username", json_object_get(data, "username"));
    json_t *devices = json_object_get(data, "devices");
    json_object_set_new(out, "devices", devices ? json_incref(devices) : json_array());
    json_decref(data);
    return send_json(c->conn, MHD_HTTP_OK, out);
}

static enum MHD_Result create_device(const call *c)
{
    char why[200];
    json_t *body = parse_body(c->req, why, sizeof why);
    if (!body)
        return send_error(c->conn, MHD_HTTP_BAD_REQUEST, why);
    json_t *id = json_object_get(body, "id");
    json_t *gateway_id = json_object_get(body, "gateway");
    enum MHD_Result ret;
    if (id && !(json_is_string(id) && valid_name(json_string_value(id))))
        ret = send_error(c->conn, MHD_HTTP_BAD_REQUEST,
                         "field 'id' must be a string of 1-64 letters, digits, '_', '-', '.'");
    else if (gateway_id &&
             !(json_is_string(gateway_id) && valid_name(json_string_value(gateway_id))))
        ret = send_error(c->conn, MHD_HTTP_BAD_REQUEST,
                         "field 'gateway' must be a string of 1-64 letters, digits, '_', '-', '.'");
    else {
        json_t *payload = json_pack("{s:s}", "owner", c->rt->user);
        if (id)
            json_object_set(payload, "id", id);
        if (gateway_id)
            json_object_set(payload, "gateway", gateway_id);
        ret = forward(c, "device_registry", "CREATE", payload, MHD_HTTP_CREATED);
    }
    json_decref(body);
    return ret;
}

/* Reads ?NAME= as a whole number in [min, max], or def when absent. */
static bool query_long(struct MHD_Connection *conn, const char *name, long def, long min, long max,
                       long *out)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    if (!v) {
        *out = def;
        return true;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max)
        return false;
    *out = n;
    return true;
}

static enum MHD_Result get_readings(const call *c)
{
    long page, size;
    if (!query_long(c->conn, "page", 1, 1, 1000000000L, &page))
        return send_error(c->conn, MHD_HTTP_BAD_REQUEST,
                          "query parameter 'page' must be a whole number >= 1");
    if (!query_long(c->conn, "size", GW_DEFAULT_PAGE_SIZE, 1, GW_MAX_PAGE_SIZE, &size))
        return send_error(c->conn, MHD_HTTP_BAD_REQUEST,
                          "query parameter 'size' must be a whole number in 1..1000");
    /* REST pages count from 1, the monitor's from 0 (docs/tasks.md). */
    json_t *data = NULL;
    jung_error err = {0};
    if (!jung_bus_call(c->gw->bus, "device_monitor", "READ",
                       json_pack("{s:s, s:I, s:I}", "device_id", c->rt->device, "page",
                                 (json_int_t)(page - 1), "size", (json_int_t)size),
                       c->gw->call_timeout_ms, &data, &err))
        return send_bus_error(c->conn, &err);
    if (!json_is_object(data)) {
        json_decref(data);
        return send_error(c->conn, MHD_HTTP_BAD_GATEWAY, "device_monitor answered READ oddly");
    }
    json_object_set_new(data, "page", json_integer(page));
    return send_json(c->conn, MHD_HTTP_OK, data);
}

static enum MHD_Result send_command(const call *c)
{
    char why[200];
    json_t *body = parse_body(c->req, why, sizeof why);
    if (!body)
        return send_error(c->conn, MHD_HTTP_BAD_REQUEST, why);
    json_t *value = json_object_get(body, "value");
    enum MHD_Result ret;
    if (!json_is_number(value))
        ret = send_error(c->conn, MHD_HTTP_BAD_REQUEST, "field 'value' must be a number");
    else
        ret = forward(c, "device_commander", "COMMAND",
                      json_pack("{s:s, s:O}", "device_id", c->rt->device, "value", value),
                      MHD_HTTP_ACCEPTED);
    json_decref(body);
    return ret;
}

static enum MHD_Result create_rule(const call *c)
{
    char why[200];
    json_t *body = parse_body(c->req, why, sizeof why);
    if (!body)
        return send_error(c->conn, MHD_HTTP_BAD_REQUEST, why);
    const char *op = json_string_value(json_object_get(body, "operator"));
    json_t *value = json_object_get(body, "value");
    json_t *command = json_object_get(body, "command");
    enum MHD_Result ret;
    if (!op || !valid_operator(op))
        ret = send_error(c->conn, MHD_HTTP_BAD_REQUEST,
                         "field 'operator' must be one of \"==\", \"!=\", \">\", \"<\"");
    else if (!json_is_number(value))
        ret = send_error(c->conn, MHD_HTTP_BAD_REQUEST, "field 'value' must be a number");
    else if (!json_is_object(command) || !json_is_number(json_object_get(command, "value")))
        ret = send_error(c->conn, MHD_HTTP_BAD_REQUEST,
                         "field 'command' must be an object {\"value\": number}");
    else
        ret = forward(c, "rule_engine", "CREATE",
                      json_pack("{s:s, s:s, s:s, s:O, s:{s:O}}", "device_id", c->rt->device,
                                "owner", c->rt->user, "operator", op, "value", value, "command",
                                "value", json_object_get(command, "value")),
                      MHD_HTTP_CREATED);
    json_decref(body);
    return ret;
}

static enum MHD_Result dispatch(const call *c)
{
    bool post = strcmp(c->method, "POST") == 0;
    if (c->rt->kind == ROUTE_USERS)
        return create_user(c); /* the one route without authentication */
    enum MHD_Result ret;
    json_t *granted = NULL;
    if (!authorize(c, &ret, &granted))
        return ret;
    if (c->rt->kind == ROUTE_DEVICE) {
        ret = get_device(c, granted);
        json_decref(granted);
        return ret;
    }
    json_decref(granted);
    switch (c->rt->kind) {
    case ROUTE_USER:
        return get_user(c);
    case ROUTE_USER_DEVICES:
        return create_device(c);
    case ROUTE_DEVICE_READINGS:
        return get_readings(c);
    case ROUTE_DEVICE_COMMANDS:
        return send_command(c);
    case ROUTE_DEVICE_RULES:
        if (post)
            return create_rule(c);
        return forward(c, "rule_engine", "GET", json_pack("{s:s}", "device_id", c->rt->device),
                       MHD_HTTP_OK);
    default:
        return send_error(c->conn, MHD_HTTP_NOT_FOUND, "no such route");
    }
}

/* ---- libmicrohttpd glue ------------------------------------------------- */

/* Appends a piece of the body, or marks the request too large and drops it
 * so an oversize upload costs no memory. */
static void append_body(request *req, size_t max_body, const char *data, size_t len)
{
    if (req->too_large || req->len + len > max_body) {
        req->too_large = true;
        free(req->body);
        req->body = NULL;
        req->len = 0;
        return;
    }
    char *grown = realloc(req->body, req->len + len);
    if (!grown) {
        req->too_large = true;
        return;
    }
    memcpy(grown + req->len, data, len);
    req->body = grown;
    req->len += len;
}

static bool declared_too_large(struct MHD_Connection *conn, size_t max_body)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno == ERANGE || (end != cl && n > max_body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    gateway *gw = cls;
    request *req = *req_cls;
    if (tl_answered)
        return MHD_NO; /* reject_now has answered: close */
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *req_cls = req;
        if (guard_request_started(&gw->guard, conn)) {
            req->too_large = true; /* nothing of its body is wanted either */
            return send_full(conn, gw->guard.budget);
        }
        enum MHD_Result ret;
        if (!framing_ok(conn, &ret)) {
            req->too_large = true;
            return ret;
        }
        if (tl_bad_url) {
            req->too_large = true;
            return send_error(conn, MHD_HTTP_BAD_REQUEST, tl_bad_url);
        }
        /* Refuse a declared oversize body before reading any of it. */
        if (declared_too_large(conn, gw->max_body)) {
            req->too_large = true;
            return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        append_body(req, gw->max_body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_large)
        return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    route rt = match_route(url);
    if (rt.kind == ROUTE_NONE)
        return send_error(conn, MHD_HTTP_NOT_FOUND, "no such route; see docs/rest-api.md");
    if (!method_allowed(rt.kind, method))
        return send_not_allowed(conn, rt.kind, method);
    call c = {.gw = gw, .conn = conn, .rt = &rt, .req = req, .method = method};
    return dispatch(&c);
}

static void on_request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                            enum MHD_RequestTerminationCode toe)
{
    guard_request_done(&((gateway *)cls)->guard, conn);
    request *req = *req_cls;
    if (req) {
        free(req->body);
        free(req);
        *req_cls = NULL;
    }
}

/* The gateway owns no tasks; anything arriving on its topic is refused. */
static bool refuse_task(void *ctx, jung_bus *bus, const jung_task *task, json_t **data,
                        jung_error *err)
{
    jung_error_set(err, 400, "api_gateway takes no tasks (got %s)", task->type);
    return false;
}

/* ---- command line ------------------------------------------------------- */

#define GW_SUMMARY "Jung's REST API gateway (docs/rest-api.md) on libmicrohttpd."

/* The services the gateway calls: their results topics are read from the
 * start so no request pays for the first lookup. */
static const char *const gw_callees[] = {"auth_manager",   "user_registry",    "device_registry",
                                         "device_monitor", "device_commander", "rule_engine"};

typedef struct gw_options {
    const char *bind;
    const char *port;
    const char *max_body;
    const char *max_connections, *max_client_connections, *header_timeout_ms;
    const char *gateway_id;
    const char *login_failures_per_user, *login_failures_per_client, *login_window_ms;
    long port_n;
    long max_body_n;
    long max_connections_n, max_client_connections_n, header_timeout_ms_n;
    long login_failures_per_user_n, login_failures_per_client_n, login_window_ms_n;
} gw_options;

/* Empty (the default) or 1-128 printable ASCII characters: a header value. */
static bool header_safe(const char *v)
{
    size_t n = strlen(v);
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e)
            return false;
    return n <= 128;
}

/* The numeric options, each in its range, with a message naming a bad one. */
static bool parse_limits(gw_options *o)
{
    struct in_addr addr;
    bool bind_ok = inet_pton(AF_INET, o->bind, &addr) == 1;
    if (!bind_ok)
        fprintf(stderr, "jung-api-gateway: --bind '%s' is not an IPv4 address (see --help)\n",
                o->bind);
    return bind_ok && jung_service_parse_int(GW_SERVICE, "--port", o->port, 0, 65535, &o->port_n) &&
           jung_service_parse_int(GW_SERVICE, "--max-body", o->max_body, 1, 64L * 1024 * 1024,
                                  &o->max_body_n) &&
           jung_service_parse_int(GW_SERVICE, "--max-connections", o->max_connections, 1, 100000,
                                  &o->max_connections_n) &&
           jung_service_parse_int(GW_SERVICE, "--max-client-connections", o->max_client_connections,
                                  1, 100000, &o->max_client_connections_n) &&
           jung_service_parse_int(GW_SERVICE, "--header-timeout-ms", o->header_timeout_ms, 100,
                                  3600000, &o->header_timeout_ms_n) &&
           jung_service_parse_int(GW_SERVICE, "--login-failures-per-user",
                                  o->login_failures_per_user, 0, 1000000,
                                  &o->login_failures_per_user_n) &&
           jung_service_parse_int(GW_SERVICE, "--login-failures-per-client",
                                  o->login_failures_per_client, 0, 1000000,
                                  &o->login_failures_per_client_n) &&
           jung_service_parse_int(GW_SERVICE, "--login-window-ms", o->login_window_ms, 100,
                                  86400000, &o->login_window_ms_n);
}

static bool parse_gateway_options(gw_options *o, jung_service_opts *opts, int argc, char **argv)
{
    const jung_service_opt extra[] = {
        {"port", "JUNG_HTTP_PORT", "HTTP port, 0 picks a free one", &o->port},
        {"bind", "JUNG_HTTP_BIND", "IPv4 address to listen on", &o->bind},
        {"max-body", "JUNG_MAX_BODY", "bodies over this many bytes get 413", &o->max_body},
        {"max-connections", "JUNG_MAX_CONNECTIONS",
         "open connections served; past it requests get 503", &o->max_connections},
        {"max-client-connections", "JUNG_MAX_CLIENT_CONNECTIONS",
         "open connections one client address may hold", &o->max_client_connections},
        {"header-timeout-ms", "JUNG_HEADER_TIMEOUT_MS",
         "a request's line and headers must arrive within this", &o->header_timeout_ms},
        {"login-failures-per-user", "JUNG_LOGIN_FAILURES_PER_USER",
         "failed logins of one user per window before 429 (0: no limit)",
         &o->login_failures_per_user},
        {"login-failures-per-client", "JUNG_LOGIN_FAILURES_PER_CLIENT",
         "failed logins from one client address per window before 429 (0: no limit)",
         &o->login_failures_per_client},
        {"login-window-ms", "JUNG_LOGIN_WINDOW_MS",
         "the window failed logins are counted over, from the first", &o->login_window_ms},
        {"gateway-id", "JUNG_GATEWAY_ID",
         "name sent in every response's " GW_IDENTITY_HEADER " header (default: the instance)",
         &o->gateway_id},
    };
    if (!jung_service_opts_parse_extra(opts, GW_SERVICE, GW_SUMMARY, extra,
                                       (int)(sizeof extra / sizeof extra[0]), argc, argv))
        return false;
    if (!header_safe(o->gateway_id))
        fprintf(stderr, "jung-api-gateway: --gateway-id must be 1-128 printable ASCII characters "
                        "(see --help)\n");
    else if (parse_limits(o))
        return true;
    jung_service_opts_free(opts);
    return false;
}

static struct MHD_Daemon *start_http(gateway *gw, const gw_options *o, unsigned *port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port_n)};
    inet_pton(AF_INET, o->bind, &addr.sin_addr); /* checked with the options */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, gw, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
        on_request_done, gw, MHD_OPTION_URI_LOG_CALLBACK, on_request_line, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, guard_notify, &gw->guard, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(o->max_connections_n + GW_SPARE_CONNECTIONS), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)o->max_client_connections_n, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)GW_IDLE_TIMEOUT_S, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024),
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "jung-api-gateway: cannot listen on %s:%ld: %s\n", o->bind, o->port_n,
                strerror(errno));
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : (unsigned)o->port_n;
    return d;
}

typedef struct ready_line {
    const char *instance;
    char extra[96];
} ready_line;

/* Runs once the bus is serving, so "ready" means HTTP and bus both are. */
static void announce_ready(void *arg)
{
    ready_line *r = arg;
    jung_service_ready(GW_SERVICE, r->instance, r->extra);
}

static int serve(gateway *gw, const gw_options *o, const char *instance)
{
    unsigned port;
    if (!guard_start(&gw->guard) || !throttle_start(&gw->throttle)) {
        fprintf(stderr,
                "jung-api-gateway: cannot start the connection guard or the login throttle\n");
        return 1;
    }
    struct MHD_Daemon *d = start_http(gw, o, &port); /* first: a taken port fails fast */
    if (!d) {
        guard_stop(&gw->guard, instance);
        throttle_stop(&gw->throttle, instance);
        return 1;
    }
    jung_error err = {0};
    for (size_t i = 0; i < sizeof gw_callees / sizeof gw_callees[0]; i++)
        if (!jung_bus_prepare_call(gw->bus, gw_callees[i], &err)) {
            fprintf(stderr, "jung-api-gateway: cannot read %s_results: %s\n", gw_callees[i],
                    err.message);
            MHD_stop_daemon(d);
            guard_stop(&gw->guard, instance);
            throttle_stop(&gw->throttle, instance);
            return 1;
        }
    ready_line ready = {.instance = instance};
    snprintf(ready.extra, sizeof ready.extra, "http=http://%s:%u", o->bind, port);
    jung_bus_on_ready(gw->bus, announce_ready, &ready);
    bool ok = jung_bus_serve(gw->bus, refuse_task, gw, &err);
    if (!ok)
        fprintf(stderr, "jung-api-gateway: bus failed: %s\n", err.message);
    jung_stop_begin("stopping the HTTP server");
    MHD_stop_daemon(d); /* waits for the connection threads */
    guard_stop(&gw->guard, instance);
    throttle_stop(&gw->throttle, instance);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    gw_options o = {.bind = "127.0.0.1",
                    .port = "8080",
                    .max_body = "16384",
                    .max_connections = "1024",
                    .max_client_connections = "256",
                    .header_timeout_ms = "10000",
                    .login_failures_per_user = "10",
                    .login_failures_per_client = "30",
                    .login_window_ms = "60000",
                    .gateway_id = ""};
    jung_service_opts opts;
    if (!parse_gateway_options(&o, &opts, argc, argv))
        return opts.help ? 0 : 2;
    gw_identity = o.gateway_id[0] ? o.gateway_id : opts.bus.instance;
    /* The gateway's own topic carries no work: one handler thread, not the
     * default pool, keeps its memory down. */
    if (opts.bus.workers == 0)
        opts.bus.workers = 1;
    jung_error err = {0};
    gateway gw = {.max_body = (size_t)o.max_body_n,
                  .call_timeout_ms = opts.bus.call_timeout_ms,
                  .guard = {.budget = o.max_connections_n,
                            .per_client = o.max_client_connections_n,
                            .header_timeout_ms = o.header_timeout_ms_n},
                  .throttle = {.users.limit = o.login_failures_per_user_n,
                               .clients.limit = o.login_failures_per_client_n,
                               .window_ms = o.login_window_ms_n}};
    if (!jung_stop_init(opts.bus.instance, opts.stop_timeout_ms)) {
        fprintf(stderr, "jung-api-gateway: cannot start the stop watchdog\n");
        jung_service_opts_free(&opts);
        return 1;
    }
    gw.bus = jung_bus_open(&opts.bus, &err);
    if (!gw.bus) {
        fprintf(stderr, "jung-api-gateway: cannot open the bus: %s\n", err.message);
        jung_service_opts_free(&opts);
        return 1;
    }
    jung_stop_attach(gw.bus);
    jung_service_started(GW_SERVICE, opts.bus.instance);
    int rc = serve(&gw, &o, opts.bus.instance);
    jung_stop_begin("closing the bus");
    jung_bus_close(gw.bus);
    jung_stop_finished();
    jung_log("%s: stopped", opts.bus.instance);
    jung_service_opts_free(&opts);
    return rc;
}
