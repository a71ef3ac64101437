/* stop.c - how a Jung service stops: one SIGTERM (or SIGINT) starts a
 * teardown that ends within a budget, whatever a library does meanwhile.
 *
 * The signal handler does only async-signal-safe things: it sets a flag,
 * stops the bus (an atomic store) and posts a semaphore. The first signal
 * starts the teardown; any later one is logged with write(2) and otherwise
 * ignored. SIGKILL is the only escalation, so a harness that repeats SIGTERM
 * never turns a clean stop into a kill, and a stop never depends on who
 * sent how many signals.
 *
 * The watchdog is a thread started with the service, asleep on that
 * semaphore (a thread cannot be created inside a signal handler). Once the
 * teardown starts, by a signal or because the service ends on its own, it
 * gives it budget_ms. If jung_stop_finished() has not been called by then,
 * it logs the phase the teardown was in (each step names itself with
 * jung_stop_phase) and leaves with JUNG_EXIT_STOP_TIMEOUT through _exit(),
 * which runs no atexit handler or library destructor that could block
 * again. A stuck stop is therefore visible (a log line and its own exit
 * status), never a hang of a test, a run or `jungbench up`.
 */
#include "jung/lib/jung.h"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STOP_WATCHDOG_STACK (64 * 1024)

typedef struct stop_state {
    sem_t begun;                 /* posted once, when the teardown starts */
    atomic_bool requested;       /* a stop signal arrived */
    atomic_bool teardown;        /* the teardown has started (signal or not) */
    atomic_bool finished;        /* jung_stop_finished() was called */
    _Atomic(jung_bus *) bus;     /* the bus a signal stops, once attached */
    _Atomic(const char *) phase; /* what the teardown waits for now */
    int budget_ms;
    char instance[128];
    /* Prebuilt, since a handler cannot format: */
    char first_line[200];  /* the stop begins */
    char repeat_line[200]; /* a later signal, ignored */
    size_t first_len, repeat_len;
    bool initialised;
} stop_state;

static stop_state stop;

/* Starts the teardown exactly once; async-signal-safe (an atomic exchange
 * and sem_post). */
static void begin_teardown(void)
{
    if (!atomic_exchange(&stop.teardown, true))
        sem_post(&stop.begun);
}

static void say(const char *line, size_t len)
{
    ssize_t n = write(STDOUT_FILENO, line, len);
    (void)n; /* nothing to do about a log that cannot be written */
}

static void on_stop_signal(int sig)
{
    (void)sig;
    if (atomic_exchange(&stop.requested, true)) {
        say(stop.repeat_line, stop.repeat_len);
        return;
    }
    say(stop.first_line, stop.first_len);
    jung_bus *bus = atomic_load(&stop.bus);
    if (bus)
        jung_bus_stop(bus);
    begin_teardown();
}

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void *watchdog(void *arg)
{
    (void)arg;
    while (sem_wait(&stop.begun) != 0)
        ; /* EINTR: a signal landed on this thread */
    long long deadline = monotonic_ms() + stop.budget_ms;
    const struct timespec nap = {0, 20 * 1000 * 1000};
    while (!atomic_load(&stop.finished) && monotonic_ms() < deadline)
        nanosleep(&nap, NULL);
    if (atomic_load(&stop.finished))
        return NULL;
    const char *phase = atomic_load(&stop.phase);
    jung_log("%s: stop budget of %d ms exceeded while %s; exiting with status %d", stop.instance,
             stop.budget_ms, phase ? phase : "stopping", JUNG_EXIT_STOP_TIMEOUT);
    _exit(JUNG_EXIT_STOP_TIMEOUT);
}

static size_t prebuild(char *line, size_t cap, const char *what)
{
    int n = snprintf(line, cap, "%s: %s\n", stop.instance, what);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

bool jung_stop_init(const char *instance, int budget_ms)
{
    if (stop.initialised)
        return true;
    stop.budget_ms = budget_ms > 0 ? budget_ms : JUNG_DEFAULT_STOP_BUDGET_MS;
    snprintf(stop.instance, sizeof stop.instance, "%s", instance ? instance : "jung");
    stop.first_len = prebuild(stop.first_line, sizeof stop.first_line, "stop signal: stopping");
    stop.repeat_len = prebuild(stop.repeat_line, sizeof stop.repeat_line,
                               "another stop signal while stopping: ignored (SIGKILL forces)");
    if (sem_init(&stop.begun, 0, 0) != 0)
        return false;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, STOP_WATCHDOG_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    bool ok = pthread_create(&thread, &attr, watchdog, NULL) == 0;
    pthread_attr_destroy(&attr);
    if (!ok)
        return false;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    stop.initialised = true;
    return true;
}

void jung_stop_attach(jung_bus *bus)
{
    atomic_store(&stop.bus, bus);
    /* A signal that came while the bus was being opened stops it now. */
    if (bus && atomic_load(&stop.requested))
        jung_bus_stop(bus);
}

bool jung_stop_requested(void)
{
    return atomic_load(&stop.requested);
}

void jung_stop_begin(const char *phase)
{
    jung_stop_phase(phase);
    /* From here on the caller owns the bus's end: a late signal must not
     * reach a bus that is being freed. */
    atomic_store(&stop.bus, NULL);
    if (stop.initialised)
        begin_teardown();
}

void jung_stop_phase(const char *phase)
{
    atomic_store(&stop.phase, phase);
}

void jung_stop_finished(void)
{
    atomic_store(&stop.finished, true);
}
