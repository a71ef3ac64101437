/* run_cmd.c - `jungbench run` and `jungbench controller` (controller.h). */
#include "controller/controller.h"

#include "broker/broker.h"
#include "cli/cli.h"
#include "metrics/metrics.h"
#include "broker/spare.h"
#include "runner/runner.h"

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct cmd_args {
    const char *cmd;
    const char *config;
    const char *out;
    const char *resume;
    const char *broker; /* controller: overrides the config's */
    const char *bin_dir;
    bool quiet, verbose;
} cmd_args;

static void usage(FILE *out, bool run)
{
    if (run)
        fprintf(out,
                "Usage: jungbench run CONFIG [--out DIR] [--resume RUN_ID]\n\n"
                "Runs the experiment CONFIG describes (docs/config.md): for each platform and\n"
                "iteration, boots Jung, drives the load, samples CPU and memory, tears down.\n"
                "Starts the embedded broker (broker: embedded) and a runner in this process;\n"
                "the controller talks to it over Kafka exactly as to a remote runner.\n"
                "Results go to OUT/<run-id>/ (results.db, config.json, environment.json).\n\n");
    else
        fprintf(out, "Usage: jungbench controller CONFIG [--broker HOST:PORT] [--out DIR] "
                     "[--resume RUN_ID]\n\n"
                     "Drives `jungbench runner` processes (on this or other machines) through the\n"
                     "broker: the same loop as `jungbench run` without a local broker or runner.\n"
                     "The config's broker must be external, or given with --broker.\n\n");
    fprintf(out,
            "Options:\n"
            "  --out DIR          results root (default: the config's 'output', results)\n"
            "  --resume RUN_ID    continue an interrupted run after its last finished\n"
            "                     iteration (same CONFIG and --out)\n"
            "%s"
            "  -q, --quiet        no progress lines or summary\n"
            "  -h, --help         this help\n\n"
            "Ctrl-C stops the iteration in flight, tears the platform down, keeps every\n"
            "finished iteration and prints the --resume command.\n"
            "The config's 'thresholds' (docs/config.md) are checked at the end, each shown as\n"
            "pass or FAIL; a breached one is named on stderr.\n"
            "Exit status: 0 when every iteration finished and every threshold passed, 1 when\n"
            "one failed, the run was interrupted or a threshold was breached, 2 on usage\n"
            "errors (including an invalid CONFIG).\n",
            run ? "  --bin-dir DIR      where the jung-* executables are (process platform)\n"
                  "  -v, --verbose      also print the runner's log lines\n"
                : "  --broker HOST:PORT Kafka bootstrap servers (overrides the config)\n");
}

static int parse_args(int argc, char **argv, bool run, cmd_args *a)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},    {"resume", required_argument, NULL, 'r'},
        {"broker", required_argument, NULL, 'b'}, {"bin-dir", required_argument, NULL, 'd'},
        {"quiet", no_argument, NULL, 'q'},        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    *a = (cmd_args){.cmd = run ? "run" : "controller"};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":qvh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            a->out = optarg;
            break;
        case 'r':
            a->resume = optarg;
            break;
        case 'b':
            if (run)
                return jb_usage_error(a->cmd, "--broker is for `jungbench controller`; set "
                                              "'broker' in the config instead");
            a->broker = optarg;
            break;
        case 'd':
            if (!run)
                return jb_usage_error(a->cmd, "--bin-dir is a runner option");
            a->bin_dir = optarg;
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'v':
            a->verbose = true;
            break;
        case 'h':
            usage(stdout, run);
            return JB_EXIT_OK;
        case ':':
            return jb_usage_error(a->cmd, "option '%s' needs a value", argv[optind - 1]);
        default:
            return jb_usage_error(a->cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return jb_usage_error(a->cmd,
                              optind == argc ? "missing CONFIG (e.g. configs/quickstart.yaml)"
                                             : "expected one CONFIG, got %d arguments",
                              argc - optind);
    a->config = argv[optind];
    if (a->resume && (!a->resume[0] || strchr(a->resume, '/') || strlen(a->resume) >= 64))
        return jb_usage_error(a->cmd,
                              "--resume '%s': expected a run id such as "
                              "quickstart-20261126-231500 (the folder name under --out)",
                              a->resume);
    return -1;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char buf[8192];
    size_t n;
    while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, mem);
    if (mem)
        fclose(mem);
    fclose(f);
    return text;
}

