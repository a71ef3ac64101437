/* test_config.c - experiment files: the shipped ones load, defaults match the
 * dissertation, and each kind of mistake gets its exact message. */
#include "config/config.h"
#include "../testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static jb_config *cfg;

static bool parse(const char *text, char *err, size_t errlen)
{
    return jb_config_parse("t.yaml", text, strlen(text), 0, cfg, err, errlen);
}

/* The workload's mix, in the file's order, is exactly "label=count,...". */
static bool mix_is(const jb_config_workload *w, const char *want)
{
    char got[256] = "";
    for (size_t i = 0; i < w->nmix; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s=%ld", i ? "," : "",
                 w->mix[i].label, w->mix[i].count);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "mix: got '%s', want '%s'\n", got, want);
    return strcmp(got, want) == 0;
}

/* The text must fail with exactly this message. */
static void expect_error(const char *text, const char *message)
{
    char err[1024] = "";
    bool ok = parse(text, err, sizeof err);
    if (ok || strcmp(err, message) != 0) {
        fprintf(stderr, "for:\n%s\nexpected: %s\n     got: %s\n", text, message,
                ok ? "(success)" : err);
        failures++;
    }
}

static void test_defaults(void)
{
    char err[512];
    CHECK(parse("name: x\nplatforms: [{name: p, driver: process}]\n", err, sizeof err));
    CHECK(cfg->iterations == 30);
    CHECK(cfg->broker.embedded);
    CHECK(cfg->nservices == 8 && cfg->services[7].replicas == 1);
    CHECK(strcmp(cfg->services[7].name, "api_gateway") == 0);
    CHECK(cfg->workload.users == 30 && cfg->workload.devices_per_user == 30);
    CHECK(cfg->workload.rules_per_device == 1 && cfg->workload.requests_per_user == 500);
    CHECK(mix_is(&cfg->workload, "get_user=25,get_device=25,get_readings=225,post_command=225"));
    CHECK(strcmp(cfg->workload.model, "closed") == 0);
    CHECK(strcmp(cfg->output, "results") == 0);
    CHECK(strcmp(cfg->runner.id, "local") == 0);
    CHECK(!cfg->stop_on_failure);
    /* every platform runs what this build tree makes, the same for all */
    CHECK(strcmp(cfg->platforms[0].build, jb_config_default_build()) == 0);
    CHECK(parse("name: x\nplatforms: [{name: p, driver: process, build: dynamic}, {name: d, "
                "driver: docker, build: static}]\n",
                err, sizeof err));
    CHECK(strcmp(cfg->platforms[0].build, "dynamic") == 0);
    CHECK(strcmp(cfg->platforms[1].build, "static") == 0);
}

static void test_full(void)
{
    char err[512];
    const char *text = "name: full\n"
                       "iterations: 4\n"
                       "on_failure: stop\n"
                       "broker: {bootstrap: '127.0.0.1:9092', properties: {linger.ms: 0}}\n"
                       "services: [user_registry, {name: rule_engine, replicas: 2}]\n"
                       "platforms:\n"
                       "  - {name: d, driver: docker, vcpus: 1.5, network: bridge}\n"
                       "  - {name: v, driver: libvirt, vcpus: 2, accel: emulated,\n"
                       "     image: osv, osv: {kernel: /k, disk: '/d-{service}.img'}}\n"
                       "workload: {model: open, rate: 200, mix: {post_command: 3, get_user: 1},"
                       " shuffle: yes, seed: 7}\n"
                       "metrics: {interval_ms: 100, runtime_daemons: false}\n"
                       "runner: {id: lab-1, ready_timeout_ms: 5000, parallel: yes}\n";
    CHECK(parse(text, err, sizeof err));
    CHECK(cfg->runner.parallel);
    CHECK(cfg->iterations == 4 && cfg->stop_on_failure);
    CHECK(!cfg->broker.embedded && strcmp(cfg->broker.bootstrap, "127.0.0.1:9092") == 0);
    char props[256];
    jb_config_props_spec(&cfg->broker, props, sizeof props);
    CHECK(strcmp(props, "linger.ms=0") == 0);
    CHECK(cfg->nservices == 2 && cfg->services[1].replicas == 2);
    CHECK(cfg->nplatforms == 2 && cfg->platforms[0].vcpus == 1.5);
    CHECK(strcmp(cfg->platforms[0].network, "bridge") == 0);
    CHECK(cfg->platforms[1].line == 8);
    CHECK(strcmp(cfg->platforms[1].osv_disk, "/d-{service}.img") == 0);
    CHECK(mix_is(&cfg->workload, "post_command=3,get_user=1"));
    CHECK(cfg->workload.rate == 200 && cfg->workload.shuffle && cfg->workload.seed == 7);
    CHECK(jb_config_platform_named(cfg, "v") == &cfg->platforms[1]);
    CHECK(jb_config_platform_named(cfg, "nope") == NULL);
    char *json = jb_config_to_json(cfg);
    CHECK(json && strstr(json, "\"kernel\": \"/k\"") && strstr(json, "\"rate\": 200"));
    CHECK(strstr(json, "\"parallel\": true"));
    free(json);
    /* osv: {kernel} is enough: the disks are those `images build osv` writes */
    const char *kernel_only = "name: k\nplatforms: [{name: v, driver: libvirt, image: osv,\n"
                              "  image_dir: /img, osv: {kernel: /k}}]\n";
    CHECK(parse(kernel_only, err, sizeof err));
    CHECK(strcmp(cfg->platforms[0].osv_disk, "/img/osv/{service}.img") == 0);
    CHECK(strcmp(cfg->platforms[0].osv_cmdline, "--rootfs=rofs /jung-{service} {args}") == 0);
}

