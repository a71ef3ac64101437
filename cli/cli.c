/* cli.c - shared command-line plumbing: errors, number parsing, stop signals. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int jb_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "jungbench %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'jungbench %s --help'.\n", cmd);
    return JB_EXIT_USAGE;
}

int jb_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "jungbench %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return JB_EXIT_FAIL;
}

bool jb_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

bool jb_parse_long(const char *cmd, const char *opt, const char *val, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = val ? strtol(val, &end, 10) : 0;
    if (!val || *val == '\0' || *end != '\0' || errno == ERANGE || v < min || v > max) {
        jb_usage_error(cmd, "%s expects a whole number from %ld to %ld, got '%s'", opt, min, max,
                       val ? val : "");
        return false;
    }
    *out = v;
    return true;
}

bool jb_parse_double(const char *cmd, const char *opt, const char *val, double min, double max,
                     double *out)
{
    char *end = NULL;
    errno = 0;
    double v = val ? strtod(val, &end) : 0;
    if (!val || *val == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v) || v < min ||
        v > max) {
        jb_usage_error(cmd, "%s expects a number from %g to %g, got '%s'", opt, min, max,
                       val ? val : "");
        return false;
    }
    *out = v;
    return true;
}

/* The only process-wide state in the harness: a signal handler may touch
 * nothing else. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    if (stop_signal) {
        signal(sig, SIG_DFL); /* second Ctrl-C: let the default action end us */
        return;
    }
    stop_signal = sig;
}

void jb_install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool jb_stop_requested(void)
{
    return stop_signal != 0;
}

int jb_stop_signal(void)
{
    return (int)stop_signal;
}

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double jb_now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

double jb_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

void jb_strlcpy(char *dst, const char *src, size_t n)
{
    if (n == 0)
        return;
    size_t len = strnlen(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}
