/* main.c - the jungbench executable: one binary, one subcommand per job.
 *
 * It sits above every module: each command NAME is `int NAME_main(int argc,
 * char **argv)`, declared in its module's public header and defined in
 * <module>/NAME_cmd.c. This table is the only place that knows them all,
 * and no module includes this file. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* Module entry points, one include per module. */
#include "platforms/platform.h"
#include "provision/provision.h"
#include "runner/runner.h"
#include "controller/controller.h"
#include "metrics/metrics.h"
#include "broker/broker.h"
#include "report/report.h"
#include "loadgen/loadgen.h"

static const jb_command commands[] = {
    /* {"name", "one-line summary", name_main} */
    {"images", "build and list Docker (FROM scratch) and microVM images of the services",
     images_main},
    {"doctor", "check each platform here: what works, what is missing and how to fix it",
     doctor_main},
    {"provision", "start N instances at once per platform and time until all are ready",
     provision_main},
    {"up", "start Jung on native processes and keep it up until Ctrl-C", up_main},
    {"run", "run an experiment (configs/*.yaml): every platform x iteration, resumable", run_main},
    {"controller", "drive remote `jungbench runner`s through a Kafka broker", controller_main},
    {"runner", "serve a controller: boot Jung on RUN, sample it, tear down on STOP", runner_main},
    {"metrics", "sample CPU and memory of processes, containers, VMs and runtime daemons",
     metrics_main},
    {"broker", "embedded Kafka broker (librdkafka mock cluster) on 127.0.0.1", broker_main},
    {"topics", "create Jung's Kafka topics on a real Kafka cluster (idempotent)", topics_main},
    {"report", "tables, charts, CSV/JSON/HTML and JMeter JTL of a run", report_main},
    {"compare", "regression gate: compare two runs, exit 1 on a significant regression",
     compare_main},
    {"loadgen", "drive Jung's REST API with the dissertation's request mix", loadgen_main},
    {NULL, NULL, NULL},
};

static void print_help(FILE *out)
{
    fprintf(out, "Usage: jungbench COMMAND [ARGS...]\n\n"
                 "A benchmark harness for the Jung IoT platform on native processes,\n"
                 "Docker containers and KVM guests (OSv, Linux microVMs).\n\n"
                 "Commands:\n");
    for (const jb_command *c = commands; c->name; c++)
        fprintf(out, "  %-12s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'jungbench COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return JB_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        print_help(stdout);
        return JB_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("jungbench %s\n", JB_VERSION);
        return JB_EXIT_OK;
    }
    for (const jb_command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "jungbench: unknown command '%s'\n", name);
    print_help(stderr);
    return JB_EXIT_USAGE;
}
