/* helpers.h - shared by the metrics tests: spawning the ground-truth child
 * and failing loudly. */
#ifndef JB_TESTS_METRICS_HELPERS_H
#define JB_TESTS_METRICS_HELPERS_H

#include "tests/testlib.h"
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UNUSED __attribute__((unused))

/* Starts JB_METRICS_CHILD with args and waits for its "ready" line. */
UNUSED static pid_t spawn_child4(const char *a1, const char *a2, const char *a3, const char *a4)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(JB_METRICS_CHILD, JB_METRICS_CHILD, a1, a2, a3, a4, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[16] = "";
    ssize_t n = pid > 0 ? read(fds[0], line, sizeof line - 1) : -1;
    close(fds[0]);
    if (n <= 0 || strncmp(line, "ready", 5) != 0) {
        fprintf(stderr, "child %s %s did not start\n", a1, a2);
        return -1;
    }
    return pid;
}

UNUSED static pid_t spawn_child(const char *a1, const char *a2, const char *a3)
{
    return spawn_child4(a1, a2, a3, NULL);
}

UNUSED static void end_child(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

UNUSED static void sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1e3),
                          (long)((ms - (double)(time_t)(ms / 1e3) * 1e3) * 1e6)};
    nanosleep(&ts, NULL);
}

UNUSED static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
