/* raw.c - one keep-alive connection's bytes: the prebuilt request goes out
 * with send() (the rest on EPOLLOUT when the socket buffer is full), the
 * response comes in with recv() and is parsed by http-parser. A failure
 * carries the libcurl error code of the same meaning, so a failed sample
 * reads the same whichever transport recorded it. */
#include "loadgen/raw.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { RECV_CHUNK = 16384 };

static int on_status(http_parser *p, const char *at, size_t len)
{
    lg_raw_conn *c = p->data;
    size_t have = strlen(c->reason), room = c->reason_size - 1 - have;
    size_t take = len < room ? len : room;
    memcpy(c->reason + have, at, take);
    c->reason[have + take] = '\0';
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    lg_raw_conn *c = p->data;
    c->body_bytes += (long)len;
    size_t room = c->body_size - 1 - *c->body_len;
    size_t take = len < room ? len : room;
    memcpy(c->body + *c->body_len, at, take);
    *c->body_len += take;
    c->body[*c->body_len] = '\0';
    return 0;
}

/* Pauses the parser so bytes after the response (there should be none: no
 * pipelining) are left alone. */
static int on_message_complete(http_parser *p)
{
    lg_raw_conn *c = p->data;
    c->complete = true;
    c->keep_alive = http_should_keep_alive(p) != 0;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings SETTINGS = {
    .on_status = on_status,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void lg_raw_init(lg_raw_conn *c, int epoll_fd, uint64_t tag, char *reason, size_t reason_size,
                 char *body, size_t body_size, size_t *body_len)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->epoll_fd = epoll_fd;
    c->tag = tag;
    c->reason = reason;
    c->reason_size = reason_size;
    c->body = body;
    c->body_size = body_size;
    c->body_len = body_len;
}

bool lg_raw_build(lg_raw_conn *c, const char *path, const char *host_port, const char *auth,
                  const char *body)
{
    size_t body_len = body ? strlen(body) : 0;
    for (;;) {
        int n;
        if (body_len > 0)
            n = snprintf(c->out, c->out_cap,
                         "POST %s HTTP/1.1\r\nHost: %s\r\n%sAccept: */*\r\n"
                         "Connection: keep-alive\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         path, host_port, auth ? auth : "", body_len, body);
        else
            n = snprintf(c->out, c->out_cap,
                         "GET %s HTTP/1.1\r\nHost: %s\r\n%sAccept: */*\r\n"
                         "Connection: keep-alive\r\n\r\n",
                         path, host_port, auth ? auth : "");
        if (n < 0)
            return false;
        if ((size_t)n < c->out_cap) {
            c->out_len = (size_t)n;
            return true;
        }
        char *grown = realloc(c->out, (size_t)n + 1);
        if (!grown)
            return false;
        c->out = grown;
        c->out_cap = (size_t)n + 1;
    }
}

static bool watch(lg_raw_conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.u64 = c->tag};
    if (epoll_ctl(c->epoll_fd, op, c->fd, &ev) != 0)
        return false;
    c->events = events;
    return true;
}

bool lg_raw_attach(lg_raw_conn *c, int fd)
{
    c->fd = fd;
    c->reused = false;
    if (watch(c, EPOLLIN, EPOLL_CTL_ADD) || (errno == EEXIST && watch(c, EPOLLIN, EPOLL_CTL_MOD)))
        return true;
    c->fd = -1;
    return false;
}

void lg_raw_close(lg_raw_conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* leaves the epoll set with it */
    c->fd = -1;
    c->busy = false;
}

void lg_raw_free(lg_raw_conn *c)
{
    lg_raw_close(c);
    free(c->out);
    c->out = NULL;
}

static lg_raw_status fail(lg_raw_conn *c, int curl_code, const char *what, int err)
{
    c->curl_code = curl_code;
    if (err)
        snprintf(c->failure, sizeof c->failure, "%s: %s", what, strerror(err));
    else
        snprintf(c->failure, sizeof c->failure, "%s", what);
    c->busy = false;
    return LG_RAW_FAILED;
}

/* The server closed or reset the connection before the response ended. A
 * reused connection that never answered was closed while idle, racing our
 * request (the case libcurl retries too): not a failure of the server. */
static lg_raw_status ended_early(lg_raw_conn *c, int err)
{
    if (!c->got_byte && c->reused) {
        c->busy = false;
        return LG_RAW_RETRY;
    }
    if (!c->got_byte)
        return fail(c, err ? CURLE_RECV_ERROR : CURLE_GOT_NOTHING,
                    err ? "connection reset before any response" : "Empty reply from server", err);
    char what[96];
    snprintf(what, sizeof what, "connection %s by the server mid-response after %ld bytes",
             err ? "reset" : "closed", c->header_bytes + c->body_bytes);
    return fail(c, err ? CURLE_RECV_ERROR : CURLE_PARTIAL_FILE, what, err);
}

static lg_raw_status send_more(lg_raw_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* the rest goes when the socket has room */
            if (!(c->events & EPOLLOUT) && !watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD))
                return fail(c, CURLE_SEND_ERROR, "epoll_ctl", errno);
            return LG_RAW_PENDING;
        }
        if (c->reused && c->out_off == 0 && (errno == EPIPE || errno == ECONNRESET)) {
            c->busy = false;
            return LG_RAW_RETRY;
        }
        return fail(c, CURLE_SEND_ERROR, "send failed", errno);
    }
    if ((c->events & EPOLLOUT) && !watch(c, EPOLLIN, EPOLL_CTL_MOD))
        return fail(c, CURLE_SEND_ERROR, "epoll_ctl", errno);
    return LG_RAW_PENDING;
}

