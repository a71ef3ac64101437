/* fake_jung.h - a small HTTP server speaking Jung's REST API (docs/rest-api.md)
 * for the load generator's tests, with injectable slow, stalled and failing
 * responses. Not Jung: it answers from memory without checking much. */
#ifndef JB_TESTS_FAKE_JUNG_H
#define JB_TESTS_FAKE_JUNG_H

#include <stdatomic.h>
#include <stdbool.h>

enum {
    FAKE_GET_USER,
    FAKE_GET_DEVICE,
    FAKE_GET_READINGS,
    FAKE_POST_COMMAND,
    FAKE_STATIC,
    FAKE_CREATE_USER,
    FAKE_CREATE_DEVICE,
    FAKE_CREATE_RULE,
    FAKE_KINDS
};

typedef struct fake_jung_faults {
    long fail_every; /* every Nth measured request answers 500 (0: never) */
    long slow_every; /* every Nth measured request waits slow_ms first */
    long slow_ms;
    long stall_at; /* the Nth measured request (1-based) waits stall_ms first */
    long stall_ms;
    bool refuse_setup;     /* POST /users answers 403 */
    unsigned idle_close_s; /* close a connection idle this long (0: 30 s) */
} fake_jung_faults;

typedef struct fake_jung {
    struct MHD_Daemon *daemon;
    unsigned short port;
    fake_jung_faults faults;
    atomic_long measured; /* measured requests seen */
    atomic_long count[FAKE_KINDS];
    atomic_long failed;          /* 500s sent */
    atomic_long slowed;          /* slow or stalled answers */
    atomic_long unauthenticated; /* requests without Basic auth that needed it */
    atomic_long bad_bodies;      /* POSTs whose body is not what loadgen should send (400) */
    atomic_long connections;     /* TCP connections accepted */
} fake_jung;

/* Starts on 127.0.0.1, an ephemeral port (port 0) or the given one. */
bool fake_jung_start(fake_jung *f, unsigned short port, const fake_jung_faults *faults);
void fake_jung_stop(fake_jung *f);

#endif