static void test_errors(void)
{
    const char *P = "platforms: [{name: p, driver: process}]\n";
    char text[1024];
    snprintf(text, sizeof text, "name: x\niteratons: 3\n%s", P);
    expect_error(text, "t.yaml:2:1: unknown key 'iteratons' in experiment (did you mean "
                       "'iterations'?); valid keys: name, description, iterations, on_failure, "
                       "broker, platforms, services, workload, metrics, jung, runner, output, "
                       "thresholds");
    snprintf(text, sizeof text, "name: x\niterations: many\n%s", P);
    expect_error(text, "t.yaml:2:13: 'iterations' must be a whole number from 1 to 100000, not "
                       "'many'");
    snprintf(text, sizeof text, "name: x\niterations: 0\n%s", P);
    expect_error(text, "t.yaml:2:13: 'iterations' is 0, out of range: use 1 to 100000");
    expect_error("name: t\nplatforms: [{name: a, driver: process}]\nrunner: {parallel: maybe}\n",
                 "t.yaml:3:20: 'parallel' must be true or false, not 'maybe'");
    snprintf(text, sizeof text, "name: x\niterations: '3'\n%s", P);
    expect_error(text, "t.yaml:2:13: 'iterations' must be a whole number from 1 to 100000, not "
                       "a quoted string");
    expect_error("name: x\n", "t.yaml:1:1: experiment is missing required key 'platforms' "
                              "(e.g. platforms: [{name: native, driver: process}])");
    expect_error("name: x\nplatforms: [{name: p, driver: dokker}]\n",
                 "t.yaml:2:31: 'driver' is 'dokker' (did you mean 'docker'?); valid values: "
                 "process, docker, libvirt");
    expect_error("name: x\nplatforms: [{name: p, driver: process, vcpus: 2}]\n",
                 "t.yaml:2:40: key 'vcpus' applies to driver docker and libvirt only, not to "
                 "driver 'process'");
    expect_error("name: x\nplatforms:\n  - {name: p, driver: process}\n  - {name: p, driver: "
                 "docker}\n",
                 "t.yaml:4:12: platform name 'p' is used twice (line 3): names must be unique");
    expect_error("name: x\nplatforms: [{name: v, driver: libvirt, image: osv}]\n",
                 "t.yaml:2:13: platform 'v' has 'image: osv' but no 'osv' settings (e.g. osv: "
                 "{kernel: /var/lib/jungbench/images/osv/kernel.elf})");
    /* the flat keys of older docs are pointed at their place under 'osv:' */
    expect_error(
        "name: x\nplatforms: [{name: v, driver: libvirt, osv_kernel: /k}]\n",
        "t.yaml:2:40: unknown key 'osv_kernel' in platform (OSv settings go under "
        "'osv:', e.g. osv: {kernel: ...}); valid keys: name, driver, vcpus, memory_mb, "
        "stop_grace_ms, ready_timeout_ms, bin_dir, build, network, image_tag, docker_socket, "
        "image, accel, libvirt_uri, image_dir, osv, runner");
    snprintf(text, sizeof text, "name: x\n%sservices: [user_registy]\n", P);
    expect_error(text, "t.yaml:3:12: unknown service 'user_registy' (did you mean "
                       "'user_registry'?); valid services: auth_manager, user_registry, "
                       "device_registry, device_monitor, device_commander, rule_engine, "
                       "device_gateway, api_gateway");
    snprintf(text, sizeof text, "name: x\n%sworkload: {model: open}\n", P);
    expect_error(text, "t.yaml:3:11: 'model: open' needs 'rate' (requests per second, > 0)");
    snprintf(text, sizeof text, "name: x\n%sworkload: {mix: {get_user: 0}}\n", P);
    expect_error(text, "t.yaml:3:17: 'mix' sums to 0 requests: give at least one kind a count");
    snprintf(text, sizeof text, "name: x\n%smetrics: {runtime_daemons: maybe}\n", P);
    expect_error(text, "t.yaml:3:28: 'runtime_daemons' must be true or false, not 'maybe'");
    snprintf(text, sizeof text, "name: x\n%sbroker: kafka\n", P);
    expect_error(text, "t.yaml:3:9: 'broker' is 'kafka': use 'embedded' or a mapping "
                       "{bootstrap: HOST:PORT, properties: {...}}");
    snprintf(text, sizeof text, "name: 'a b'\n%s", P);
    expect_error(text, "t.yaml:1:7: 'name' is 'a b': use only letters, digits, '_', '-' and '.'");
    snprintf(text, sizeof text, "name: x\nname: y\n%s", P);
    expect_error(text, "t.yaml:2:1: key 'name' appears twice in experiment");
    expect_error("name: x\nplatforms: [{name: p, driver: process, build: musl}]\n",
                 "t.yaml:2:47: 'build' is 'musl'; valid values: static, dynamic");
    expect_error("name: x\nplatforms: {name: p}\n",
                 "t.yaml:2:12: 'platforms' must be a list, not a mapping (e.g. [{name: native, "
                 "driver: process}])");
    expect_error("name: [x\n", "t.yaml:2:1: not valid YAML: did not find expected ',' or ']' "
                               "while parsing a flow sequence");
    /* Deep nesting is refused at the first level past the limit, so libyaml's
     * quadratic load never sees it: 200,000 '[' (400 KB) answer at once. */
    size_t deep_n = 200000;
    char *deep = malloc(2 * deep_n + 64);
    strcpy(deep, "name: x\nplatforms: ");
    size_t off = strlen(deep);
    memset(deep + off, '[', deep_n);
    memset(deep + off + deep_n, ']', deep_n);
    deep[off + 2 * deep_n] = '\0';
    expect_error(deep, "t.yaml:2:43: nested deeper than 32 levels (an experiment needs at most 4: "
                       "platforms, a platform, its osv settings, a list)");
    free(deep);
    expect_error("", "t.yaml:1:1: the file is empty; an experiment needs at least 'name' and "
                     "'platforms'");
}

