/* child.c - a process with known behaviour, the ground truth for the
 * metrics tests.
 *
 *   child burn FRACTION SECONDS  use FRACTION of one core for SECONDS
 *   child hold MIB SECONDS       hold MIB MiB of touched memory
 *   child sleep SECONDS          idle, then exit 0
 *
 * Each prints "ready" on stdout once in its steady state. The burn is
 * self-timed on its own CPU clock: in each 20 ms slot it spins until its
 * CPU time since the start reaches FRACTION of the wall time so far, then
 * sleeps to the slot's end; on a loaded machine it gets less, and the tests
 * read its CPU clock to know how much. */
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

static int burn(double fraction, double seconds)
{
    const double slot = 0.020;
    /* on a busy shared box, ask for our half core first (works as root,
     * harmless otherwise: the tests read our CPU clock either way) */
    if (setpriority(PRIO_PROCESS, 0, -10) != 0) {
    }
    double start = clock_s(CLOCK_MONOTONIC), cpu_start = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    ready();
    for (double slot_end = start + slot; slot_end - start <= seconds; slot_end += slot) {
        /* spin until the CPU used since the start reaches FRACTION of the
         * wall time to this slot's end, but never past the slot's end: a
         * starved child catches up at most one slot at a time */
        double target = fraction * (slot_end - start);
        while (clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu_start < target &&
               clock_s(CLOCK_MONOTONIC) < slot_end) {
        }
        sleep_until(slot_end);
    }
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
    if (argc == 4 && strcmp(argv[1], "burn") == 0)
        return burn(atof(argv[2]), atof(argv[3]));
    if (argc == 4 && strcmp(argv[1], "hold") == 0)
        return hold(atol(argv[2]), atof(argv[3]));
    if (argc == 3 && strcmp(argv[1], "sleep") == 0) {
        ready();
        sleep_until(clock_s(CLOCK_MONOTONIC) + atof(argv[2]));
        return 0;
    }
    fprintf(stderr, "usage: child burn FRACTION SECONDS | hold MIB SECONDS | sleep SECONDS\n");
    return 2;
}
