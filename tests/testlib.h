/* testlib.h - the little every C test needs: CHECK, which reports a failed
 * condition with its place and goes on (so one run shows every failure, as
 * SQLite's tests do), and a free loopback port.
 *
 * Header-only on purpose: each test is one executable, and `failures` is that
 * executable's count; main() ends with `return failures ? 1 : 0;`. */
#ifndef JB_TESTS_TESTLIB_H
#define JB_TESTS_TESTLIB_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

__attribute__((unused)) static int failures;

/* CHECK(condition) or CHECK(condition, printf-format, ...): on failure
 * prints the place, the condition and what was expected, counts it in
 * `failures` and goes on. REQUIRE(condition) is the same check for what the
 * rest of the test cannot do without (a handle, a file): it ends the test
 * at once, exit 1. */
#define CHECK(...)                                                                                 \
    JB_CHECK_PICK_(__VA_ARGS__, JB_CHECK_FMT_, JB_CHECK_FMT_, JB_CHECK_FMT_, JB_CHECK_FMT_,        \
                   JB_CHECK_FMT_, JB_CHECK_FMT_, JB_CHECK_FMT_, JB_CHECK_FMT_, JB_CHECK_BARE_,     \
                   unused)                                                                         \
    (__VA_ARGS__)
#define JB_CHECK_PICK_(_1, _2, _3, _4, _5, _6, _7, _8, _9, name, ...) name
#define JB_CHECK_BARE_(cond)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)
#define JB_CHECK_FMT_(cond, ...)                                                                   \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s (the test cannot go on)\n", __FILE__, __LINE__,        \
                    #cond);                                                                        \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* A loopback port that was free a moment ago: bind port 0, read it, close.
 * Another process may take it before the caller binds; tests that cannot
 * afford that retry or let the component pick its own port. Returns -1 when
 * no socket can be had. */
__attribute__((unused)) static int test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

#endif
