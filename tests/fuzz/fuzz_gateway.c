/* fuzz_gateway: the API gateway's request handling (jung/api_gateway.c over
 * libmicrohttpd, as jung-api-gateway runs it) reading arbitrary bytes from
 * a client. The gateway runs in this process against the in-memory bus of
 * tests/e2e/fake_bus.c (its main renamed jung_gateway_main), with its own
 * options; each input goes to it over a fresh TCP connection, which is then
 * half-closed. The gateway must answer with well-formed responses only, one
 * per request: each a status line, headers ending in a blank line and a
 * body of exactly its Content-Length, so a doubled header block (as
 * libmicrohttpd 0.9.75 sent for a bad Content-Length) shows up as bytes
 * that start no response. And it must close the connection: a gateway
 * still holding it 5 s after the client stopped sending is a hang. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int jung_gateway_main(int argc, char **argv);

#define FUZZ_MAX_INPUT 60000 /* one socket buffer: the input is written before reading */
#define FUZZ_REPLY_MAX (1 << 20)
#define FUZZ_CLOSE_TIMEOUT_MS 4000 /* twice fits in scripts/fuzz's -timeout=10 */

static struct sockaddr_in gateway_addr;

/* A free port: bound, read and released (the gateway takes it next). */
static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("fuzz_gateway: no free port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void *run_gateway(void *arg)
{
    char **argv = arg;
    int argc = 0;
    while (argv[argc])
        argc++;
    int rc = jung_gateway_main(argc, argv);
    fprintf(stderr, "fuzz_gateway: the gateway ended with status %d\n", rc);
    exit(1);
    return NULL;
}

static int connect_gateway(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&gateway_addr, sizeof gateway_addr) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Starts the gateway and waits until its port accepts connections. The
 * per-client login limit is off: every input comes from 127.0.0.1, and
 * random credentials would otherwise soon leave only 429s to explore. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char port[16];
    snprintf(port, sizeof port, "%u", free_port());
    static char *gw_argv[] = {"jung-api-gateway",
                              "--port",
                              port,
                              "--max-body",
                              "1024",
                              "--header-timeout-ms",
                              "2000",
                              "--login-failures-per-client",
                              "0",
                              NULL};
    gateway_addr = (struct sockaddr_in){.sin_family = AF_INET,
                                        .sin_port = htons((uint16_t)atoi(port)),
                                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    pthread_t t;
    if (pthread_create(&t, NULL, run_gateway, gw_argv) != 0)
        exit(1);
    pthread_detach(t);
    const struct timespec retry = {0, 10 * 1000000L};
    for (int i = 0; i < 1000; i++) { /* waits for the port, 10 s at most */
        int fd = connect_gateway();
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        nanosleep(&retry, NULL);
    }
    fprintf(stderr, "fuzz_gateway: the gateway did not listen on port %s within 10 s\n", port);
    exit(1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Reads until the gateway closes; false if it keeps the connection open. */
static bool read_reply(int fd, char *buf, size_t cap, size_t *len)
{
    double deadline = now_ms() + FUZZ_CLOSE_TIMEOUT_MS;
    *len = 0;
    for (;;) {
        int left = (int)(deadline - now_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        ssize_t n = recv(fd, buf + *len, cap - *len, 0);
        if (n <= 0)
            return true; /* closed (or reset) */
        *len += (size_t)n;
        if (*len == cap)
            return true; /* more than any answer to FUZZ_MAX_INPUT bytes: checked below */
    }
}

/* The length of the well-formed response at p, or 0 if it is not one. */
static size_t response_length(const char *p, size_t n)
{
    if (n < 12 || (memcmp(p, "HTTP/1.1 ", 9) != 0 && memcmp(p, "HTTP/1.0 ", 9) != 0))
        return 0;
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - p) + 4, body = 0;
    if (p[9] == '1')
        return head; /* 1xx: no body */
    for (const char *h = memchr(p, '\n', head); h && h < end; h = memchr(h, '\n', end - h)) {
        h++;
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            body = strtoul(h + 15, NULL, 10);
    }
    return head + body <= n ? head + body : 0;
}

/* Sends the input on a fresh connection, half-closes it and reads the
 * reply; false if the gateway did not close within the timeout. */
static bool exchange(const uint8_t *data, size_t size, char *reply, size_t cap, size_t *len)
{
    *len = 0;
    int fd = connect_gateway();
    if (fd < 0)
        return true; /* at the gateway's connection limits for a moment */
    size_t sent = 0;
    while (sent < size) {
        ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the gateway answered and closed early */
        sent += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    bool closed = read_reply(fd, reply, cap, len);
    close(fd);
    return closed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    static char reply[FUZZ_REPLY_MAX];
    size_t len;
    /* A hang is a hang when it repeats: on this shared 2-core machine one
     * slow close in thousands came from load, not from the input. */
    if (!exchange(data, size, reply, sizeof reply, &len)) {
        fprintf(stderr, "fuzz_gateway: slow close, trying the input again\n");
        if (!exchange(data, size, reply, sizeof reply, &len)) {
            fprintf(stderr,
                    "fuzz_gateway: the gateway kept the connection %d ms after the input, "
                    "twice\n",
                    FUZZ_CLOSE_TIMEOUT_MS);
            __builtin_trap();
        }
    }
    for (size_t at = 0; at < len;) {
        size_t n = response_length(reply + at, len - at);
        if (n == 0) {
            int show = len - at < 80 ? (int)(len - at) : 80;
            fprintf(stderr,
                    "fuzz_gateway: bytes at offset %zu start no well-formed response: %.*s\n", at,
                    show, reply + at);
            __builtin_trap();
        }
        at += n;
    }
    return 0;
}
