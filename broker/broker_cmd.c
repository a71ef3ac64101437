/* broker_cmd.c - `jungbench broker`: the embedded Kafka broker as a process.
 *
 * Scripts and tests read the first stdout line (bootstrap=HOST:PORT) to
 * learn where to connect, so it is printed and flushed before anything
 * else goes to stdout; progress notes go to stderr. */
#include "broker/broker.h"
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const usage =
    "Usage: jungbench broker [--listen ADDR] [--advertise ADDR] [--port N] [--partitions N]\n"
    "\n"
    "Serves an in-memory Kafka broker (librdkafka's mock cluster) on 127.0.0.1\n"
    "(or --listen ADDR)\n"
    "with Jung's topics (<service>_tasks, <service>_results, controller, runner)\n"
    "already created. Prints 'bootstrap=ADDR:PORT' as the first line on\n"
    "stdout and runs until SIGINT or SIGTERM. Topics clients ask for that do not\n"
    "exist are auto-created with 4 partitions (the mock's fixed default).\n"
    "\n"
    "Options:\n"
    "  --listen ADDR   IPv4 address of this machine to listen on and advertise to\n"
    "                  clients (default 127.0.0.1; another host's runners need one\n"
    "                  they can reach, docs/multi-host.md)\n"
    "  --advertise ADDR the IPv4 address clients are told to connect to, when not\n"
    "                  the one listened on (needed with --listen 0.0.0.0)\n"
    "  --port N        TCP port (default 0: any free port)\n"
    "  --partitions N  partitions of each Jung topic (default 1)\n"
    "  -h, --help      show this help\n"
    "\n"
    "Exit status: 0 stopped by a signal, 1 the broker failed (e.g. port in use),\n"
    "2 bad arguments.\n";

typedef struct broker_args {
    const char *listen;
    const char *advertise;
    long port;
    long partitions;
} broker_args;

/* Returns -1 when the arguments are fine, else the exit code. */
static int parse_args(int argc, char **argv, broker_args *args)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"listen", required_argument, NULL, 'l'},
        {"advertise", required_argument, NULL, 'a'},
        {"partitions", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (!jb_parse_long("broker", "--port", optarg, 0, 65535, &args->port))
                return JB_EXIT_USAGE;
            break;
        case 'l':
            args->listen = optarg;
            break;
        case 'a':
            args->advertise = optarg;
            break;
        case 'n':
            if (!jb_parse_long("broker", "--partitions", optarg, 1, 10000, &args->partitions))
                return JB_EXIT_USAGE;
            break;
        case 'h':
            fputs(usage, stdout);
            return JB_EXIT_OK;
        case ':':
            return jb_usage_error("broker", "%s needs a value", argv[optind - 1]);
        default:
            return jb_usage_error("broker", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (args->advertise && strcmp(args->advertise, "0.0.0.0") == 0)
        return jb_usage_error("broker", "--advertise 0.0.0.0: clients cannot connect to it; name "
                                        "an address of this machine that they reach");
    if (args->listen && strcmp(args->listen, "0.0.0.0") == 0 && !args->advertise)
        return jb_usage_error("broker", "--listen 0.0.0.0 needs --advertise ADDR: the broker "
                                        "names that address to every client");
    if (optind < argc)
        return jb_usage_error("broker", "unexpected argument '%s' (the broker takes no operands)",
                              argv[optind]);
    return -1;
}

static void wait_for_stop_signal(void)
{
    const struct timespec tick = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
    while (!jb_stop_requested())
        nanosleep(&tick, NULL);
}

int broker_main(int argc, char **argv)
{
    broker_args args = {.port = 0, .partitions = 1};
    int rc = parse_args(argc, argv, &args);
    if (rc >= 0)
        return rc;
    jb_install_stop_handlers();

    jb_broker_options opts = {.port = (int)args.port,
                              .partitions = (int)args.partitions,
                              .listen_address = args.listen,
                              .advertise_address = args.advertise};
    char err[512];
    jb_broker *broker = jb_broker_start(&opts, err, sizeof err);
    if (!broker)
        return jb_fail("broker", "%s", err);

    printf("bootstrap=%s\n", jb_broker_bootstrap(broker));
    fflush(stdout);
    const char *library;
    const char *build = jb_broker_mock_build(&library);
    fprintf(stderr,
            "jungbench broker: serving on %s (%ld partition(s) per Jung topic), %s mock "
            "cluster from %s; Ctrl-C stops\n",
            jb_broker_bootstrap(broker), args.partitions, build, library);

    wait_for_stop_signal();
    jb_broker_stop(broker);
    fprintf(stderr, "jungbench broker: stopped\n");
    return JB_EXIT_OK;
}