/* thresholds: each platform, one platform, one label, a label on one
 * platform; their shape and limits checked at their spot in the file. */
static void test_thresholds(void)
{
    char err[512];
    const char *text = "name: t\n"
                       "platforms: [{name: a, driver: process}, {name: b, driver: process}]\n"
                       "thresholds:\n"
                       "  p95_ms: '< 50'\n"
                       "  error_rate: '<= 0.1%'\n"
                       "  platforms:\n"
                       "    b: {throughput_rps: '> 1000', labels: {get_user: {p99_ms: '<80ms'}}}\n"
                       "  labels: {post_command: {avg_ms: '>= 1'}}\n";
    CHECK(parse(text, err, sizeof err));
    CHECK(cfg->nthresholds == 5);
    const jb_config_threshold *t = cfg->thresholds;
    CHECK(strcmp(t[0].metric, "p95_ms") == 0 && strcmp(t[0].op, "<") == 0 && t[0].value == 50);
    CHECK(!t[0].platform[0] && !t[0].label[0]);
    CHECK(strcmp(t[1].op, "<=") == 0 && t[1].value == 0.1);
    CHECK(strcmp(t[2].platform, "b") == 0 && strcmp(t[2].op, ">") == 0 && t[2].value == 1000);
    CHECK(strcmp(t[3].platform, "b") == 0 && strcmp(t[3].label, "get_user") == 0);
    CHECK(!t[4].platform[0] && strcmp(t[4].label, "post_command") == 0);
    char *json = jb_config_to_json(cfg);
    CHECK(json && strstr(json, "\"label\": \"get_user\""));
    free(json);
    /* no thresholds, no key: older runs' configs stay equal (--resume) */
    CHECK(parse("name: x\nplatforms: [{name: p, driver: process}]\n", err, sizeof err));
    json = jb_config_to_json(cfg);
    CHECK(json && !strstr(json, "thresholds"));
    free(json);
    const char *head = "name: x\nplatforms: [{name: p, driver: process}]\n";
    char bad[512];
    snprintf(bad, sizeof bad, "%sthresholds: {p95_ms: '50'}\n", head);
    expect_error(bad, "t.yaml:3:22: threshold 'p95_ms' is '50': write an operator (<, <=, >, >=) "
                      "and a number, quoted, e.g. \"< 50\"");
    snprintf(bad, sizeof bad, "%sthresholds: {p59_ms: '< 5'}\n", head);
    expect_error(bad, "t.yaml:3:14: unknown key 'p59_ms' in thresholds (did you mean 'p50_ms'?); "
                      "valid keys: avg_ms, max_ms, p50_ms, p90_ms, p95_ms, p99_ms, error_rate, "
                      "throughput_rps, cpu_pct, cpu_per_1k_req, memory_mib, total_memory_mib, "
                      "ready_ms, platforms, labels");
    snprintf(bad, sizeof bad, "%sthresholds: {platforms: {docker: {p95_ms: '< 5'}}}\n", head);
    expect_error(bad, "t.yaml:3:26: unknown key 'docker' in thresholds.platforms (platform names); "
                      "valid keys: p");
    snprintf(bad, sizeof bad, "%sthresholds: {throughput_rps: '> 10 ms'}\n", head);
    expect_error(bad, "t.yaml:3:30: threshold 'throughput_rps' is '> 10 ms': 'throughput_rps' "
                      "takes no unit after the number");
    snprintf(bad, sizeof bad, "%sthresholds: {error_rate: '< 1 ms'}\n", head);
    expect_error(bad, "t.yaml:3:26: threshold 'error_rate' is '< 1 ms': its unit is '%', not 'ms'");
    snprintf(bad, sizeof bad,
             "%sworkload: {mix: {get_user: 1}}\nthresholds: {labels: {get_device: {}}}\n", head);
    expect_error(bad, "t.yaml:4:23: threshold label 'get_device' gets no requests: workload.mix "
                      "gives it none");
    snprintf(bad, sizeof bad, "%sthresholds: {labels: {get_user: {cpu_pct: '< 5'}}}\n", head);
    expect_error(bad, "t.yaml:3:34: unknown key 'cpu_pct' in thresholds of label get_user; valid "
                      "keys: avg_ms, max_ms, p50_ms, p90_ms, p95_ms, p99_ms, error_rate, "
                      "throughput_rps");
}

