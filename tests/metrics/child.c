/* child.c - a process with known behaviour, the ground truth for the
 * metrics tests.
 *
 *   child burn FRACTION SECONDS [THREADS]  use FRACTION of one core for
 *                                SECONDS, over THREADS threads
 *   child hold MIB SECONDS       hold MIB MiB of touched memory
 *   child sleep SECONDS          idle, then exit 0
 *
 * Each prints "ready" on stdout once in its steady state. The burn is
 * self-timed on each thread's CPU clock: in each 20 ms slot it spins until
 * the thread's CPU time since the start reaches its share of the wall time
 * so far, then sleeps to the slot's end; on a loaded machine it gets less,
 * and the tests read its CPU clock to know how much. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

static void ready(void)
{
    printf("ready\n");
    fflush(stdout);
}

typedef struct burn_job {
    double fraction, seconds, start;
} burn_job;

/* Spins until this thread's CPU time since the start reaches FRACTION of the
 * wall time to the current slot's end, but never past the slot's end (a
 * starved thread catches up at most one slot at a time), then sleeps. */
static void *burn_thread(void *arg)
{
    const burn_job *job = arg;
    const double slot = 0.020;
    double cpu_start = clock_s(CLOCK_THREAD_CPUTIME_ID);
    for (double slot_end = job->start + slot; slot_end - job->start <= job->seconds;
         slot_end += slot) {
        double target = job->fraction * (slot_end - job->start);
        while (clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu_start < target &&
               clock_s(CLOCK_MONOTONIC) < slot_end) {
        }
        sleep_until(slot_end);
    }
    return NULL;
}

/* FRACTION of one core in total, spread over THREADS threads (a VM's QEMU
 * process is many threads: all of them must count). */
static int burn(double fraction, double seconds, int threads)
{
    /* on a busy shared box, ask for our share first (works as root, harmless
     * otherwise: the tests read our CPU clock either way); threads inherit */
    if (setpriority(PRIO_PROCESS, 0, -10) != 0) {
    }
    if (threads < 1 || threads > 16)
        return 2;
    burn_job job = {fraction / threads, seconds, clock_s(CLOCK_MONOTONIC)};
    pthread_t tid[16];
    for (int i = 1; i < threads; i++)
        if (pthread_create(&tid[i], NULL, burn_thread, &job) != 0)
            return 1;
    ready();
    burn_thread(&job);
    for (int i = 1; i < threads; i++)
        pthread_join(tid[i], NULL);
    return 0;
}

static int hold(long mib, double seconds)
{
    size_t bytes = (size_t)mib << 20;
    if (bytes) {
        /* mmap, not malloc: no allocator (or sanitizer) bookkeeping on top */
        volatile char *p =
            mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        long page = sysconf(_SC_PAGESIZE);
        for (size_t i = 0; i < bytes; i += (size_t)page)
            p[i] = 1;
    }
    ready();
    sleep_until(clock_s(CLOCK_MONOTONIC) + seconds);
    return 0;
}

int main(int argc, char **argv)
{
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "burn") == 0)
        return burn(atof(argv[2]), atof(argv[3]), argc == 5 ? atoi(argv[4]) : 1);
    if (argc == 4 && strcmp(argv[1], "hold") == 0)
        return hold(atol(argv[2]), atof(argv[3]));
    if (argc == 3 && strcmp(argv[1], "sleep") == 0) {
        ready();
        sleep_until(clock_s(CLOCK_MONOTONIC) + atof(argv[2]));
        return 0;
    }
    fprintf(stderr,
            "usage: child burn FRACTION SECONDS [THREADS] | hold MIB SECONDS | sleep SECONDS\n");
    return 2;
}
