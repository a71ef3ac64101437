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
#include <sys/socket.h>
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

typedef struct gateway {
    jung_bus *bus;
    size_t max_body;
    int call_timeout_ms;
    conn_guard guard;
} gateway;

/* Per-request state kept across libmicrohttpd's calls of the handler: the
 * body arrives in pieces before the final call that answers. */
typedef struct request {
    char *body;
    size_t len;
    bool too_large;
} request;

/* ---- responses -------------------------------------------------------- */

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
    bool same_user =
        strcmp(json_string_value(json_object_get(payload, "username")), c->rt->user) == 0;
    if (c->rt->device[0])
        json_object_set_new(payload, "device_id", json_string(c->rt->device));
    json_t *data = NULL;
    jung_error err = {0};
    if (!jung_bus_call(c->gw->bus, "auth_manager", "AUTH", payload, c->gw->call_timeout_ms, &data,
                       &err)) {
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
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *req_cls = req;
        if (guard_request_started(&gw->guard, conn)) {
            req->too_large = true; /* nothing of its body is wanted either */
            return send_full(conn, gw->guard.budget);
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
    long port_n;
    long max_body_n;
    long max_connections_n, max_client_connections_n, header_timeout_ms_n;
} gw_options;

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
    };
    if (!jung_service_opts_parse_extra(opts, GW_SERVICE, GW_SUMMARY, extra, 6, argc, argv))
        return false;
    struct in_addr addr;
    bool bind_ok = inet_pton(AF_INET, o->bind, &addr) == 1;
    if (!bind_ok)
        fprintf(stderr, "jung-api-gateway: --bind '%s' is not an IPv4 address (see --help)\n",
                o->bind);
    if (bind_ok && jung_service_parse_int(GW_SERVICE, "--port", o->port, 0, 65535, &o->port_n) &&
        jung_service_parse_int(GW_SERVICE, "--max-body", o->max_body, 1, 64L * 1024 * 1024,
                               &o->max_body_n) &&
        jung_service_parse_int(GW_SERVICE, "--max-connections", o->max_connections, 1, 100000,
                               &o->max_connections_n) &&
        jung_service_parse_int(GW_SERVICE, "--max-client-connections", o->max_client_connections, 1,
                               100000, &o->max_client_connections_n) &&
        jung_service_parse_int(GW_SERVICE, "--header-timeout-ms", o->header_timeout_ms, 100,
                               3600000, &o->header_timeout_ms_n))
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
        0, NULL, NULL, on_request, gw, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_request_done, gw, MHD_OPTION_NOTIFY_CONNECTION,
        guard_notify, &gw->guard, MHD_OPTION_CONNECTION_LIMIT,
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
    if (!guard_start(&gw->guard)) {
        fprintf(stderr, "jung-api-gateway: cannot start the connection guard\n");
        return 1;
    }
    struct MHD_Daemon *d = start_http(gw, o, &port); /* first: a taken port fails fast */
    if (!d) {
        guard_stop(&gw->guard, instance);
        return 1;
    }
    jung_error err = {0};
    for (size_t i = 0; i < sizeof gw_callees / sizeof gw_callees[0]; i++)
        if (!jung_bus_prepare_call(gw->bus, gw_callees[i], &err)) {
            fprintf(stderr, "jung-api-gateway: cannot read %s_results: %s\n", gw_callees[i],
                    err.message);
            MHD_stop_daemon(d);
            guard_stop(&gw->guard, instance);
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
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    gw_options o = {.bind = "127.0.0.1",
                    .port = "8080",
                    .max_body = "16384",
                    .max_connections = "1024",
                    .max_client_connections = "256",
                    .header_timeout_ms = "10000"};
    jung_service_opts opts;
    if (!parse_gateway_options(&o, &opts, argc, argv))
        return opts.help ? 0 : 2;
    /* The gateway's own topic carries no work: one handler thread, not the
     * default pool, keeps its memory down. */
    if (opts.bus.workers == 0)
        opts.bus.workers = 1;
    jung_error err = {0};
    gateway gw = {.max_body = (size_t)o.max_body_n,
                  .call_timeout_ms = opts.bus.call_timeout_ms,
                  .guard = {.budget = o.max_connections_n,
                            .per_client = o.max_client_connections_n,
                            .header_timeout_ms = o.header_timeout_ms_n}};
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
