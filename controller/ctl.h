/* ctl.h - the controller's state, internal to controller/: what
 * controller.c (the iterations, the load, the lanes), results_import.c
 * (a runner's RESULTS and ROWS into results.db) and run_record.c (the run's
 * folder, lock, --resume and end) share. */
#ifndef JB_CONTROLLER_CTL_H
#define JB_CONTROLLER_CTL_H

#include "controller/controller.h"
#include "bus/bus.h"
#include "store/store.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define CTL_CMD "run"

typedef enum { IT_DONE, IT_FAILED, IT_PLATFORM_FAILED, IT_INTERRUPTED } it_result;

/* The run's progress, over all its lanes: the [k/N] counter and the ETA. */
typedef struct run_progress {
    long planned, finished;
    double iter_ms_sum; /* finished iterations' wall time, for the ETA */
    long iter_ms_n;
    double run_t0; /* jb_now_ms() at the run's start */
    size_t nlanes; /* lanes running at the same time */
} run_progress;

/* What the lanes of one run share. A lane is the platforms one controller
 * loop drives in turn: every platform, or with runner.parallel those of one
 * runner, so platforms on different runners (hosts) run at the same time,
 * each lane on its own thread with its own bus client, database connection
 * and Jung topic prefix, and only these counters and the end flag in common. */
typedef struct ctl_shared {
    pthread_mutex_t mu; /* guards progress */
    run_progress progress;
    atomic_bool end; /* a lane ended the run (on_failure: stop): the others end
                        after their iteration in flight */
} ctl_shared;

typedef struct ctl {
    const jb_controller_options *o;
    const jb_config *cfg;
    char run_id[JB_RUN_ID_SIZE];
    char dir[PATH_MAX];
    char db_path[PATH_MAX + 16];
    jb_store store;
    jb_kbus *bus;
    int lock_fd; /* flock on <dir>/lock: one controller per run at a time */
    ctl_shared *sh;
    /* this lane's platforms, in config order, and how they went */
    const jb_config_platform *lane[JB_CFG_MAX_PLATFORMS];
    size_t nlane;
    bool any_failed;
    bool go_on;     /* false: the whole run must end */
    double iter_t0; /* jb_now_ms() at the iteration's start */
    /* the iteration in flight */
    const char *runner_id; /* the runner of its platform (platform.runner, else runner.id) */
    char topic_prefix[32]; /* this run's Jung topics on a shared cluster (launch.h) */
    jb_msg run;
    double sent_ms, last_heard_ms;
    /* runner_liveness: messages from our runner since RUN, the longest gap */
    double liveness_last_ms, max_gap_ms;
    long messages;
    bool heard;
    /* the platform's runner answered in an earlier iteration of this run:
     * an unanswered RUN then waits for it (a partition, a restart) up to
     * runner.ready_timeout_ms instead of failing after the silence timeout */
    bool runner_known;
    json_t *ready, *results;
    json_t *row_parts; /* ROWS bodies of the iteration: table -> {"<part>": rows} */
    bool runner_failed;
    bool bus_lost; /* the broker was unreachable: nothing more will arrive */
    char error[2048];
    char import_warning[256]; /* what the import of a remote runner's rows lost */
    bool load_stopped_for_error;
} ctl;

/* A progress or result line on stdout, unless quiet. */
void ctl_say(const ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* runs.status, and finished_ms unless it is "running". */
void ctl_set_run_status(ctl *c, const char *status);

/* results_import.c. Keeps a ROWS part of the iteration in flight. */
void ctl_keep_row_part(ctl *c, const jb_msg *m);
/* ROWS parts RESULTS announced that have not arrived yet. */
long ctl_missing_row_parts(const ctl *c);
/* A done iteration's RESULTS (and ROWS) into results.db, when the runner
 * wrote to another database than the controller's. */
void ctl_import_from_messages(ctl *c, const char *platform, long iteration);

/* run_record.c. Creates or (--resume) reopens the run's folder, lock and
 * database; false with the reason on stderr. */
bool ctl_open_run(ctl *c);
/* Marks the run done, failed or interrupted, prints its summary and
 * checks its thresholds; the exit code. */
int ctl_finish_run(ctl *c, bool interrupted, bool any_failed);

#endif
