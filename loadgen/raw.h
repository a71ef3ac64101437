/* raw.h - the raw HTTP/1.1 keep-alive transport of the load generator: one
 * connection's request bytes and response parsing (Debian's http-parser),
 * without libcurl's per-transfer machinery (about 48,000 instructions a
 * request in libcurl 7.88, against wrk's 4,300 for the whole request; see
 * docs/loadgen.md). The connection itself is opened by libcurl (engine.c,
 * CURLOPT_CONNECT_ONLY); this file only moves bytes over it. */
#ifndef JB_LOADGEN_RAW_H
#define JB_LOADGEN_RAW_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a socket event or a send did to the request in flight. */
typedef enum {
    LG_RAW_PENDING, /* nothing to report: wait for more events */
    LG_RAW_DONE,    /* the response is complete */
    LG_RAW_FAILED,  /* the request failed: see failure, curl_code */
    LG_RAW_RETRY,   /* a reused connection was closed before any answer: resend on a new one */
    LG_RAW_IDLE_EOF /* no request in flight and the server closed (or reset) the connection */
} lg_raw_status;

typedef struct lg_raw_conn {
    int fd; /* -1: no connection */
    int epoll_fd;
    uint64_t tag;    /* epoll_data.u64 of the socket's entry */
    uint32_t events; /* registered epoll events */
    bool reused;     /* a previous request completed on this connection */
    bool busy;       /* a request is in flight */
    /* the request */
    char *out;
    size_t out_len, out_cap, out_off;
    /* the response */
    http_parser parser;
    bool got_byte, complete, headers_done, keep_alive;
    size_t line_len; /* header scan: bytes since the last '\n' */
    char line_first; /* header scan: the line's first byte */
    long header_bytes, body_bytes;
    double first_byte_ms;
    /* where the reason phrase and the start of the body go (the user's) */
    char *reason;
    size_t reason_size;
    char *body;
    size_t body_size, *body_len;
    /* a failure: a libcurl error code of the same meaning (so both
     * transports record the same code and message) and a description */
    int curl_code;
    char failure[160];
} lg_raw_conn;

/* Sets the connection up unconnected; reason/body are where the response's
 * reason phrase and the start of its body are copied ('\0'-terminated). */
void lg_raw_init(lg_raw_conn *c, int epoll_fd, uint64_t tag, char *reason, size_t reason_size,
                 char *body, size_t body_size, size_t *body_len);

/* Builds the request bytes: path is origin-form ("/users/x"), host_port the
 * Host header's value, auth an "Authorization: ..." line with its CRLF or
 * NULL, body NULL or "" for none (then GET, else POST with a JSON body). */
bool lg_raw_build(lg_raw_conn *c, const char *path, const char *host_port, const char *auth,
                  const char *body);

/* Takes a connected socket: the caller's epoll set watches it from now on. */
bool lg_raw_attach(lg_raw_conn *c, int fd);

/* Forgets the previous response (its status, sizes, failure). */
void lg_raw_reset(lg_raw_conn *c);

/* Starts the built request on the attached connection. */
lg_raw_status lg_raw_start(lg_raw_conn *c);

/* Handles an epoll event on the connection at time now_ms. */
lg_raw_status lg_raw_event(lg_raw_conn *c, uint32_t events, double now_ms);

/* Closes the connection (if open): the next request needs a new one. */
void lg_raw_close(lg_raw_conn *c);

void lg_raw_free(lg_raw_conn *c);

/* "Authorization: Basic <base64(user:password)>\r\n" into out. */
bool lg_raw_basic_auth(const char *user, const char *password, char *out, size_t size);

#endif
