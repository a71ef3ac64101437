/* spare.h - the next iteration's embedded broker, started ahead of time
 * (broker/spare.c), for whoever boots iterations one after another: the
 * runner, and `jungbench run`, which starts the first one together with
 * its own broker.
 *
 * With `broker: embedded` every iteration gets a fresh broker for its
 * services (runner/job.c says why). Starting librdkafka's mock cluster
 * takes about 5 s on this machine, nearly all of it idle waiting inside
 * librdkafka (topic creations that wait out its 1 s poll), so the runner
 * keeps one spare broker starting on a background thread while the current
 * iteration runs, and the next iteration takes it ready-made. */
#ifndef JB_BROKER_SPARE_H
#define JB_BROKER_SPARE_H

#include "broker/broker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Used by one thread at a time (the runner takes brokers for one
 * iteration after another); the filler thread hands its broker over
 * through pthread_join, which orders its write before our read. */
typedef struct jb_broker_spare {
    pthread_t filler;
    bool filler_started; /* a filler thread exists and has not been joined */
    jb_broker *spare;    /* a started broker nobody took yet */
} jb_broker_spare;

void jb_broker_spare_init(jb_broker_spare *s);
/* A started broker for one iteration (the caller stops it): the spare when
 * there is one (waiting for one being started), else one started now. Then
 * starts the next spare in the background. NULL with err on failure. */
jb_broker *jb_broker_spare_take(jb_broker_spare *s, char *err, size_t errlen);
/* Starts the spare now when there is none yet (a caller that knows a
 * broker will be needed, e.g. `jungbench run` with `broker: embedded`). */
void jb_broker_spare_prefill(jb_broker_spare *s);
/* Waits for a spare being started, stops it, frees nothing else. */
void jb_broker_spare_destroy(jb_broker_spare *s);

#endif
