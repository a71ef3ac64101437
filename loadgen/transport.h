/* transport.h - internal to loadgen: how a request travels once the engine
 * (engine.c) has built it, as wrk's net.h puts its plain and TLS sockets
 * behind {connect, write, read, close}. Every user's connection is opened
 * through the engine thread's libcurl multi handle; what carries the
 * request from there is the transport's:
 *   lg_curl_transport (curl_transport.c) - the request is a libcurl
 *       transfer on the user's easy handle;
 *   lg_raw_transport (raw_transport.c) - the handle only connects, then
 *       raw.c sends the request bytes and parses the response itself.
 * The engine calls a transport only through these operations; a
 * transport hands each finished request back with lg_request_done()
 * (engine_internal.h). */
#ifndef JB_LOADGEN_TRANSPORT_H
#define JB_LOADGEN_TRANSPORT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct lg_user lg_user;
typedef struct lg_engine lg_engine;

typedef struct lg_transport_ops {
    /* Sets up the transport's part of a user, once per run, after the
     * engine gave the easy handle the options both transports share. The
     * state must be releasable by free_user whatever fails after. */
    bool (*init_user)(lg_user *u);
    /* Releases it; called after the easy handle was cleaned up, which may
     * have pointed at it. */
    void (*free_user)(lg_user *u);
    /* Sends the request the engine built (u->url, u->body, HTTP Basic
     * credentials when with_auth). The user is busy already; false when the
     * transport failed the engine (lg_engine_fail) instead. */
    bool (*start)(lg_user *u, bool with_auth, double now);
    /* The user's easy handle is done in the multi handle (CURLMSG_DONE). */
    void (*transfer_done)(lg_user *u, CURLcode rc);
    /* An epoll event on a socket the transport registered itself, tagged
     * lg_user_tag(u). NULL: the transport registers none. */
    void (*socket_event)(lg_user *u, uint32_t events);
    /* Fails the requests past their deadline, at e->sweep_at_ms, which
     * only this transport sets. NULL: libcurl times requests out itself. */
    void (*sweep_timeouts)(lg_engine *e, double now);
    /* The run is winding down: the request in flight is dropped unrecorded,
     * its connection closed (its answer would arrive for nobody). */
    void (*abandon)(lg_user *u);
} lg_transport_ops;

extern const lg_transport_ops lg_curl_transport;
extern const lg_transport_ops lg_raw_transport;

#endif