/* Loads and validates CONFIG; usage error (2) when it is invalid. */
static int load_config(const cmd_args *a, unsigned flags, jb_config *cfg, char **text)
{
    char err[8192]; /* every error of the file, one a line */
    if (!jb_config_load(a->config, flags, cfg, err, sizeof err))
        return jb_usage_error(a->cmd, "%s", err);
    *text = read_text(a->config);
    if (!*text)
        return jb_fail(a->cmd, "cannot read %s", a->config);
    return -1;
}

/* ---- jungbench controller --------------------------------------------------------- */

int controller_main(int argc, char **argv)
{
    cmd_args a;
    int rc = parse_args(argc, argv, false, &a);
    if (rc >= 0)
        return rc;
    jb_config *cfg = malloc(sizeof *cfg);
    char *text = NULL;
    if (!cfg)
        return jb_fail(a.cmd, "out of memory");
    rc = load_config(&a, 0, cfg, &text); /* image files are the runner's to check */
    if (rc < 0 && cfg->broker.embedded && !a.broker)
        rc = jb_usage_error(a.cmd,
                            "%s says 'broker: embedded', which only `jungbench run` "
                            "starts: pass --broker HOST:PORT of the broker the runners use",
                            a.config);
    if (rc < 0) {
        const char *brokers = a.broker ? a.broker : cfg->broker.bootstrap;
        jb_controller_options o = {.cfg = cfg,
                                   .config_text = text,
                                   .brokers = brokers,
                                   .out_root = a.out ? a.out : cfg->output,
                                   .resume_run_id = a.resume,
                                   .broker_desc = brokers,
                                   .quiet = a.quiet};
        jb_install_stop_handlers();
        rc = jb_controller_run(&o);
    }
    free(text);
    free(cfg);
    return rc;
}

/* ---- jungbench run ------------------------------------------------------------------ */

typedef struct local_runner {
    jb_runner_options opts;
    pthread_t thread;
    bool started;
    atomic_bool listening, done, stop;
    int rc;
} local_runner;

static bool local_should_stop(void *ctx)
{
    return atomic_load(&((local_runner *)ctx)->stop);
}

static void local_listening(void *ctx)
{
    atomic_store(&((local_runner *)ctx)->listening, true);
}

static void *local_runner_main(void *arg)
{
    local_runner *lr = arg;
    lr->rc = jb_runner_serve(&lr->opts);
    atomic_store(&lr->done, true);
    return NULL;
}

/* Starts the runner thread and waits until it reads its topic, so the
 * controller's first RUN is not sent into the void. */
static bool start_local_runner(local_runner *lr, const jb_config *cfg, const char *brokers,
                               const cmd_args *a, jb_broker_spare *spare)
{
    lr->opts = (jb_runner_options){.brokers = brokers,
                                   .props = cfg->broker.properties,
                                   .nprops = cfg->broker.nproperties,
                                   .id = cfg->runner.id,
                                   .bin_dir = a->bin_dir,
                                   .heartbeat_ms = 1000,
                                   .quiet = !a->verbose,
                                   .should_stop = local_should_stop,
                                   .ignore_stop_signal = true,
                                   .stop_ctx = lr,
                                   .on_listening = local_listening,
                                   .listening_ctx = lr,
                                   .spare = spare};
    if (pthread_create(&lr->thread, NULL, local_runner_main, lr) != 0)
        return false;
    lr->started = true;
    while (!atomic_load(&lr->listening) && !atomic_load(&lr->done))
        usleep(10 * 1000);
    return atomic_load(&lr->listening);
}

/* On a shared broker another `jungbench run` has an in-process runner of
 * the same name, and each would boot the other's RUNs. Ours takes
 * "<runner.id>.<pid>", and so do the platforms that name it (explicitly or
 * by default): only this controller addresses it. */
