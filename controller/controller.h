/* controller.h - the experiment driver (dissertation 5.1.2, figure 21).
 *
 * For each platform of the config and each iteration, the controller sends
 * RUN to its runner over Kafka, waits for READY, drives the load generator
 * (loadgen/loadgen.h) against the endpoint READY names, sends STOP, waits
 * for RESULTS and records the iteration in results/<run-id>/results.db.
 * docs/protocol.md describes the messages, docs/run.md the commands:
 *
 *   jungbench run CONFIG [--out DIR] [--resume RUN_ID]
 *       all in one: embedded broker (when configured), a runner thread and
 *       the controller in this process, over the same protocol;
 *   jungbench controller CONFIG [--broker HOST:PORT] [--out DIR] [--resume RUN_ID]
 *       the controller alone, for `jungbench runner` on another machine.
 *
 * A failure is recorded and the run goes on: a platform that cannot boot
 * (or whose runner is silent) has its remaining iterations skipped; an
 * iteration that fails during the load is recorded and the next one runs.
 * `on_failure: stop` ends the run at the first failure instead. Ctrl-C
 * stops the iteration in flight, has the runner tear down, marks the run
 * interrupted and prints the --resume command; --resume re-runs every
 * iteration that did not finish (its partial rows are deleted first).
 */
#ifndef JB_CONTROLLER_H
#define JB_CONTROLLER_H

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct jb_controller_options {
    const jb_config *cfg;
    const char *config_text;   /* the YAML sent in RUN (the runner re-validates it) */
    const char *brokers;       /* bootstrap servers of the bus */
    const char *out_root;      /* results root; run folder is <out_root>/<run_id> */
    const char *resume_run_id; /* NULL for a new run */
    const char *broker_desc;   /* for the environment record: "embedded (...)" or address */
    bool quiet;                /* no progress lines */
} jb_controller_options;

/* Runs the experiment. Exit code: 0 when every iteration finished (done),
 * 1 when some failed or the run was interrupted or could not start. */
int jb_controller_run(const jb_controller_options *opts);
/* True when another jungbench holds run run_id under out_root: checked by
 * `run --resume` before it starts brokers, so the answer comes at once. */
bool jb_controller_run_in_use(const char *out_root, const char *run_id);


/* Subcommands. */
int controller_main(int argc, char **argv);     /* jungbench controller */
int run_main(int argc, char **argv); /* jungbench run */

#endif
