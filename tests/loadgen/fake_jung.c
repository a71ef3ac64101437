/* fake_jung.c - see fake_jung.h. One thread per connection, so a slow or
 * stalled answer holds up only the connection (the user) it was sent on. */
#include "tests/loadgen/fake_jung.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Classifies a path like /users/u/devices/d/readings by its segments. */
static int classify(const char *method, const char *url)
{
    bool post = strcmp(method, "POST") == 0;
    if (strncmp(url, "/users", 6) != 0)
        return FAKE_STATIC;
    int slashes = 0;
    for (const char *p = url; *p && *p != '?'; p++)
        slashes += *p == '/';
    if (slashes == 1)
        return post ? FAKE_CREATE_USER : -1;
    if (slashes == 2)
        return post ? -1 : FAKE_GET_USER;
    if (slashes == 3)
        return post ? FAKE_CREATE_DEVICE : -1;
    if (slashes == 4)
        return post ? -1 : FAKE_GET_DEVICE;
    if (strstr(url, "/readings"))
        return post ? -1 : FAKE_GET_READINGS;
    if (strstr(url, "/commands"))
        return post ? FAKE_POST_COMMAND : -1;
    if (strstr(url, "/rules"))
        return post ? FAKE_CREATE_RULE : -1;
    return -1;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Applies the injected faults to the Nth measured request; true when it
 * must answer 500. */
static bool inject(fake_jung *f)
{
    long n = atomic_fetch_add(&f->measured, 1) + 1;
    const fake_jung_faults *ft = &f->faults;
    long wait = 0;
    if (ft->stall_at > 0 && n == ft->stall_at)
        wait += ft->stall_ms;
    if (ft->slow_every > 0 && n % ft->slow_every == 0)
        wait += ft->slow_ms;
    if (wait > 0) {
        atomic_fetch_add(&f->slowed, 1);
        sleep_ms(wait);
    }
    if (ft->fail_every > 0 && n % ft->fail_every == 0) {
        atomic_fetch_add(&f->failed, 1);
        return true;
    }
    return false;
}

static const char *device_json(char *buf, size_t len, const char *upload)
{
    const char *id = upload ? strstr(upload, "\"id\":\"") : NULL;
    char device[64] = "dev-x";
    if (id)
        sscanf(id + 6, "%63[^\"]", device);
    snprintf(buf, len, "{\"id\":\"%s\",\"owner\":\"someone\",\"gateway\":\"gw-1\"}", device);
    return buf;
}

static bool wrapped(const char *text, const char *prefix, const char *suffix)
{
    size_t len = strlen(text), pre = strlen(prefix), suf = strlen(suffix);
    return len >= pre + suf && strncmp(text, prefix, pre) == 0 &&
           strcmp(text + len - suf, suffix) == 0;
}

/* Exactly the body loadgen sends for the route, no byte more or less: the
 * load generator reuses one buffer and tells libcurl only changed lengths,
 * so a stale length would show up here. GETs must come without a body. */
static bool body_ok(int kind, const char *upload)
{
    int value = 0, end = 0;
    switch (kind) {
    case FAKE_POST_COMMAND:
        return sscanf(upload, "{\"value\":%d}%n", &value, &end) == 1 &&
               (size_t)end == strlen(upload) && value >= 1 && value <= 100;
    case FAKE_CREATE_USER:
        return wrapped(upload, "{\"username\":\"", "\"}");
    case FAKE_CREATE_DEVICE:
        return wrapped(upload, "{\"id\":\"", "\"}");
    case FAKE_CREATE_RULE:
        return strcmp(upload, "{\"operator\":\"==\",\"value\":0,\"command\":{\"value\":0}}") == 0;
    default:
        return upload[0] == '\0';
    }
}

static enum MHD_Result respond(fake_jung *f, struct MHD_Connection *conn, int kind,
                               const char *upload)
{
    char buf[256];
    if (kind < 0)
        return answer(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"no such route\"}");
    atomic_fetch_add(&f->count[kind], 1);
    if (!body_ok(kind, upload)) {
        atomic_fetch_add(&f->bad_bodies, 1);
        return answer(conn, MHD_HTTP_BAD_REQUEST, "{\"error\":\"unexpected body\"}");
    }
    if (kind != FAKE_CREATE_USER && kind != FAKE_STATIC) {
        const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        if (!auth || strncmp(auth, "Basic ", 6) != 0) {
            atomic_fetch_add(&f->unauthenticated, 1);
            return answer(conn, MHD_HTTP_UNAUTHORIZED, "{\"error\":\"authentication needed\"}");
        }
    }
    switch (kind) {
    case FAKE_CREATE_USER:
        if (f->faults.refuse_setup)
            return answer(conn, MHD_HTTP_FORBIDDEN, "{\"error\":\"registration closed\"}");
        return answer(conn, MHD_HTTP_CREATED, "{\"username\":\"someone\"}");
    case FAKE_CREATE_DEVICE:
        return answer(conn, MHD_HTTP_CREATED, device_json(buf, sizeof buf, upload));
    case FAKE_CREATE_RULE:
        return answer(conn, MHD_HTTP_CREATED, "{\"rule\":1}");
    default:
        break;
    }
    if (inject(f))
        return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "{\"error\":\"injected failure\"}");
    switch (kind) {
    case FAKE_GET_READINGS:
        return answer(conn, MHD_HTTP_OK, "{\"readings\":[{\"value\":0,\"timestamp\":1}]}");
    case FAKE_POST_COMMAND:
        return answer(conn, MHD_HTTP_ACCEPTED, "{}");
    case FAKE_STATIC:
        return answer(conn, MHD_HTTP_OK, "hello from fake jung\n");
    default:
        return answer(conn, MHD_HTTP_OK, "{\"username\":\"someone\",\"devices\":[]}");
    }
}

/* Per-request state: the uploaded body, collected over several calls. */
typedef struct upload {
    char data[1024];
    size_t len;
} upload;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **state)
{
    fake_jung *f = cls;
    if (!*state) {
        *state = calloc(1, sizeof(upload));
        return *state ? MHD_YES : MHD_NO;
    }
    upload *up = *state;
    if (*upload_size > 0) {
        size_t room = sizeof up->data - 1 - up->len;
        size_t take = *upload_size < room ? *upload_size : room;
        memcpy(up->data + up->len, upload_data, take);
        up->len += take;
        *upload_size = 0;
        return MHD_YES;
    }
    return respond(f, conn, classify(method, url), up->data);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode why)
{
    free(*state);
    *state = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    fake_jung *f = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&f->connections, 1);
}

bool fake_jung_start(fake_jung *f, unsigned short port, const fake_jung_faults *faults)
{
    memset(f, 0, sizeof *f);
    if (faults)
        f->faults = *faults;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, port, NULL, NULL,
        on_request, f, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, f,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, f, MHD_OPTION_CONNECTION_TIMEOUT,
        f->faults.idle_close_s ? f->faults.idle_close_s : 30u, MHD_OPTION_END);
    if (!f->daemon)
        return false;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_BIND_PORT);
    f->port = info ? info->port : port;
    return f->port != 0;
}

void fake_jung_stop(fake_jung *f)
{
    if (f->daemon)
        MHD_stop_daemon(f->daemon);
    f->daemon = NULL;
}