/* One load reports the mistakes of every independent part, one a line,
 * and says how many more there are past JB_CONFIG_MAX_ERRORS. */
static void test_many_errors(void)
{
    expect_error("name: x\n"
                 "iteratons: 3\n"
                 "platforms:\n"
                 "  - {name: a, driver: dokker}\n"
                 "  - {name: b, driver: process, vcpus: 2}\n"
                 "  - {name: c, driver: process}\n"
                 "workload: {users: 0}\n",
                 "t.yaml:2:1: unknown key 'iteratons' in experiment (did you mean 'iterations'?); "
                 "valid keys: name, description, iterations, on_failure, broker, platforms, "
                 "services, workload, metrics, jung, runner, output, thresholds\n"
                 "t.yaml:4:23: 'driver' is 'dokker' (did you mean 'docker'?); valid values: "
                 "process, docker, libvirt\n"
                 "t.yaml:5:32: key 'vcpus' applies to driver docker and libvirt only, not to "
                 "driver 'process'\n"
                 "t.yaml:7:19: 'users' is 0, out of range: use 1 to 10000");
    /* in the file's order, though the name is checked before the sections */
    expect_error(
        "metrics: {interval_ms: 5}\nname: 'a b'\nplatforms: [{name: p, driver: process}]\n",
        "t.yaml:1:24: 'interval_ms' is 5, out of range: use 10 to 60000\n"
        "t.yaml:2:7: 'name' is 'a b': use only letters, digits, '_', '-' and '.'");
    char text[2048] = "name: x\nplatforms: [{name: p, driver: process}]\nmetrics:\n";
    for (int i = 0; i < JB_CONFIG_MAX_ERRORS + 5; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "  bad%02d: 1\n", i);
    char err[8192] = "";
    CHECK(!parse(text, err, sizeof err));
    int lines = 1;
    for (const char *c = err; *c; c++)
        lines += *c == '\n';
    CHECK(lines == JB_CONFIG_MAX_ERRORS + 1);
    CHECK(strstr(err, "t.yaml:4:3: unknown key 'bad00' in metrics") == err);
    CHECK(strstr(err, "\nt.yaml: 5 more errors not shown (fix these first)"));
    /* a small buffer keeps whole lines and still says how many are left out */
    char small[600] = "";
    CHECK(!parse(text, small, sizeof small));
    CHECK(strstr(small, "more errors not shown (fix these first)"));
}

