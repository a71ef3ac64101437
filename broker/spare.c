/* spare.c - one embedded broker started ahead (spare.h). */
#include "broker/spare.h"

#include <stdio.h>
#include <string.h>

void jb_broker_spare_init(jb_broker_spare *s)
{
    memset(s, 0, sizeof *s);
}

static void *fill(void *arg)
{
    jb_broker_spare *s = arg;
    char err[512];
    /* A failure leaves no spare: the next take starts one itself and
     * reports the reason then. */
    s->spare = jb_broker_start(NULL, err, sizeof err);
    return NULL;
}

/* Waits for the filler, if any, to finish starting its broker. */
static void join_filler(jb_broker_spare *s)
{
    if (s->filler_started)
        pthread_join(s->filler, NULL);
    s->filler_started = false;
}

static void start_filler(jb_broker_spare *s)
{
    /* no thread, no spare this time: the next take starts one itself */
    s->filler_started = pthread_create(&s->filler, NULL, fill, s) == 0;
}

jb_broker *jb_broker_spare_take(jb_broker_spare *s, char *err, size_t errlen)
{
    join_filler(s);
    jb_broker *b = s->spare;
    s->spare = NULL;
    if (!b)
        b = jb_broker_start(NULL, err, errlen);
    if (b)
        start_filler(s);
    return b;
}

void jb_broker_spare_prefill(jb_broker_spare *s)
{
    if (!s->filler_started && !s->spare)
        start_filler(s);
}

void jb_broker_spare_destroy(jb_broker_spare *s)
{
    join_filler(s);
    jb_broker_stop(s->spare);
    s->spare = NULL;
}
