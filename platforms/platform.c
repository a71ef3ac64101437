/* platform.c - the driver-independent half of the platform interface:
 * configuration, the instance list, readiness detection and timing. */
#include "platforms/images.h"
#include "platforms/internal.h"

#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void jb_platform_config_init(jb_platform_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->driver = "process";
    cfg->run_id = "dev";
    cfg->brokers = "127.0.0.1:9092";
    cfg->advertise = JB_DEFAULT_ADVERTISE;
    cfg->build = jb_config_default_build();
    cfg->stop_grace_ms = JB_DEFAULT_STOP_GRACE_MS;
    cfg->docker_socket = JB_DEFAULT_DOCKER_SOCKET;
    cfg->network = JB_DEFAULT_NETWORK;
    cfg->image_tag = JB_VERSION;
    cfg->libvirt_uri = JB_DEFAULT_LIBVIRT_URI;
    cfg->accel = JB_DEFAULT_ACCEL;
    cfg->image_kind = JB_DEFAULT_IMAGE;
    cfg->image_dir = JB_DEFAULT_IMAGE_DIR;
}

/* The string fields of the configuration, so they can be copied and freed
 * in one loop. */
enum { CONFIG_NSTRINGS = 17 };
static void config_strings(jb_platform_config *cfg, const char **fields[CONFIG_NSTRINGS])
{
    const char **list[CONFIG_NSTRINGS] = {&cfg->driver,     &cfg->run_id,     &cfg->bin_dir,
                                          &cfg->work_dir,   &cfg->brokers,    &cfg->docker_socket,
                                          &cfg->network,    &cfg->image_tag,  &cfg->libvirt_uri,
                                          &cfg->accel,      &cfg->image_kind, &cfg->image_dir,
                                          &cfg->osv_kernel, &cfg->osv_disk,   &cfg->osv_cmdline,
                                          &cfg->build,      &cfg->advertise};
    memcpy(fields, list, sizeof list);
}

static void config_free(jb_platform_config *cfg)
{
    const char **fields[CONFIG_NSTRINGS];
    config_strings(cfg, fields);
    for (size_t i = 0; i < CONFIG_NSTRINGS; i++) {
        free((char *)*fields[i]);
        *fields[i] = NULL;
    }
}

/* Copies every string; an unset or empty one takes the default, so callers
 * can pass the fixed-size (possibly empty) strings of config/config.h. */
static bool config_copy(jb_platform_config *dst, const jb_platform_config *src)
{
    jb_platform_config defaults;
    jb_platform_config_init(&defaults);
    *dst = *src;
    const char **fields[CONFIG_NSTRINGS], **defs[CONFIG_NSTRINGS];
    config_strings(dst, fields);
    config_strings(&defaults, defs);
    bool ok = true;
    for (size_t i = 0; i < CONFIG_NSTRINGS; i++) {
        const char *value = *fields[i] && **fields[i] ? *fields[i] : *defs[i];
        *fields[i] = value ? strdup(value) : NULL;
        if (value && !*fields[i])
            ok = false;
    }
    if (dst->stop_grace_ms <= 0)
        dst->stop_grace_ms = defaults.stop_grace_ms;
    return ok;
}

bool jb_default_bin_dir(char *out, size_t outlen)
{
    char buf[4096];
    ssize_t len = readlink("/proc/self/exe", buf, sizeof buf - 8);
    if (len <= 0)
        return false;
    buf[len] = '\0';
    char *slash = strrchr(buf, '/');
    strcpy(slash ? slash + 1 : buf, "jung");
    /* tests/platforms/x -> the build tree's jung/ two levels up */
    if (access(buf, X_OK) != 0 && slash) {
        *slash = '\0';
        char *up = strrchr(buf, '/');
        if (up && (up = (*up = '\0', strrchr(buf, '/'))))
            strcpy(up + 1, "jung");
    }
    jb_strlcpy(out, buf, outlen);
    return true;
}

/* The build names executables jung-<service> with '_' turned into '-'
 * (jung-user-registry); the underscore spelling is accepted too. */
