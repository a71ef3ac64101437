/* curl_transport.c - the curl transport: every request is a libcurl
 * transfer on the user's easy handle, driven by the engine thread's multi
 * handle (engine.c). The work between two transfers is kept to what
 * changed: the URL goes in parsed, method, body and credentials are only
 * re-set when they differ from the previous request. */
#include "loadgen/engine_internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* POSTs' Content-Type. libcurl only reads the list it is given, so one list
 * serves every handle of every thread. */
static char json_content_type[] = "Content-Type: application/json";
static struct curl_slist json_header = {json_content_type, NULL};

/* ---- libcurl callbacks ------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    lg_user *u = userp;
    size_t len = size * nmemb;
    size_t room = sizeof u->response - 1 - u->response_len;
    size_t take = len < room ? len : room;
    memcpy(u->response + u->response_len, data, take);
    u->response_len += take;
    u->response[u->response_len] = '\0';
    return len;
}

/* Keeps the status line's reason phrase ("OK", "Not Found") for JTL's
 * responseMessage; libcurl only hands out the numeric code. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    lg_user *u = userp;
    size_t len = size * nmemb;
    if (len < 5 || memcmp(data, "HTTP/", 5) != 0)
        return len;
    /* Called for every header line: plain scans, no snprintf. */
    const char *end = data + len;
    while (end > data && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    const char *reason = memchr(data, ' ', (size_t)(end - data)); /* after "HTTP/1.1" */
    if (reason)
        reason = memchr(reason + 1, ' ', (size_t)(end - reason - 1)); /* after the code */
    size_t n = reason ? (size_t)(end - reason - 1) : 0;
    if (n >= sizeof u->reason)
        n = sizeof u->reason - 1;
    if (n > 0)
        memcpy(u->reason, reason + 1, n);
    u->reason[n] = '\0';
    return len;
}

/* Every socket libcurl closes passes here (CURLOPT_CLOSESOCKETFUNCTION):
 * closing drops it from the epoll set, so its descriptor's entry is reset
 * before the number can be reused. The engine, not the user, is the
 * argument: the multi handle's cached connections are closed after the
 * users are gone. */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
    lg_forget_socket(clientp, fd);
    return close(fd);
}

/* ---- the request -------------------------------------------------------- */

static void set_user_auth(lg_user *u, bool with_auth)
{
    if (u->curl.auth_set == (int)with_auth)
        return;
    curl_easy_setopt(u->easy, CURLOPT_HTTPAUTH, with_auth ? CURLAUTH_BASIC : CURLAUTH_NONE);
    curl_easy_setopt(u->easy, CURLOPT_USERNAME, with_auth ? u->name : NULL);
    curl_easy_setopt(u->easy, CURLOPT_PASSWORD, with_auth ? u->password : NULL);
    u->curl.auth_set = with_auth;
}

/* Hands libcurl the request's URL when it changed. Given a string
 * (CURLOPT_URL), libcurl 7.88 parses it and reassembles it from its parts
 * on every transfer, about 12,000 instructions; given a parsed handle
 * (CURLOPT_CURLU) it copies the parts. A URL our parser refuses goes in as
 * a string, so libcurl's own error lands in the failed sample. */
static void set_url(lg_user *u)
{
    CURL *h = u->easy;
    lg_curl_user *c = &u->curl;
    if (strcmp(u->url, c->url_set) == 0)
        return;
    if (curl_url_set(c->parsed_url, CURLUPART_URL, u->url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
        curl_easy_setopt(h, CURLOPT_CURLU, c->parsed_url);
    } else {
        curl_easy_setopt(h, CURLOPT_CURLU, NULL);
        curl_easy_setopt(h, CURLOPT_URL, u->url);
    }
    memcpy(c->url_set, u->url, strlen(u->url) + 1);
}

/* Hands the request's URL and body to the easy handle, skipping what it
 * already holds. POSTFIELDS is not copied by libcurl: u->body stays put
 * for the whole run, so only its length needs telling when it changes. */
static void set_url_and_body(lg_user *u)
{
    CURL *h = u->easy;
    lg_curl_user *c = &u->curl;
    set_url(u);
    size_t body_len = strlen(u->body);
    if (body_len == c->body_len_set)
        return;
    if (body_len > 0 && c->body_len_set == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, u->body);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, &json_header);
    } else if (body_len == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    }
    if (body_len > 0)
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
    c->body_len_set = body_len;
}

static bool curl_start(lg_user *u, bool with_auth, double now)
{
    set_url_and_body(u);
    set_user_auth(u, with_auth);
    if (lg_multi_add(u))
        return true;
    lg_engine_fail(u->eng, "libcurl refused a request for %s", u->url);
    return false;
}

/* ---- the finished transfer ---------------------------------------------- */

/* libcurl's timers only split off the time to first byte: latency is the
 * engine's elapsed time less libcurl's first-byte-to-end time. */
static void fill_sample(lg_user *u, CURLcode rc, double done_ms, jb_sample *s)
{
    CURL *h = u->easy;
    lg_sample_init(u, done_ms, s);
    int64_t total = lg_info_us(h, CURLINFO_TOTAL_TIME_T);
    int64_t ttfb = lg_info_us(h, CURLINFO_STARTTRANSFER_TIME_T);
    int64_t after_first_byte = total > ttfb ? total - ttfb : 0;
    s->latency_us =
        ttfb > 0 && s->elapsed_us > after_first_byte ? s->elapsed_us - after_first_byte : 0;
    s->connect_us = lg_info_us(h, CURLINFO_CONNECT_TIME_T);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s->code);
    s->curl_code = (int)rc;
    long header_bytes = 0, request_bytes = 0;
    curl_easy_getinfo(h, CURLINFO_HEADER_SIZE, &header_bytes);
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &request_bytes);
    s->bytes = header_bytes + (long)lg_info_us(h, CURLINFO_SIZE_DOWNLOAD_T);
    s->sent_bytes = request_bytes;
}

static void curl_transfer_done(lg_user *u, CURLcode rc)
{
    double now = jb_now_ms();
    lg_multi_remove(u);
    jb_sample s;
    fill_sample(u, rc, now, &s);
    lg_request_done(u, &s, now);
}

/* Taking the handle out of the multi ends its transfer and closes its
 * connection. */
static void curl_abandon(lg_user *u)
{
    lg_multi_remove(u);
}

/* ---- the user ------------------------------------------------------------- */

static bool curl_init_user(lg_user *u)
{
    CURL *h = u->easy;
    u->curl.auth_set = -1;
    u->curl.parsed_url = curl_url();
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, u);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, u);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, u->eng);
    return u->curl.parsed_url != NULL;
}

/* After the handle that points at it. */
static void curl_free_user(lg_user *u)
{
    curl_url_cleanup(u->curl.parsed_url);
}

const lg_transport_ops lg_curl_transport = {
    .init_user = curl_init_user,
    .free_user = curl_free_user,
    .start = curl_start,
    .transfer_done = curl_transfer_done,
    .abandon = curl_abandon,
};