static void test_files(void)
{
    char err[1024];
    const char *text = "name: x\nplatforms:\n  - name: v\n    driver: libvirt\n    image: osv\n"
                       "    osv: {kernel: /nonexistent/loader.elf, disk: /d}\n";
    CHECK(jb_config_parse("t.yaml", text, strlen(text), 0, cfg, err, sizeof err));
    CHECK(!jb_config_parse("t.yaml", text, strlen(text), JB_CONFIG_CHECK_FILES, cfg, err,
                           sizeof err));
    CHECK(strcmp(err, "t.yaml:6:19: platforms[0].osv.kernel (OSv kernel of 'v'): "
                      "'/nonexistent/loader.elf' does not exist (No such file or directory); "
                      "build it with 'jungbench images build osv --kernel PATH' (PATH: OSv's "
                      "loader-stripped.elf, docs/osv.md), or fix the path") == 0);
    /* The shipped experiment names the key of its missing image the same way. */
    const char *micro = "name: x\nplatforms:\n  - name: m\n    driver: libvirt\n"
                        "    image_dir: /nonexistent/images\n";
    CHECK(!jb_config_parse("t.yaml", micro, strlen(micro), JB_CONFIG_CHECK_FILES, cfg, err,
                           sizeof err));
    CHECK(strstr(err, "platforms[0].image_dir (microVM images of 'm')") &&
          strstr(err, "jungbench images build microvm"));
    CHECK(!jb_config_load("/nonexistent/x.yaml", 0, cfg, err, sizeof err));
    CHECK(strcmp(err, "/nonexistent/x.yaml: cannot open the config file: No such file or "
                      "directory") == 0);
}

/* Every shipped config loads (file checks off: images need not exist here). */
static void test_shipped(const char *dir)
{
    static const char *const files[] = {"quickstart.yaml", "osv-vs-docker.yaml",
                                        "microvm-vs-docker.yaml", "ci-smoke.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[2048], err[1024];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (!jb_config_load(path, 0, cfg, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            failures++;
        }
    }
    char path[2048], err[1024];
    snprintf(path, sizeof path, "%s/osv-vs-docker.yaml", dir);
    CHECK(jb_config_load(path, 0, cfg, err, sizeof err));
    CHECK(cfg->iterations == 30 && cfg->nplatforms == 2 && cfg->platforms[0].vcpus == 2);
    CHECK(strcmp(cfg->platforms[0].image, "osv") == 0);
    if (access(cfg->platforms[0].osv_kernel, F_OK) != 0) {
        /* Without OSv images here: the clear error, naming the key. */
        CHECK(!jb_config_load(path, JB_CONFIG_CHECK_FILES, cfg, err, sizeof err));
        CHECK(strstr(err, "osv-vs-docker.yaml:") && strstr(err, "platforms[0].osv.kernel") &&
              strstr(err, "docs/osv.md"));
    }
    snprintf(path, sizeof path, "%s/quickstart.yaml", dir);
    CHECK(jb_config_load(path, 0, cfg, err, sizeof err));
    CHECK(cfg->iterations == 3 && strcmp(cfg->platforms[0].driver, "process") == 0);
    CHECK(cfg->workload.users * cfg->workload.requests_per_user == 15000);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_config CONFIGS_DIR\n");
        return 2;
    }
    cfg = malloc(sizeof *cfg);
    if (!cfg)
        return 1;
    test_defaults();
    test_full();
    test_errors();
    test_thresholds();
    test_many_errors();
    test_files();
    test_shipped(argv[1]);
    free(cfg);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
