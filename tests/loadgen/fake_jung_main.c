/* fake_jung_main.c - the fake Jung server as a process, for the CLI tests:
 *   jb_fake_jung PORT_FILE [SLOW_EVERY SLOW_MS]
 * writes its port to PORT_FILE and serves until SIGTERM or SIGINT. */
#include "tests/loadgen/fake_jung.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: %s PORT_FILE [SLOW_EVERY SLOW_MS]\n", argv[0]);
        return 2;
    }
    fake_jung_faults faults = {0};
    if (argc == 4) {
        faults.slow_every = atol(argv[2]);
        faults.slow_ms = atol(argv[3]);
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    fake_jung f;
    if (!fake_jung_start(&f, 0, &faults)) {
        fprintf(stderr, "fake_jung: cannot listen on 127.0.0.1\n");
        return 1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *out = fopen(tmp, "w");
    if (!out || fprintf(out, "%u\n", f.port) < 0 || fclose(out) != 0 || rename(tmp, argv[1]) != 0) {
        fprintf(stderr, "fake_jung: cannot write %s\n", argv[1]);
        fake_jung_stop(&f);
        return 1;
    }
    while (!stop)
        usleep(100000); /* a signal between the check and a pause() would be lost */
    fake_jung_stop(&f);
    return 0;
}