static void unique_local_runner_id(jb_config *cfg)
{
    char id[sizeof cfg->runner.id];
    snprintf(id, sizeof id, "%.*s.%ld", (int)(sizeof id - 24), cfg->runner.id, (long)getpid());
    for (size_t i = 0; i < cfg->nplatforms; i++) /* `runner: local` names ours too */
        if (strcmp(cfg->platforms[i].runner, cfg->runner.id) == 0)
            memcpy(cfg->platforms[i].runner, id, sizeof id);
    memcpy(cfg->runner.id, id, sizeof id);
}

static void stop_local_runner(local_runner *lr)
{
    atomic_store(&lr->stop, true);
    pthread_join(lr->thread, NULL);
}

static int run_with_broker(const cmd_args *a, const jb_config *cfg, const char *text,
                           const char *brokers, const char *broker_desc, jb_broker_spare *spare)
{
    local_runner *lr = calloc(1, sizeof *lr);
    if (!lr)
        return jb_fail(a->cmd, "out of memory");
    int rc = JB_EXIT_FAIL;
    if (start_local_runner(lr, cfg, brokers, a, spare)) {
        jb_controller_options o = {.cfg = cfg,
                                   .config_text = text,
                                   .brokers = brokers,
                                   .out_root = a->out ? a->out : cfg->output,
                                   .resume_run_id = a->resume,
                                   .broker_desc = broker_desc,
                                   .quiet = a->quiet};
        rc = jb_controller_run(&o);
        stop_local_runner(lr);
    } else {
        if (lr->started)
            pthread_join(lr->thread, NULL);
        jb_fail(a->cmd, "the local runner could not start (see above)");
    }
    free(lr);
    return rc;
}

int run_main(int argc, char **argv)
{
    cmd_args a;
    int rc = parse_args(argc, argv, true, &a);
    if (rc >= 0)
        return rc;
    jb_config *cfg = malloc(sizeof *cfg);
    char *text = NULL;
    if (!cfg)
        return jb_fail(a.cmd, "out of memory");
    rc = load_config(&a, JB_CONFIG_CHECK_FILES, cfg, &text);
    if (rc < 0 && a.resume && jb_controller_run_in_use(a.out ? a.out : cfg->output, a.resume))
        rc = jb_fail(a.cmd,
                     "run %s is in use by another jungbench (%s/%s/lock is locked); wait for it "
                     "or stop it first",
                     a.resume, a.out ? a.out : cfg->output, a.resume);
    if (rc < 0) {
        /* Noise guard: other work on this machine shows up in every figure. */
        char why[256];
        if (jb_machine_busy(500, why, sizeof why))
            fprintf(stderr,
                    "jungbench run: warning: the machine is not idle (%s): other work adds "
                    "noise to every figure; each iteration's load is in iteration_load and the "
                    "report flags busy iterations\n",
                    why);
        jb_install_stop_handlers();
        jb_broker_spare spare; /* the services' first broker starts with ours */
        jb_broker_spare_init(&spare);
        if (cfg->broker.embedded) {
            jb_broker_spare_prefill(&spare);
            char err[512], desc[128];
            jb_broker_options bo = {0};
            jb_broker *broker = jb_broker_start(&bo, err, sizeof err);
            if (!broker) {
                rc = jb_fail(a.cmd, "cannot start the embedded broker: %s", err);
            } else {
                snprintf(desc, sizeof desc, "embedded (librdkafka %s mock cluster, %s) at %s",
                         rd_kafka_version_str(), jb_broker_mock_build(NULL),
                         jb_broker_bootstrap(broker));
                rc = run_with_broker(&a, cfg, text, jb_broker_bootstrap(broker), desc, &spare);
                jb_broker_stop(broker);
            }
        } else {
            unique_local_runner_id(cfg);
            rc = run_with_broker(&a, cfg, text, cfg->broker.bootstrap, cfg->broker.bootstrap,
                                 &spare);
        }
        jb_broker_spare_destroy(&spare);
    }
    free(text);
    free(cfg);
    return rc;
}
