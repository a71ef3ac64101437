/* jung-test-broker: a mock Kafka cluster with Jung's topics, printing
 * "bootstrap=HOST:PORT" and running until SIGINT/SIGTERM. For tests and for
 * running the services by hand; `jungbench broker` is the real command. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mock_broker.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int main(int argc, char **argv)
{
    int partitions = argc > 1 ? atoi(argv[1]) : 1;
    if (partitions < 1 || partitions > 64) {
        fprintf(stderr, "usage: jung-test-broker [PARTITIONS (1..64)]\n");
        return 2;
    }
    mock_broker mb;
    if (!mock_broker_start(&mb, partitions))
        return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("bootstrap=%s\n", mb.bootstrap);
    fflush(stdout);
    while (!stop_requested)
        pause();
    mock_broker_stop(&mb);
    return 0;
}
