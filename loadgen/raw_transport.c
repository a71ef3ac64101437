/* raw_transport.c - the raw transport: libcurl opens each user's
 * connection (its easy handle, CURLOPT_CONNECT_ONLY, in the engine's multi
 * handle: non-blocking connect, its connect errors, timeout and connect
 * time), then the socket is taken over and raw.c sends the prebuilt
 * request bytes and parses the response on it, in its own epoll entry.
 * Timeouts are the transport's own (sweep_timeouts), since libcurl no
 * longer sees the requests. */
#include "loadgen/engine_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void raw_connect(lg_user *u);

/* The raw transport's sample: the same fields as the curl transport's,
 * from our own clock and parser (latency: the first response byte;
 * elapsed: the response's end). */
static void fill_sample(lg_user *u, CURLcode rc, double done_ms, jb_sample *s)
{
    const lg_raw_conn *c = &u->raw.conn;
    lg_sample_init(u, done_ms, s);
    double due_ms = lg_due_ms(u);
    s->latency_us = c->got_byte ? (int64_t)llround((c->first_byte_ms - due_ms) * 1000.0) : 0;
    s->connect_us = u->raw.connect_us;
    s->code = c->got_byte ? (long)c->parser.status_code : 0;
    s->curl_code = (int)rc;
    if (rc != CURLE_OK && c->failure[0])
        snprintf(u->curl_error, sizeof u->curl_error, "%s", c->failure);
    s->bytes = c->header_bytes + c->body_bytes;
    s->sent_bytes = (long)c->out_off;
}

/* A failed or closing connection is not reused: the next request opens a
 * new one. */
static void finish(lg_user *u, CURLcode rc)
{
    double now = jb_now_ms();
    jb_sample s;
    fill_sample(u, rc, now, &s);
    if (rc != CURLE_OK || !u->raw.conn.keep_alive)
        lg_raw_close(&u->raw.conn);
    lg_request_done(u, &s, now);
}

/* What raw.c says happened to the request in flight. */
static void handle(lg_user *u, lg_raw_status st)
{
    switch (st) {
    case LG_RAW_PENDING:
        return;
    case LG_RAW_DONE:
        finish(u, CURLE_OK);
        return;
    case LG_RAW_FAILED:
        finish(u, (CURLcode)u->raw.conn.curl_code);
        return;
    case LG_RAW_RETRY: /* an idle connection the server had closed: once more, fresh */
        lg_raw_close(&u->raw.conn);
        if (u->raw.retried) {
            finish(u, CURLE_GOT_NOTHING);
            return;
        }
        u->raw.retried = true;
        raw_connect(u);
        return;
    case LG_RAW_IDLE_EOF: /* closed between requests: the next one reconnects */
        lg_raw_close(&u->raw.conn);
        return;
    }
}

/* libcurl opens the connection: non-blocking, its connect timeout and
 * errors, its connect time. */
static void raw_connect(lg_user *u)
{
    if (!lg_multi_add(u))
        lg_engine_fail(u->eng, "libcurl refused a connection to %s", u->eng->cfg->target);
}

/* The connect finished (CURLMSG_DONE of the CONNECT_ONLY handle). Removing
 * the handle from the multi makes libcurl 7.88 close a CONNECT_ONLY
 * connection (curl_multi_remove_handle), so on_close_socket is told to
 * keep the socket: from then on it is the raw transport's alone, and
 * nothing in libcurl's connection cache can prune it behind our back. */
static void raw_connected(lg_user *u, CURLcode rc)
{
    lg_engine *e = u->eng;
    u->raw.connect_us = lg_info_us(u->easy, CURLINFO_CONNECT_TIME_T);
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (rc == CURLE_OK)
        curl_easy_getinfo(u->easy, CURLINFO_ACTIVESOCKET, &fd);
    u->raw.keep_socket = fd != CURL_SOCKET_BAD;
    lg_multi_remove(u);
    u->raw.keep_socket = false;
    if (fd == CURL_SOCKET_BAD) {
        finish(u, rc != CURLE_OK ? rc : CURLE_COULDNT_CONNECT);
        return;
    }
    lg_forget_socket(e, fd); /* libcurl's bookkeeping of it ends here */
    if (!lg_raw_attach(&u->raw.conn, fd)) {
        close(fd);
        snprintf(u->curl_error, sizeof u->curl_error, "epoll_ctl: %s", strerror(errno));
        finish(u, CURLE_COULDNT_CONNECT);
        return;
    }
    handle(u, lg_raw_start(&u->raw.conn));
}

/* The request bytes, rebuilt only when URL, body or credentials changed
 * (every request of a static run is the same). */
