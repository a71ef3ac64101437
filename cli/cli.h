/* cli.h - conventions every jungbench subcommand follows.
 *
 * Exit codes are part of the interface scripts and CI jobs rely on:
 * 0 success, 1 the work failed, 2 the command line was wrong (3: a gate
 * could not decide, below). A usage
 * error always names the offending argument and points at --help.
 */
#ifndef JB_CLI_H
#define JB_CLI_H

#include <signal.h>
#include <stdbool.h>

enum { JB_EXIT_OK = 0, JB_EXIT_FAIL = 1, JB_EXIT_USAGE = 2 };
/* A gate (compare) that could not decide: a run missing or unreadable,
 * workloads that differ, or too few iterations to test a change. Never 0,
 * and never 1, so a CI job can tell a broken pipeline from a regression. */
enum { JB_EXIT_UNDECIDED = 3 };

/* A run's id, NUL included: "<name, at most 40>-<YYYYmmdd-HHMMSS>" (the
 * controller's), "loadgen-<stamp>" or "provision-<time>-<pid>". Messages,
 * the controller and the commands that make one hold it in this size; ids
 * derived from it (an iteration's "<run>-<platform>-<n>") need more. */
#define JB_RUN_ID_SIZE 64

/* One subcommand: `jungbench NAME ARGS...` calls run(argc, argv) with
 * argv[0] == NAME, so getopt_long works on it unchanged. */
typedef struct jb_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} jb_command;

/* Prints "jungbench CMD: MESSAGE" and a hint to --help on stderr; returns 2. */
int jb_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "jungbench CMD: MESSAGE" on stderr; returns 1. */
int jb_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when argv holds -h or --help (before any "--"). */
bool jb_wants_help(int argc, char **argv);

/* Strict number parsing for option values: the whole string must be a number
 * within [min, max]. On failure prints a usage error naming OPT and returns
 * false, so callers can `return JB_EXIT_USAGE`. */
bool jb_parse_long(const char *cmd, const char *opt, const char *val, long min, long max,
                   long *out);
bool jb_parse_double(const char *cmd, const char *opt, const char *val, double min, double max,
                     double *out);

/* SIGINT/SIGTERM handling for long-running commands. A signal handler can
 * only touch a sig_atomic_t, so the one flag lives here; everything else
 * polls jb_stop_requested() from its own loop. A second signal while
 * stopping restores the default action, so a stuck teardown can still be
 * interrupted. */
void jb_install_stop_handlers(void);
bool jb_stop_requested(void);
int jb_stop_signal(void); /* the signal that asked to stop, or 0 */

/* Monotonic and wall clocks, in milliseconds. */
double jb_now_ms(void);
double jb_wall_ms(void);

/* Copies at most n-1 bytes of src and terminates (a truncating strcpy). */
void jb_strlcpy(char *dst, const char *src, size_t n);

#endif