bool jb_image_matches_build(const jb_platform_config *cfg, const char *service, const char *build,
                            const char *image, const char *held_sha, const char *rebuild, char *err,
                            size_t errlen)
{
    char bin_dir[4096], exe[4300], local[65];
    if (cfg->bin_dir && cfg->bin_dir[0])
        jb_strlcpy(bin_dir, cfg->bin_dir, sizeof bin_dir);
    else if (!jb_default_bin_dir(bin_dir, sizeof bin_dir))
        return true;
    jb_service_executable(bin_dir, build, service, exe, sizeof exe);
    if (access(exe, R_OK) != 0 || !jb_executable_sha256(exe, local, err, errlen))
        return true;
    if (strcmp(held_sha, local) == 0)
        return true;
    if (held_sha[0])
        snprintf(err, errlen,
                 "%s holds another executable than %s, which this build tree runs natively: "
                 "rebuild it with '%s'",
                 image, exe, rebuild);
    else
        snprintf(err, errlen,
                 "%s does not say which executable it holds (made before jungbench recorded "
                 "it), so it cannot be checked against %s: rebuild it with '%s'",
                 image, exe, rebuild);
    return false;
}

void jb_service_executable(const char *bin_dir, const char *build, const char *service, char *out,
                           size_t outlen)
{
    bool is_static = build && strcmp(build, "static") == 0;
    snprintf(out, outlen, "%s/%sjung-%s", bin_dir, is_static ? "static/" : "", service);
    if (access(out, X_OK) == 0)
        return;
    size_t start = strlen(bin_dir) + (is_static ? 13 : 6);
    for (char *c = out + (start < strlen(out) ? start : strlen(out)); *c; c++)
        if (*c == '_')
            *c = '-';
}

/* Defaults that depend on other settings: the build tree's jung/ folder and
 * a work folder per run. */
static bool config_complete(jb_platform_config *cfg, char *err, size_t errlen)
{
    char buf[4096];
    for (const char *c = cfg->run_id; *c; c++)
        if (!(*c == '-' || *c == '_' || *c == '.' || (*c >= '0' && *c <= '9') ||
              (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))) {
            snprintf(err, errlen, "run id '%s' has a '%c': use letters, digits, '.', '_', '-'",
                     cfg->run_id, *c);
            return false;
        }
    if (strcmp(cfg->build, "static") != 0 && strcmp(cfg->build, "dynamic") != 0) {
        snprintf(err, errlen, "build '%s' is not valid: use static or dynamic", cfg->build);
        return false;
    }
    if (!cfg->work_dir) {
        snprintf(buf, sizeof buf, "/tmp/jungbench-%s", cfg->run_id);
        cfg->work_dir = strdup(buf);
    }
    if (!cfg->bin_dir) {
        if (!jb_default_bin_dir(buf, sizeof buf)) {
            snprintf(err, errlen, "cannot find the jung executables: set bin_dir");
            return false;
        }
        cfg->bin_dir = strdup(buf);
    }
    return jb_mkdirs(cfg->work_dir, err, errlen);
}

static const jb_driver *find_driver(const char *name)
{
    const jb_driver *drivers[] = {&jb_driver_process, &jb_driver_docker, &jb_driver_libvirt};
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}

jb_platform *jb_platform_open(const jb_platform_config *cfg, char *err, size_t errlen)
{
    const jb_driver *driver = find_driver(cfg->driver ? cfg->driver : "");
    if (!driver) {
        snprintf(err, errlen, "unknown platform driver '%s': use process, docker or libvirt",
                 cfg->driver ? cfg->driver : "");
        return NULL;
    }
    jb_platform *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->driver = driver;
    bool ok = config_copy(&p->cfg, cfg);
    if (!ok)
        snprintf(err, errlen, "out of memory");
    if (ok)
        ok = config_complete(&p->cfg, err, errlen);
    if (ok)
        ok = driver->open(p, err, errlen);
    if (!ok) {
        config_free(&p->cfg);
        free(p);
        return NULL;
    }
    return p;
}

void jb_platform_close(jb_platform *p)
{
    if (!p)
        return;
    char err[512];
    if (!jb_instances_stop(p->instances, p->ninstances, err, sizeof err))
        fprintf(stderr, "jungbench: %s\n", err);
    if (p->driver->close)
        p->driver->close(p);
    free(p->instances);
    config_free(&p->cfg);
    free(p);
}

