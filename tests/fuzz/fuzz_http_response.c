/* fuzz_http_response: the load generator's raw HTTP/1.1 transport
 * (loadgen/raw.c) reading an arbitrary response from a server, through a
 * real socket as in a run: the request goes out on one end of a socket
 * pair, the fuzzer's bytes come back on the other, then the server closes.
 * The transport must end in a verdict (done, failed, or retry) without
 * crashing, and a completed response must say how many bytes it had. */
#include "loadgen/raw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 60000)
        return 0; /* one socket buffer: the test writes before it reads */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    int ep = epoll_create1(0);
    char reason[64], body[256];
    size_t body_len = 0;
    lg_raw_conn c;
    lg_raw_init(&c, ep, 1, reason, sizeof reason, body, sizeof body, &body_len);
    lg_raw_status st = LG_RAW_FAILED;
    if (lg_raw_build(&c, "/users/u1", "127.0.0.1:8080", NULL, NULL) && lg_raw_attach(&c, sv[0]))
        st = lg_raw_start(&c);
    write_all(sv[1], data, size);
    shutdown(sv[1], SHUT_WR);
    for (int rounds = 0; st == LG_RAW_PENDING && rounds < 1000; rounds++) {
        struct epoll_event ev;
        if (epoll_wait(ep, &ev, 1, 100) <= 0)
            break;
        st = lg_raw_event(&c, ev.events, 1.0);
    }
    if (st == LG_RAW_DONE && c.header_bytes <= 0)
        __builtin_trap(); /* a complete response without a status line */
    lg_raw_free(&c);
    close(sv[1]);
    close(ep);
    return 0;
}
