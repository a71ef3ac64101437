/* job.h - one platform iteration on the runner: boot Jung, sample it,
 * tear it down (runner/job.c). Internal to the runner.
 *
 * The job runs on its own thread because booting and stopping block (the
 * platform layer waits for readiness lines and for processes to exit), while
 * the runner's main thread must keep answering the bus and sending
 * heartbeats. The two share only the fields under `mu`.
 */
#ifndef JB_RUNNER_JOB_H
#define JB_RUNNER_JOB_H

#include "config/config.h"
#include "bus/bus.h"
#include "broker/spare.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

typedef enum {
    JOB_BOOTING,  /* starting the services and waiting for readiness */
    JOB_READY,    /* Jung is up and sampled; waiting for STOP */
    JOB_STOPPING, /* stopping sampling and services */
    JOB_DONE,     /* torn down; results_body holds RESULTS */
    JOB_FAILED,   /* torn down after a failure; err_* say what */
} job_state;

typedef struct runner_job_options {
    const char *brokers;     /* what the services get */
    const char *bin_dir;     /* process driver's executables, NULL: the platform default */
    const char *advertise;   /* where the gateway is reached; NULL: loopback */
    const char *results_dir; /* NULL: write where RUN says */
    jb_broker_spare *spare;  /* the runner's next embedded broker, NULL: start one each time */
} runner_job_options;

typedef struct runner_job {
    /* Set before the thread starts, then read-only. */
    jb_msg run; /* the RUN (owned) */
    runner_job_options opts;
    jb_config *cfg;
    char results_db[4096];

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    /* Under mu. */
    job_state state;
    bool stop_asked;
    json_t *ready_body;   /* READY fields, set with JOB_READY */
    json_t *results_body; /* RESULTS fields, set with JOB_DONE */
    json_t *row_parts;    /* ROWS bodies to send before RESULTS ({table, rows}); may be NULL */
    char err_phase[16], err_service[64], err_text[2048];
} runner_job;

/* Takes ownership of run (also on failure); starts the thread. NULL with a
 * reason in err when the thread cannot start. */
runner_job *runner_job_start(jb_msg *run, const runner_job_options *opts, char *err, size_t errlen);
/* Asks the job to tear down (idempotent, any state). */
void runner_job_ask_stop(runner_job *job);
job_state runner_job_state(runner_job *job);
/* Joins the thread (the job must be DONE or FAILED, or asked to stop) and frees. */
void runner_job_free(runner_job *job);

#endif