const char *jb_platform_name(const jb_platform *p)
{
    return p->driver->name;
}

const char *jb_platform_build(const jb_platform *p)
{
    return p->cfg.build;
}

const char *jb_platform_accel(const jb_platform *p)
{
    return p->accel;
}

int jb_platform_timeout_scale(const jb_platform *p)
{
    return strcmp(p->accel, "emulated") == 0 ? JB_EMULATION_TIMEOUT_SCALE : 1;
}

unsigned jb_platform_runtime_daemons(const jb_platform *p)
{
    return p->driver->daemons;
}

bool jb_platform_prepare(jb_platform *p, const char *const *services, size_t nservices, char *err,
                         size_t errlen)
{
    for (size_t i = 0; i < nservices; i++)
        if (p->driver->prepare && !p->driver->prepare(p, services[i], err, errlen))
            return false;
    return true;
}

static bool valid_service_name(const char *s)
{
    if (!s || !*s || strlen(s) > 48)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

static bool add_instance(jb_platform *p, jb_instance *inst)
{
    if (p->ninstances == p->capacity) {
        size_t cap = p->capacity ? p->capacity * 2 : 16;
        jb_instance **grown = realloc(p->instances, cap * sizeof *grown);
        if (!grown)
            return false;
        p->instances = grown;
        p->capacity = cap;
    }
    p->instances[p->ninstances++] = inst;
    return true;
}

static void remove_instance(jb_platform *p, jb_instance *inst)
{
    for (size_t i = 0; i < p->ninstances; i++)
        if (p->instances[i] == inst) {
            memmove(&p->instances[i], &p->instances[i + 1],
                    (p->ninstances - i - 1) * sizeof *p->instances);
            p->ninstances--;
            return;
        }
}

/* What the instance boots from, for the plan record. */
static void describe_image(const jb_platform *p, const jb_instance_spec *spec, char *out,
                           size_t outlen)
{
    const char *driver = p->driver->name;
    if (strcmp(driver, "process") == 0 && spec->executable)
        jb_strlcpy(out, spec->executable, outlen);
    else if (strcmp(driver, "process") == 0)
        jb_service_executable(p->cfg.bin_dir, p->cfg.build, spec->service, out, outlen);
    else if (strcmp(driver, "docker") == 0)
        snprintf(out, outlen, "jung/%s:%s", spec->service, p->cfg.image_tag);
    else if (strcmp(p->cfg.image_kind, "osv") == 0 && p->cfg.osv_disk)
        jb_expand_template(p->cfg.osv_disk, spec->service, NULL, out, outlen);
    else
        snprintf(out, outlen, "%s/microvm/%s.cpio.xz", p->cfg.image_dir, spec->service);
}

static json_t *string_array(const char *const *list)
{
    json_t *a = json_array();
    for (size_t i = 0; list && list[i]; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

/* One line of <work_dir>/plan.jsonl: what this instance was started with
 * (launch.h), so the plans of up, run and provision can be compared and a
 * run's logs say what ran. */
static void record_plan(const jb_platform *p, const jb_instance_spec *spec)
{
    char image[4096], path[4200];
    describe_image(p, spec, image, sizeof image);
    json_t *ports = json_array();
    for (size_t i = 0; i < 8 && spec->ports[i] > 0; i++)
        json_array_append_new(ports, json_integer(spec->ports[i]));
    json_t *line = json_pack(
        "{s:s, s:s, s:i, s:s, s:s, s:s, s:o, s:o, s:o}", "service", spec->service, "instance", "",
        "index", spec->index, "driver", p->driver->name, "build", p->cfg.build, "image", image,
        "args", string_array(spec->args), "env", string_array(spec->env), "ports", ports);
    char instance[96];
    snprintf(instance, sizeof instance, "%s-%d", spec->service, spec->index);
    json_object_set_new(line, "instance", json_string(instance));
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    snprintf(path, sizeof path, "%s/plan.jsonl", p->cfg.work_dir);
    FILE *f = text ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "%s\n", text);
        fclose(f);
    }
    free(text);
    json_decref(line);
}

/* The instance as the platform will know it, before its driver starts it:
 * named, listed, its plan recorded and its clock started. NULL (err set)
 * when the spec is invalid or memory ran out. */
static jb_instance *begin_instance(jb_platform *p, const jb_instance_spec *spec, char *err,
                                   size_t errlen)
{
    if (!valid_service_name(spec->service)) {
        snprintf(err, errlen, "service name '%s' is not valid: use [a-z0-9_-], e.g. user_registry",
                 spec->service ? spec->service : "");
        return NULL;
    }
    if (spec->index < 1) {
        snprintf(err, errlen, "instance index %d of %s must be 1 or more", spec->index,
                 spec->service);
        return NULL;
    }
    jb_instance *inst = calloc(1, sizeof *inst);
    if (!inst || !add_instance(p, inst)) {
        free(inst);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    inst->platform = p;
    jb_instance_info *info = &inst->info;
    jb_strlcpy(info->service, spec->service, sizeof info->service);
    snprintf(info->instance, sizeof info->instance, "%s-%d", spec->service, spec->index);
    snprintf(info->name, sizeof info->name, "jungbench-%s-%s-%d", p->cfg.run_id, spec->service,
             spec->index);
    jb_strlcpy(info->platform, p->driver->name, sizeof info->platform);
    jb_strlcpy(info->accel, p->accel, sizeof info->accel);
    info->boot_ms = info->ready_ms = info->process_ready_ms = -1;
    for (size_t i = 0; i < 8 && spec->ports[i]; i++)
        info->host_ports[i] = spec->ports[i]; /* the driver may choose others */
    record_plan(p, spec);
    info->start_wall_ms = jb_wall_ms();
    inst->start_mono_ms = jb_now_ms();
    return inst;
}

/* After the driver's start: a failed instance leaves nothing behind. */
static jb_instance *end_instance(jb_platform *p, jb_instance *inst, bool started)
{
    if (!started) {
        remove_instance(p, inst);
        free(inst);
        return NULL;
    }
    if (inst->info.boot_ms < 0)
        inst->info.boot_ms = jb_instance_elapsed_ms(inst);
    return inst;
}

jb_instance *jb_platform_start(jb_platform *p, const jb_instance_spec *spec, char *err,
                               size_t errlen)
{
    jb_instance *inst = begin_instance(p, spec, err, errlen);
    if (!inst)
        return NULL;
    return end_instance(p, inst, p->driver->start(p, inst, spec, err, errlen));
}

/* One driver start on its own thread (drivers with concurrent_start). */
typedef struct start_job {
    jb_platform *platform;
    jb_instance *inst;
    const jb_instance_spec *spec;
    bool started;
    char err[1024];
} start_job;

static void *start_job_run(void *arg)
{
    start_job *j = arg;
    j->started = j->platform->driver->start(j->platform, j->inst, j->spec, j->err, sizeof j->err);
    return NULL;
}

/* Up to JB_START_BATCH driver starts run at once: enough that dockerd and
 * runc overlap the containers' set-up, few enough not to swamp a small
 * machine's engine. */
#define JB_START_BATCH 16

static bool start_batch(jb_platform *p, const jb_instance_spec *const *specs, size_t n,
                        jb_instance **out, char *err, size_t errlen)
{
    start_job jobs[JB_START_BATCH] = {0};
    pthread_t threads[JB_START_BATCH];
    bool spawned[JB_START_BATCH] = {0};
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        jobs[i].platform = p;
        jobs[i].spec = specs[i];
        jobs[i].inst = begin_instance(p, specs[i], jobs[i].err, sizeof jobs[i].err);
        if (jobs[i].inst)
            spawned[i] = pthread_create(&threads[i], NULL, start_job_run, &jobs[i]) == 0;
        if (jobs[i].inst && !spawned[i]) /* no thread to spare: start it here */
            start_job_run(&jobs[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (spawned[i])
            pthread_join(threads[i], NULL);
        out[i] = jobs[i].inst ? end_instance(p, jobs[i].inst, jobs[i].started) : NULL;
        if (!out[i] && ok) {
            snprintf(err, errlen, "cannot start %s-%d: %s", specs[i]->service, specs[i]->index,
                     jobs[i].err);
            ok = false;
        }
    }
    return ok;
}

bool jb_platform_start_many(jb_platform *p, const jb_instance_spec *const *specs, size_t n,
                            jb_instance **out, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    for (size_t done = 0; done < n; done += JB_START_BATCH) {
        size_t batch = n - done < JB_START_BATCH ? n - done : JB_START_BATCH;
        if (jb_stop_requested())
            return snprintf(err, errlen, "stopped while starting"), false;
        if (p->driver->concurrent_start && batch > 1) {
            if (!start_batch(p, specs + done, batch, out + done, err, errlen))
                return false;
            continue;
        }
        for (size_t i = done; i < done + batch; i++) {
            char one[1024];
            out[i] = jb_platform_start(p, specs[i], one, sizeof one);
            if (!out[i])
                return snprintf(err, errlen, "cannot start %s-%d: %s", specs[i]->service,
                                specs[i]->index, one),
                       false;
        }
    }
    return true;
}

double jb_instance_elapsed_ms(const jb_instance *inst)
{
    return jb_now_ms() - inst->start_mono_ms;
}

/* ---- readiness ------------------------------------------------------- */

static void add_ready_pair(jb_instance_info *info, const char *word)
{
    const char *eq = strchr(word, '=');
    if (!eq || eq == word || info->nready >= JB_MAX_READY_KV)
        return;
    size_t klen = (size_t)(eq - word);
    if (klen >= sizeof info->ready_keys[0])
        return;
    memcpy(info->ready_keys[info->nready], word, klen);
    info->ready_keys[info->nready][klen] = '\0';
    jb_strlcpy(info->ready_values[info->nready], eq + 1, sizeof info->ready_values[0]);
    info->nready++;
}

/* "jung <service> <word> ..." anywhere in line (a console line may carry
 * kernel or terminal noise before "jung"), service NULL for any. The line
 * is tokenised in copy; *save then goes on after <word>. */
static bool match_jung_line(const char *line, const char *service, const char *word, char *copy,
                            size_t copylen, char **save)
{
    const char *start = strstr(line, "jung ");
    if (!start)
        return false;
    jb_strlcpy(copy, start + 5, copylen);
    *save = NULL;
    char *name = strtok_r(copy, " \t\r", save);
    char *got = strtok_r(NULL, " \t\r", save);
    return name && got && strcmp(got, word) == 0 && (!service || strcmp(name, service) == 0);
}

bool jb_parse_ready_line(const char *line, const char *service, jb_instance_info *info)
{
    char copy[2048], *save, *word;
    if (!match_jung_line(line, service, "ready", copy, sizeof copy, &save))
        return false;
    info->nready = 0;
    while ((word = strtok_r(NULL, " \t\r", &save)))
        add_ready_pair(info, word);
    return true;
}

/* "jung <service> started ...": the process is up and connected to its
 * broker; its readiness line follows once its consumer group assigned it,
 * which can take a rebalance, so the two are timed apart. */
static bool is_started_line(const char *line, const char *service)
{
    char copy[256], *save;
    return match_jung_line(line, service, "started", copy, sizeof copy, &save);
}

static void keep_tail(jb_instance *inst, const char *buf, size_t len)
{
    if (len >= JB_TAIL_MAX) {
        memcpy(inst->tail, buf + len - JB_TAIL_MAX, JB_TAIL_MAX);
        inst->taillen = JB_TAIL_MAX;
        return;
    }
    if (inst->taillen + len > JB_TAIL_MAX) {
        size_t drop = inst->taillen + len - JB_TAIL_MAX;
        memmove(inst->tail, inst->tail + drop, inst->taillen - drop);
        inst->taillen -= drop;
    }
    memcpy(inst->tail + inst->taillen, buf, len);
    inst->taillen += len;
}

/* "[    4.381047] ..." is the guest kernel talking, not the service. */
static bool kernel_line(const char *line)
{
    double t;
    char close;
    return sscanf(line, "[ %lf%c", &t, &close) == 2 && close == ']';
}

static void end_line(jb_instance *inst)
{
    inst->line[inst->linelen] = '\0';
    if (inst->info.process_ready_ms < 0 && !inst->line_overflow &&
        is_started_line(inst->line, inst->info.service))
        inst->info.process_ready_ms = jb_instance_elapsed_ms(inst);
    if (!inst->info.ready && !inst->line_overflow &&
        jb_parse_ready_line(inst->line, inst->info.service, &inst->info)) {
        inst->info.ready = true;
        inst->info.ready_ms = jb_instance_elapsed_ms(inst);
    }
    const char *const *fatal = inst->platform->driver->fatal_lines;
    for (size_t i = 0; fatal && fatal[i] && !inst->fatal_line[0]; i++)
        if (strstr(inst->line, fatal[i]))
            jb_strlcpy(inst->fatal_line, inst->line, sizeof inst->fatal_line);
    /* Error messages quote the service's own last lines; of the kernel's,
     * only the panic that says how PID 1 (the service) ended. */
    if (!kernel_line(inst->line) || strstr(inst->line, "Kernel panic")) {
        keep_tail(inst, inst->line, inst->linelen);
        keep_tail(inst, "\n", 1);
    }
    inst->linelen = 0;
    inst->line_overflow = false;
}

void jb_instance_feed(jb_instance *inst, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\r') { /* serial consoles end lines with CR LF */
            continue;
        } else if (buf[i] == '\n') {
            end_line(inst);
        } else if (inst->linelen + 1 < sizeof inst->line) {
            inst->line[inst->linelen++] = buf[i];
        } else {
            inst->line_overflow = true;
        }
    }
}

/* The last few lines of output, one line, for error messages. */
static void tail_text(const jb_instance *inst, char *out, size_t outlen)
{
    size_t start = inst->taillen > 300 ? inst->taillen - 300 : 0;
    size_t j = 0;
    for (size_t i = start; i < inst->taillen && j + 1 < outlen; i++) {
        char c = inst->tail[i];
        out[j++] = (c == '\n' || c == '\r') ? '|' : (c >= 32 && c < 127) ? c : '?';
    }
    for (size_t i = 0; i < inst->linelen && j + 1 < outlen; i++) {
        char c = inst->line[i];
        out[j++] = (c >= 32 && c < 127) ? c : '?';
    }
    out[j] = '\0';
}

static bool instance_failed(jb_instance *inst, char *err, size_t errlen)
{
    char tail[320];
    tail_text(inst, tail, sizeof tail);
    snprintf(err, errlen, "%s (%s) %s before it was ready; last output: %s%s%s",
             inst->info.instance, inst->info.name,
             inst->exit_reason[0] ? inst->exit_reason : "exited", tail[0] ? tail : "(none)",
             inst->info.log_path[0] ? "; log: " : "", inst->info.log_path);
    return false;
}

bool jb_instance_alive(jb_instance *inst)
{
    if (inst->exited)
        return false;
    if (!inst->platform->driver->poll(inst)) {
        inst->exited = true;
        inst->exit_seen_ms = jb_now_ms();
    }
    if (inst->fatal_line[0]) {
        /* A guest whose program aborted may stay up, and one that panicked
         * says why only on its console: either way, the line is the reason. */
        inst->exited = true;
        if (!inst->exit_seen_ms)
            inst->exit_seen_ms = jb_now_ms();
        snprintf(inst->exit_reason, sizeof inst->exit_reason, "failed: \"%.200s\"",
                 inst->fatal_line);
    }
    return !inst->exited;
}

bool jb_instances_wait_ready(jb_instance *const *instances, size_t n, double timeout_ms, char *err,
                             size_t errlen)
{
    if (n > 0) /* all of one platform: an emulated one gets longer */
        timeout_ms *= jb_platform_timeout_scale(instances[0]->platform);
    double deadline = jb_now_ms() + timeout_ms;
    for (;;) {
        size_t waiting = 0;
        for (size_t i = 0; i < n; i++) {
            jb_instance *inst = instances[i];
            if (inst->info.ready)
                continue;
            bool alive = jb_instance_alive(inst);
            if (inst->info.ready)
                continue;
            if (!alive)
                return instance_failed(inst, err, errlen);
            waiting++;
        }
        if (waiting == 0)
            return true;
        if (jb_stop_requested()) {
            snprintf(err, errlen, "interrupted while waiting for %zu instance(s) to be ready",
                     waiting);
            return false;
        }
        if (jb_now_ms() >= deadline) {
            for (size_t i = 0; i < n; i++)
                if (!instances[i]->info.ready) {
                    char tail[320];
                    tail_text(instances[i], tail, sizeof tail);
                    snprintf(err, errlen,
                             "%s (%s) not ready after %.0f ms (%zu instance(s) waiting); last "
                             "output: %s",
                             instances[i]->info.instance, instances[i]->info.name, timeout_ms,
                             waiting, tail[0] ? tail : "(none)");
                    break;
                }
            return false;
        }
        jb_sleep_ms(2);
    }
}

bool jb_instance_wait_ready(jb_instance *inst, double timeout_ms, char *err, size_t errlen)
{
    return jb_instances_wait_ready(&inst, 1, timeout_ms, err, errlen);
}

const jb_instance_info *jb_instance_get_info(const jb_instance *inst)
{
    return &inst->info;
}

const char *jb_instance_exit_reason(const jb_instance *inst)
{
    return inst->exited ? inst->exit_reason : "";
}

const char *jb_instance_ready_value(const jb_instance *inst, const char *key)
{
    for (size_t i = 0; i < inst->info.nready; i++)
        if (strcmp(inst->info.ready_keys[i], key) == 0)
            return inst->info.ready_values[i];
    return NULL;
}

void jb_stop_record_status(jb_stop_record *rec, int status)
{
    if (WIFEXITED(status)) {
        rec->exit_code = WEXITSTATUS(status);
        snprintf(rec->exit, sizeof rec->exit, "exited with status %d", rec->exit_code);
    } else if (WIFSIGNALED(status)) {
        rec->exit_code = -WTERMSIG(status);
        snprintf(rec->exit, sizeof rec->exit, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    }
}

/* The one stop signal, to an instance still running. */
static void begin_stop(jb_instance *inst)
{
    jb_stop_record *rec = &inst->stop;
    if (rec->instance[0])
        return; /* begun already */
    jb_strlcpy(rec->service, inst->info.service, sizeof rec->service);
    jb_strlcpy(rec->instance, inst->info.instance, sizeof rec->instance);
    rec->stop_ms = -1;
    rec->exit_code = -1000;
    rec->signalled = jb_instance_alive(inst);
    if (rec->signalled && inst->platform->driver->signal_stop) {
        inst->platform->driver->signal_stop(inst);
        inst->stop_signal_ms = jb_now_ms();
    }
}

/* Polls the signalled instances until each has exited or its grace
 * period has passed: the exit is seen within a few ms, so stop_ms is the
 * service's own shutdown time, and the grace periods overlap. */
static void wait_stopped(jb_instance *const *insts, size_t n)
{
    for (;;) {
        size_t waiting = 0;
        double now = jb_now_ms();
        for (size_t i = 0; i < n; i++) {
            jb_instance *inst = insts[i];
            if (inst->stop_signal_ms <= 0 || inst->exited ||
                now > inst->stop_signal_ms + inst->platform->cfg.stop_grace_ms)
                continue;
            if (jb_instance_alive(inst))
                waiting++;
        }
        if (waiting == 0)
            return;
        jb_sleep_ms(2);
    }
}

/* The driver kills what is still running and removes it; then the record
 * gets its time. Frees inst. */
static bool finish_stop(jb_instance *inst, jb_stop_record *record, char *err, size_t errlen)
{
    jb_platform *p = inst->platform;
    err[0] = '\0';
    if (inst->stop.signalled && inst->stop_signal_ms <= 0)
        inst->stop_signal_ms = jb_now_ms(); /* a driver whose stop call does it all */
    bool ok = p->driver->stop(inst, err, errlen);
    if (inst->stop.signalled && inst->stop.stop_ms < 0)
        inst->stop.stop_ms =
            (inst->exit_seen_ms > inst->stop_signal_ms ? inst->exit_seen_ms : jb_now_ms()) -
            inst->stop_signal_ms;
    if (record)
        *record = inst->stop;
    remove_instance(p, inst);
    free(inst);
    return ok;
}

bool jb_instance_stop(jb_instance *inst, char *err, size_t errlen)
{
    begin_stop(inst);
    wait_stopped(&inst, 1);
    return finish_stop(inst, NULL, err, errlen);
}

bool jb_instances_stop_recorded(jb_instance *const *instances, size_t n, jb_stop_record *records,
                                char *err, size_t errlen)
{
    jb_instance **copy = calloc(n ? n : 1, sizeof *copy);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    if (n > 0) /* stopping edits the platform's list; instances may be NULL when n is 0 */
        memcpy(copy, instances, n * sizeof *copy);
    for (size_t i = n; i-- > 0;)
        begin_stop(copy[i]);
    wait_stopped(copy, n);
    bool ok = true;
    err[0] = '\0';
    char one[512];
    for (size_t i = n; i-- > 0;)
        if (!finish_stop(copy[i], records ? &records[i] : NULL, one, sizeof one)) {
            if (ok)
                jb_strlcpy(err, one, errlen);
            ok = false;
        }
    free(copy);
    return ok;
}

bool jb_instances_stop(jb_instance *const *instances, size_t n, char *err, size_t errlen)
{
    return jb_instances_stop_recorded(instances, n, NULL, err, errlen);
}

/* ---- small helpers --------------------------------------------------- */

void jb_follow_init(jb_follow *f)
{
    f->fd = -1;
    f->path[0] = '\0';
}

void jb_follow_poll(jb_follow *f, jb_instance *inst)
{
    if (f->fd < 0 && f->path[0])
        f->fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd < 0)
        return;
    char buf[8192];
    ssize_t got;
    while ((got = read(f->fd, buf, sizeof buf)) > 0)
        jb_instance_feed(inst, buf, (size_t)got);
}

void jb_follow_close(jb_follow *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

bool jb_expand_template(const char *tmpl, const char *service, const char *args, char *out,
                        size_t outlen)
{
    size_t j = 0;
    for (const char *s = tmpl; *s;) {
        const char *put = NULL;
        size_t skip = 1;
        if (strncmp(s, "{service}", 9) == 0)
            put = service, skip = 9;
        else if (strncmp(s, "{args}", 6) == 0)
            put = args ? args : "", skip = 6;
        size_t len = put ? strlen(put) : 1;
        if (j + len + 1 > outlen)
            return false;
        memcpy(out + j, put ? put : s, len);
        j += len;
        s += skip;
    }
    out[j] = '\0';
    return true;
}

bool jb_mkdirs(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    jb_strlcpy(buf, path, sizeof buf);
    for (char *s = buf + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char saved = *s;
            *s = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create folder %s: %s", buf, strerror(errno));
                return false;
            }
            *s = saved;
            if (saved == '\0')
                return true;
        }
    }
}