static bool build_request(lg_user *u, bool with_auth)
{
    lg_raw_user *r = &u->raw;
    if (r->auth_built == (int)with_auth && strcmp(u->url, r->url_built) == 0 &&
        strcmp(u->body, r->body_built) == 0)
        return true;
    const lg_run *run = u->eng->run;
    const char *path = u->url;
    if (strncmp(path, run->base, run->base_len) == 0)
        path += run->base_len;
    if (*path == '\0')
        path = "/";
    if (!lg_raw_build(&r->conn, path, run->host_port, with_auth ? r->auth_line : NULL, u->body))
        return false;
    memcpy(r->url_built, u->url, strlen(u->url) + 1);
    memcpy(r->body_built, u->body, strlen(u->body) + 1);
    r->auth_built = with_auth;
    return true;
}

static bool raw_start(lg_user *u, bool with_auth, double now)
{
    lg_engine *e = u->eng;
    if (!build_request(u, with_auth)) {
        lg_engine_fail(e, "out of memory building a request for %s", u->url);
        return false;
    }
    u->raw.deadline_ms = now + (double)e->cfg->timeout_ms;
    if (e->sweep_at_ms < 0 || u->raw.deadline_ms < e->sweep_at_ms)
        e->sweep_at_ms = u->raw.deadline_ms;
    u->raw.connect_us = 0;
    u->raw.retried = false;
    lg_raw_reset(&u->raw.conn);
    if (u->raw.conn.fd < 0)
        raw_connect(u);
    else
        handle(u, lg_raw_start(&u->raw.conn));
    return true;
}

static void raw_socket_event(lg_user *u, uint32_t events)
{
    handle(u, lg_raw_event(&u->raw.conn, events, jb_now_ms()));
}

/* ---- timeouts --------------------------------------------------------------- */

/* A request past its deadline is a failed sample, as libcurl's
 * CURLE_OPERATION_TIMEDOUT; its connection (it may still answer) is closed. */
static void time_out(lg_user *u, double now)
{
    const lg_raw_conn *c = &u->raw.conn;
    if (u->in_multi) /* still connecting */
        lg_multi_remove(u);
    snprintf(u->curl_error, sizeof u->curl_error,
             "Operation timed out after %.0f milliseconds with %ld bytes received",
             now - u->sent_ms, c->header_bytes + c->body_bytes);
    u->raw.conn.failure[0] = '\0';
    finish(u, CURLE_OPERATION_TIMEDOUT);
}

/* Fails the requests past their deadline and finds the next deadline. */
static void raw_sweep_timeouts(lg_engine *e, double now)
{
    double next = -1;
    for (long i = 0; i < e->n_users; i++) {
        lg_user *u = &e->users[i];
        if (u->busy && u->raw.deadline_ms <= now)
            time_out(u, now); /* the user may be busy again, with a new deadline */
        if (u->busy && (next < 0 || u->raw.deadline_ms < next))
            next = u->raw.deadline_ms;
    }
    e->sweep_at_ms = next;
}

static void raw_abandon(lg_user *u)
{
    if (u->in_multi)
        lg_multi_remove(u);
    lg_raw_close(&u->raw.conn);
}

/* ---- the user ------------------------------------------------------------- */

/* The closed socket's entry, for a raw user's handle: the socket handed to
 * the raw transport stays open (see raw_connected). */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
    lg_user *u = clientp;
    if (u->raw.keep_socket)
        return 0;
    lg_forget_socket(u->eng, fd);
    return close(fd);
}

static bool raw_init_user(lg_user *u)
{
    lg_engine *e = u->eng;
    const jb_loadgen_config *cfg = e->cfg;
    CURL *h = u->easy;
    lg_raw_init(&u->raw.conn, e->epoll_fd, lg_user_tag(u), u->reason, sizeof u->reason, u->response,
                sizeof u->response, &u->response_len);
    u->raw.auth_built = -1;
    /* The handle only opens the connection; raw.c sends and parses. */
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(h, CURLOPT_URL, cfg->static_target ? cfg->target : e->run->base);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, u);
    return lg_raw_basic_auth(u->name, u->password, u->raw.auth_line, sizeof u->raw.auth_line);
}

static void raw_free_user(lg_user *u)
{
    lg_raw_free(&u->raw.conn);
}

const lg_transport_ops lg_raw_transport = {
    .init_user = raw_init_user,
    .free_user = raw_free_user,
    .start = raw_start,
    .transfer_done = raw_connected,
    .socket_event = raw_socket_event,
    .sweep_timeouts = raw_sweep_timeouts,
    .abandon = raw_abandon,
};
