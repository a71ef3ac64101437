/* jung-bus-latency: request/reply latency of libjung's bus through an
 * in-process mock cluster, and the CPU the idle clients burn, for the
 * figures in docs/kafka-tuning.md (bench/jung-bus-latency runs it).
 *   jung-bus-latency [--brokers HOST:PORT] [-n CALLS] [-c CONCURRENT] [K=V ...]
 * K=V are librdkafka properties applied to every client (they override
 * libjung's defaults). Without --brokers a mock cluster is started here. */
#include "jung/lib/jung.h"
#include "mock_broker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static bool echo(void *ctx, jung_bus *bus, const jung_task *task, json_t **data, jung_error *err)
{
    *data = json_deep_copy(task->payload);
    return true;
}

static atomic_bool ready;
static void on_ready(void *arg)
{
    atomic_store(&ready, true);
}

static void *serve(void *bus)
{
    jung_error err;
    jung_bus_serve(bus, echo, NULL, &err);
    return NULL;
}

typedef struct caller {
    jung_bus *bus;
    int calls;
    double *lat;
    int errors;
} caller;

static void *run_calls(void *arg)
{
    caller *c = arg;
    for (int i = 0; i < c->calls; i++) {
        json_t *data = NULL;
        jung_error err;
        double t0 = now_ms();
        if (!jung_bus_call(c->bus, "test_echo", "ECHO", json_pack("{s:i}", "i", i), 5000, &data,
                           &err))
            c->errors++;
        c->lat[i] = now_ms() - t0;
        json_decref(data);
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *brokers = NULL;
    int calls = 200, conc = 1, np = 0;
    const char *props[32] = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
            brokers = argv[++i];
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            calls = atoi(argv[++i]);
        else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            conc = atoi(argv[++i]);
        else if (strchr(argv[i], '=') && np < 31)
            props[np++] = argv[i];
        else {
            fprintf(stderr,
                    "usage: jung-bus-latency [--brokers B] [-n CALLS] [-c CONC] [K=V...]\n");
            return 2;
        }
    }
    if (calls < 1 || conc < 1 || conc > 64)
        return 2;
    mock_broker mb = {0};
    if (!brokers) {
        if (!mock_broker_start(&mb, 1))
            return 1;
        brokers = mb.bootstrap;
    }
    jung_error err;
    jung_bus_config scfg = {.service = "test_echo",
                            .instance = "lat-echo",
                            .brokers = brokers,
                            .kafka_props = props,
                            .workers = 4};
    jung_bus_config ccfg = {.service = "lat_caller",
                            .instance = "lat-caller",
                            .brokers = brokers,
                            .kafka_props = props};
    jung_bus *server = jung_bus_open(&scfg, &err), *client = jung_bus_open(&ccfg, &err);
    if (!server || !client) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    jung_bus_on_ready(server, on_ready, NULL);
    pthread_t st;
    pthread_create(&st, NULL, serve, server);
    jung_bus_prepare_call(client, "test_echo", &err);
    while (!atomic_load(&ready))
        usleep(10000);
    sleep(1); /* let the reply consumer start fetching */

    /* The first call pays for the producer's topic metadata lookup and the
     * consumers' first fetches: reported apart, not in the percentiles. */
    for (int i = 0; i < 3; i++) {
        json_t *data = NULL;
        double w0 = now_ms();
        if (!jung_bus_call(client, "test_echo", "ECHO", json_object(), 5000, &data, &err))
            fprintf(stderr, "warm-up call failed: %s\n", err.message);
        printf("warm-up call %d: %.1f ms\n", i, now_ms() - w0);
        json_decref(data);
    }
    double c0 = cpu_ms(), t0 = now_ms();
    sleep(2);
    double idle_cpu = (cpu_ms() - c0) / (now_ms() - t0) * 100;

    caller cs[64];
    pthread_t ts[64];
    t0 = now_ms();
    for (int i = 0; i < conc; i++) {
        cs[i] = (caller){.bus = client, .calls = calls, .lat = calloc(calls, sizeof(double))};
        pthread_create(&ts[i], NULL, run_calls, &cs[i]);
    }
    int errors = 0;
    double *all = calloc((size_t)calls * conc, sizeof(double));
    for (int i = 0; i < conc; i++) {
        pthread_join(ts[i], NULL);
        memcpy(all + (size_t)i * calls, cs[i].lat, calls * sizeof(double));
        errors += cs[i].errors;
        free(cs[i].lat);
    }
    double elapsed = now_ms() - t0;
    size_t n = (size_t)calls * conc;
    qsort(all, n, sizeof(double), cmp);
    printf("calls=%zu concurrency=%d p50=%.2fms p99=%.2fms max=%.2fms rate=%.0f/s errors=%d "
           "idle_cpu=%.1f%%\n",
           n, conc, all[n / 2], all[n * 99 / 100], all[n - 1], n / elapsed * 1000, errors,
           idle_cpu);
    free(all);
    jung_bus_close(client);
    jung_bus_stop(server);
    pthread_join(st, NULL);
    jung_bus_close(server);
    if (mb.cluster)
        mock_broker_stop(&mb);
    return errors ? 1 : 0;
}