void jb_sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1000),
                          (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !jb_stop_requested())
        ;
}

bool jb_exe_dir(char *out, size_t outlen)
{
    ssize_t len = readlink("/proc/self/exe", out, outlen - 1);
    if (len <= 0)
        return false;
    out[len] = '\0';
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
    return true;
}

bool jb_parse_services(const char *list, char *store, size_t storelen, const char **names,
                       size_t *n, size_t max, char *err, size_t errlen)
{
    *n = 0;
    if (!list || strcmp(list, "all") == 0) {
        for (size_t i = 0; i < JB_SERVICE_COUNT && i < max; i++)
            names[(*n)++] = jb_jung_services[i];
        return true;
    }
    jb_strlcpy(store, list, storelen);
    char *save = NULL;
    for (char *s = strtok_r(store, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        if (!valid_service_name(s) || *n == max) {
            snprintf(err, errlen, "'%s' is not a service name: use e.g. user_registry,api_gateway",
                     s);
            return false;
        }
        names[(*n)++] = s;
    }
    if (*n == 0) {
        snprintf(err, errlen, "the service list is empty: name at least one service");
        return false;
    }
    return true;
}

bool jb_spec_is_gateway(const jb_instance_spec *spec)
{
    return spec->service && strcmp(spec->service, "api_gateway") == 0;
}
