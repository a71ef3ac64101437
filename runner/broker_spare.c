/* broker_spare.c - one embedded broker started ahead (broker_spare.h). */
#include "runner/broker_spare.h"

#include <stdio.h>
#include <string.h>

void broker_spare_init(broker_spare *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
}

static void *fill(void *arg)
{
    broker_spare *s = arg;
    char err[512];
    /* A failure leaves no spare: the next take starts one itself and
     * reports the reason then. */
    jb_broker *b = jb_broker_start(NULL, err, sizeof err);
    pthread_mutex_lock(&s->mu);
    s->spare = b;
    s->filling = false;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Waits for the filler to finish and joins it. */
static void join_filler(broker_spare *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->filling)
        pthread_cond_wait(&s->cond, &s->mu);
    pthread_mutex_unlock(&s->mu);
    if (s->filler_started)
        pthread_join(s->filler, NULL);
    s->filler_started = false;
}

static void start_filler(broker_spare *s)
{
    pthread_mutex_lock(&s->mu);
    s->filling = true;
    pthread_mutex_unlock(&s->mu);
    if (pthread_create(&s->filler, NULL, fill, s) == 0) {
        s->filler_started = true;
        return;
    }
    pthread_mutex_lock(&s->mu); /* no spare this time: the next take starts one */
    s->filling = false;
    pthread_mutex_unlock(&s->mu);
}

jb_broker *broker_spare_take(broker_spare *s, char *err, size_t errlen)
{
    join_filler(s);
    pthread_mutex_lock(&s->mu);
    jb_broker *b = s->spare;
    s->spare = NULL;
    pthread_mutex_unlock(&s->mu);
    if (!b)
        b = jb_broker_start(NULL, err, errlen);
    if (b)
        start_filler(s);
    return b;
}

void broker_spare_prefill(broker_spare *s)
{
    if (s->filler_started)
        return; /* one is starting or started already */
    pthread_mutex_lock(&s->mu);
    bool have = s->spare != NULL;
    pthread_mutex_unlock(&s->mu);
    if (!have)
        start_filler(s);
}

void broker_spare_destroy(broker_spare *s)
{
    join_filler(s);
    jb_broker_stop(s->spare);
    s->spare = NULL;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
}
