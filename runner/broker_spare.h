/* broker_spare.h - the next iteration's embedded broker, started ahead of
 * time (runner/broker_spare.c). Internal to the runner.
 *
 * With `broker: embedded` every iteration gets a fresh broker for its
 * services (runner/job.c says why). Starting librdkafka's mock cluster
 * takes about 5 s on this machine, nearly all of it idle waiting inside
 * librdkafka (topic creations that wait out its 1 s poll), so the runner
 * keeps one spare broker starting on a background thread while the current
 * iteration runs, and the next iteration takes it ready-made. */
#ifndef JB_RUNNER_BROKER_SPARE_H
#define JB_RUNNER_BROKER_SPARE_H

#include "core/broker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Used by one thread at a time (the runner takes brokers for one
 * iteration after another); the filler thread hands its broker over
 * through pthread_join, which orders its write before our read. */
typedef struct broker_spare {
    pthread_t filler;
    bool filler_started; /* a filler thread exists and has not been joined */
    jb_broker *spare;    /* a started broker nobody took yet */
} broker_spare;

void broker_spare_init(broker_spare *s);
/* A started broker for one iteration (the caller stops it): the spare when
 * there is one (waiting for one being started), else one started now. Then
 * starts the next spare in the background. NULL with err on failure. */
jb_broker *broker_spare_take(broker_spare *s, char *err, size_t errlen);
/* Starts the spare now when there is none yet (a caller that knows a
 * broker will be needed, e.g. `jungbench run` with `broker: embedded`). */
void broker_spare_prefill(broker_spare *s);
/* Waits for a spare being started, stops it, frees nothing else. */
void broker_spare_destroy(broker_spare *s);

#endif
