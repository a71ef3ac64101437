/* recorder.h - internal to loadgen: the sample rows and the summary. */
#ifndef JB_LOADGEN_RECORDER_H
#define JB_LOADGEN_RECORDER_H

#include "loadgen/loadgen.h"

#include <pthread.h>

/* One finished request, with JMeter JTL's fields. Response times run from
 * the intended send time (equal to the actual one in the closed model). */
typedef struct jb_sample {
    jb_req_kind kind;
    bool setup;
    double wall_start_ms;    /* when it was actually sent, Unix epoch */
    double intended_wall_ms; /* when it was due */
    int64_t elapsed_us;      /* intended send to last byte */
    int64_t latency_us;      /* intended send to first byte */
    int64_t connect_us;      /* TCP connect, 0 on a reused connection */
    double idle_ms;          /* how long the user waited for this request's due time */
    long code;               /* HTTP status, 0 when none arrived */
    int curl_code;
    char message[64];        /* reason phrase, or libcurl's error text */
    bool success;            /* transfer completed with a 2xx or 3xx status */
    char failure[256];       /* why not, empty on success */
    long bytes;              /* received, headers included */
    long sent_bytes;         /* sent, headers included */
    const char *thread_name; /* the user's name: lives as long as the run */
    long active;             /* users still running */
    const char *url;         /* the caller's buffer; the recorder keeps a copy */
    size_t url_at;           /* in a queue: where the copy starts in its urls */
    long seq;                /* position in the user's dataset */
} jb_sample;

/* Rows waiting for the writer thread. Their URLs are copied end to end
 * into one growing buffer rather than strdup'd one by one: a malloc and a
 * free less per request on the loop's thread. */
typedef struct jb_sample_queue {
    jb_sample *rows;
    size_t n, cap;
    char *urls;
    size_t urls_len, urls_cap;
} jb_sample_queue;

/* The sending threads hand rows to one writer thread, so SQLite's inserts,
 * commits and WAL checkpoints (an fsync now and then) never delay a loop
 * that timestamps responses. The queue is shared (locked); the summary's
 * figures are kept per sending thread in a jb_tally, merged at the end. */
typedef struct jb_recorder {
    const jb_loadgen_config *cfg;
    jb_store *store;
    jb_store_samples samples; /* the samples writer (store/samples.c) */
    /* writer thread: queue, closing and failed are guarded by lock */
    pthread_t writer;
    bool writer_running;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    jb_sample_queue queue;
    bool closing, failed;
    char error[512];
} jb_recorder;

/* One sending thread's own figures, touched by that thread only. */
typedef struct jb_tally {
    int64_t *elapsed; /* measured samples' response times, for exact percentiles */
    size_t n, cap;
    long errors, setup_requests;
    int64_t bytes, sent_bytes;
    double first_ms, last_ms; /* measured span, Unix epoch */
    char error[128];
} jb_tally;

void jb_tally_init(jb_tally *t);
void jb_tally_free(jb_tally *t);

bool jb_recorder_open(jb_recorder *rec, const jb_loadgen_config *cfg);
/* Counts s in t and queues its row; false (t->error set) when out of memory. */
bool jb_recorder_add(jb_recorder *rec, jb_tally *t, const jb_sample *s);
/* False (error set) once the writer thread has failed. */
bool jb_recorder_ok(jb_recorder *rec);
/* The summary over all threads' tallies: their response times are moved
 * into *tallies[0] (all samples, so the percentiles stay exact). */
void jb_recorder_summary(jb_tally *const *tallies, size_t n, jb_load_summary *out);
/* Waits for the writer to store every row, then writes load_summaries. */
bool jb_recorder_finish(jb_recorder *rec, const jb_load_summary *sum);
void jb_recorder_close(jb_recorder *rec);

#endif