void lg_raw_reset(lg_raw_conn *c)
{
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->got_byte = c->complete = c->headers_done = c->keep_alive = false;
    c->line_len = 0;
    c->header_bytes = c->body_bytes = 0;
    c->curl_code = 0;
    c->failure[0] = '\0';
    c->out_off = 0;
}

lg_raw_status lg_raw_start(lg_raw_conn *c)
{
    lg_raw_reset(c);
    c->busy = true;
    return send_more(c);
}

/* Counts the header bytes as libcurl's CURLINFO_HEADER_SIZE does (status
 * line, header lines and the empty line, each with its line end): they end
 * at the first empty line. http-parser does not say where that was. */
static void count_header_bytes(lg_raw_conn *c, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            if (c->line_len == 0)
                c->line_first = *p;
            c->line_len += (size_t)(end - p);
            c->header_bytes += (long)(end - p);
            return;
        }
        if (c->line_len == 0 && nl > p)
            c->line_first = *p;
        size_t line = c->line_len + (size_t)(nl - p); /* bytes before the '\n' */
        bool empty = line == 0 || (line == 1 && c->line_first == '\r');
        c->header_bytes += (long)(nl - p + 1);
        c->line_len = 0;
        p = nl + 1;
        if (empty) {
            c->headers_done = true;
            return;
        }
    }
}

static lg_raw_status feed(lg_raw_conn *c, const char *data, size_t len, double now_ms)
{
    if (!c->got_byte) {
        c->got_byte = true;
        c->first_byte_ms = now_ms;
    }
    if (!c->headers_done)
        count_header_bytes(c, data, len);
    http_parser_execute(&c->parser, &SETTINGS, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
    if (err != HPE_OK && err != HPE_PAUSED) {
        char what[120];
        snprintf(what, sizeof what, "malformed response: %s", http_errno_description(err));
        return fail(c, CURLE_WEIRD_SERVER_REPLY, what, 0);
    }
    if (!c->complete)
        return LG_RAW_PENDING;
    c->busy = false;
    c->reused = true;
    return LG_RAW_DONE;
}

/* The end of the stream: it completes a response whose body runs to the
 * end of the connection (no length given), else it ends the request early. */
static lg_raw_status at_eof(lg_raw_conn *c, int err)
{
    if (!c->busy)
        return LG_RAW_IDLE_EOF;
    if (c->got_byte && !err) {
        http_parser_execute(&c->parser, &SETTINGS, NULL, 0);
        if (c->complete) {
            c->busy = false;
            c->keep_alive = false;
            return LG_RAW_DONE;
        }
    }
    return ended_early(c, err);
}

static lg_raw_status receive(lg_raw_conn *c, double now_ms)
{
    char buf[RECV_CHUNK];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (!c->busy) /* bytes nobody asked for: the connection is unusable */
                return LG_RAW_IDLE_EOF;
            lg_raw_status st = feed(c, buf, (size_t)n, now_ms);
            if (st != LG_RAW_PENDING || (size_t)n < sizeof buf)
                return st;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return LG_RAW_PENDING;
        return at_eof(c, n < 0 ? errno : 0);
    }
}

lg_raw_status lg_raw_event(lg_raw_conn *c, uint32_t events, double now_ms)
{
    if (c->fd < 0)
        return LG_RAW_PENDING;
    if ((events & EPOLLOUT) && c->busy && c->out_off < c->out_len) {
        lg_raw_status st = send_more(c);
        if (st != LG_RAW_PENDING)
            return st;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        return receive(c, now_ms);
    return LG_RAW_PENDING;
}

bool lg_raw_basic_auth(const char *user, const char *password, char *out, size_t size)
{
    static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char plain[160];
    int n = snprintf(plain, sizeof plain, "%s:%s", user, password);
    if (n < 0 || (size_t)n >= sizeof plain)
        return false;
    const char *head = "Authorization: Basic ";
    size_t len = (size_t)n, at = strlen(head);
    if (size < at + 4 * ((len + 2) / 3) + 3)
        return false;
    memcpy(out, head, at);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)plain[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)(unsigned char)plain[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)plain[i + 2];
        out[at++] = B64[(v >> 18) & 63];
        out[at++] = B64[(v >> 12) & 63];
        out[at++] = i + 1 < len ? B64[(v >> 6) & 63] : '=';
        out[at++] = i + 2 < len ? B64[v & 63] : '=';
    }
    memcpy(out + at, "\r\n", 3);
    return true;
}
