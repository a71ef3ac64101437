/* fake_service.c - a stand-in Jung service for the platform driver tests.
 *
 * Behaves like a Jung service towards a platform: takes --instance and
 * --brokers, prints the readiness line on stdout, serves a TCP port (an
 * HTTP/1.0 answer naming the instance) and exits 0 on SIGTERM/SIGINT. It is
 * built static so the same file runs in a FROM scratch container and as a
 * microVM's application. Its service name is argv[0]'s basename without
 * "jung-" (so /jung-user_registry answers as user_registry), or --service.
 *
 * Test knobs: --delay-ms N before ready, --exit-before-ready CODE,
 * --ignore-term (only SIGKILL stops it), --port P (0: none), --bind ADDR,
 * --abort-like-osv (prints what OSv prints when a program cannot resolve a
 * symbol, then stays up as OSv's halted guest does).
 * A service name ending in "_slow" (jung-fake_slow) waits 60 s before it
 * is ready, for tests that interrupt a start without passing options.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

typedef struct options {
    const char *service, *instance, *bind_addr;
    int port, delay_ms, exit_code;
    int ignore_term, abort_like_osv;
} options;

static const char *name_from_argv0(const char *argv0)
{
    const char *base = strrchr(argv0, '/');
    base = base ? base + 1 : argv0;
    return strncmp(base, "jung-", 5) == 0 ? base + 5 : "fake";
}

static int parse(int argc, char **argv, options *o)
{
    o->service = name_from_argv0(argv[0]);
    o->instance = "fake-1";
    o->bind_addr = "127.0.0.1";
    o->exit_code = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--ignore-term") == 0) {
            o->ignore_term = 1;
            continue;
        }
        if (strcmp(a, "--abort-like-osv") == 0) {
            o->abort_like_osv = 1;
            continue;
        }
        if (!v)
            continue; /* unknown flags without a value are ignored, as a service would */
        if (strcmp(a, "--instance") == 0)
            o->instance = v;
        else if (strcmp(a, "--service") == 0)
            o->service = v;
        else if (strcmp(a, "--bind") == 0)
            o->bind_addr = v;
        else if (strcmp(a, "--port") == 0)
            o->port = atoi(v);
        else if (strcmp(a, "--delay-ms") == 0)
            o->delay_ms = atoi(v);
        else if (strcmp(a, "--exit-before-ready") == 0)
            o->exit_code = atoi(v);
        else
            continue;
        i++;
    }
    size_t len = strlen(o->service);
    if (len > 5 && strcmp(o->service + len - 5, "_slow") == 0 && !o->delay_ms)
        o->delay_ms = 60000;
    const char *env_port = getenv("FAKE_PORT");
    if (env_port && !o->port)
        o->port = atoi(env_port);
    return 0;
}

static int listen_on(const char *addr, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) {
        printf("fake: cannot listen on %s:%d: %s\n", addr, port, strerror(errno));
        return -1;
    }
    return fd;
}

static void answer(int lfd, const options *o)
{
    int c = accept(lfd, NULL, NULL);
    if (c < 0)
        return;
    char buf[512];
    (void)!read(c, buf, sizeof buf);
    int n = snprintf(buf, sizeof buf, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n%s %s\n",
                     o->service, o->instance);
    (void)!write(c, buf, (size_t)n);
    close(c);
}

int main(int argc, char **argv)
{
    options o = {0};
    parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (o.ignore_term)
        signal(SIGTERM, SIG_IGN);
    printf("fake %s starting instance=%s\n", o.service, o.instance);
    if (o.delay_ms > 0) { /* a stop signal ends the wait early */
        struct timespec ts = {o.delay_ms / 1000, (o.delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && !stop_signal)
            ;
        if (stop_signal)
            return 0;
    }
    if (o.abort_like_osv) {
        printf("/jung-%s: failed looking up symbol sodium_init\nAborted\n\n[backtrace]\n",
               o.service);
        fflush(stdout);
        while (!stop_signal)
            pause();
        return 0;
    }
    if (o.exit_code >= 0) {
        printf("fake %s: failing on purpose with status %d\n", o.service, o.exit_code);
        return o.exit_code;
    }
    int lfd = o.port > 0 ? listen_on(o.bind_addr, o.port) : -1;
    if (o.port > 0 && lfd < 0)
        return 1;
    if (lfd >= 0)
        printf("jung %s ready instance=%s http=http://127.0.0.1:%d\n", o.service, o.instance,
               o.port);
    else
        printf("jung %s ready instance=%s\n", o.service, o.instance);
    while (!stop_signal) {
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        if (poll(&pfd, lfd >= 0 ? 1 : 0, 200) > 0)
            answer(lfd, &o);
    }
    printf("jung %s stopping on signal %d\n", o.service, (int)stop_signal);
    return 0;
}
