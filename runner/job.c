/* job.c - one platform iteration on the runner (job.h).
 *
 * Life cycle on the job thread: parse the RUN's config (with image file
 * checks: this is the machine that boots them), open the platform driver,
 * start every service instance, wait for every readiness line, start the
 * metrics sampler on the instances' PIDs/cgroups (and the runtime daemons),
 * record boot times; then wait for STOP while watching the instances; then
 * stop the sampler, write its summaries, stop every instance and close the
 * platform, so nothing of ours is left. */
#include "runner/job.h"
#include "runner/runner.h"

#include "broker/broker.h"
#include "cli/cli.h"
#include "store/store.h"
#include "metrics/metrics.h"
#include "platforms/launch.h"
#include "platforms/platform.h"

#include <assert.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JOB_MAX_INSTANCES 64

/* Worker-only state: platform objects belong to the job thread. */
typedef struct job_work {
    runner_job *job;
    const jb_config_platform *pl; /* &plat */
    jb_config_platform plat;      /* the config's, with the runner's --bin-dir */
    jb_platform *platform;
    jb_instance *inst[JOB_MAX_INSTANCES];
    size_t ninst;
    jb_sampler *sampler;
    jb_broker *broker; /* the services' own broker with `broker: embedded` */
    /* noise guard: the machine just before the services start */
    jb_machine_times load_start;
    double idle_before_pct;
    bool have_load;
    char work_dir[4200];
    /* What this iteration's gateway answers in X-Jung-Gateway: READY says
     * it, and the controller refuses an endpoint that answers otherwise. */
    char gateway_id[JB_CFG_NAME * 2 + 64];
    char topic_prefix[32]; /* the RUN's topic_prefix (launch.h): "" on the embedded broker */
} job_work;

static void set_state(runner_job *job, job_state state)
{
    pthread_mutex_lock(&job->mu);
    job->state = state;
    pthread_cond_broadcast(&job->cond);
    pthread_mutex_unlock(&job->mu);
}

static bool stop_asked(runner_job *job)
{
    pthread_mutex_lock(&job->mu);
    bool asked = job->stop_asked;
    pthread_mutex_unlock(&job->mu);
    return asked || jb_stop_requested();
}

/* JB_TRACE=1: time-stamped phase lines on stderr, to see where an
 * iteration's time goes (JB_TRACE=1 bench/run-protocol). */
static void trace(const runner_job *job, const char *what)
{
    const char *on = getenv("JB_TRACE");
    if (on && strcmp(on, "0") != 0)
        fprintf(stderr, "trace %.3f runner %s#%ld %s\n", jb_wall_ms() / 1000, job->run.platform,
                job->run.iteration, what);
}

/* Records the first failure only: later ones are consequences. */
static bool job_fail(runner_job *job, const char *phase, const char *service, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool job_fail(runner_job *job, const char *phase, const char *service, const char *fmt, ...)
{
    pthread_mutex_lock(&job->mu);
    if (!job->err_text[0]) {
        snprintf(job->err_phase, sizeof job->err_phase, "%s", phase);
        snprintf(job->err_service, sizeof job->err_service, "%s", service ? service : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(job->err_text, sizeof job->err_text, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&job->mu);
    return false;
}

static bool mkdirs(const char *path)
{
    char buf[4200];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *c = buf + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return false;
        *c = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

/* ---- boot ------------------------------------------------------------------- */

static bool parse_config(job_work *w)
{
    runner_job *job = w->job;
    const char *text = jb_msg_str(&job->run, "config");
    char err[2048];
    if (!jb_config_parse("RUN config", text, strlen(text), JB_CONFIG_CHECK_FILES, job->cfg, err,
                         sizeof err))
        return job_fail(job, "boot", NULL, "%s", err);
    const jb_config_platform *pl = jb_config_platform_named(job->cfg, job->run.platform);
    if (!pl)
        return job_fail(job, "boot", NULL, "the RUN's config has no platform named '%s'",
                        job->run.platform);
    w->plat = *pl;
    if (job->opts.bin_dir)
        snprintf(w->plat.bin_dir, sizeof w->plat.bin_dir, "%s", job->opts.bin_dir);
    w->pl = &w->plat;
    const char *prefix = jb_msg_str(&job->run, "topic_prefix");
    if (!jb_launch_valid_topic_prefix(prefix))
        return job_fail(job, "boot", NULL, "the RUN's topic_prefix '%.40s' is not a topic prefix",
                        prefix);
    snprintf(w->topic_prefix, sizeof w->topic_prefix, "%s", prefix);
    return true;
}

/* The launch plan's driver settings, named and placed per iteration. */
static void platform_settings(job_work *w, jb_platform_config *pc, char *run_id, size_t idlen)
{
    const runner_job *job = w->job;
    jb_launch_platform_config(w->pl, pc);
    /* Per iteration: names stay unique even if a teardown left something. */
    snprintf(run_id, idlen, "%s-%s-%ld", job->run.run_id, w->pl->name, job->run.iteration);
    pc->run_id = run_id;
    pc->work_dir = w->work_dir;
    pc->brokers = job->opts.brokers;
    if (job->opts.advertise)
        pc->advertise = job->opts.advertise;
}

/* A real cluster outlives iterations: Jung's topics must exist (created
 * here, idempotently), and the services' groups start at the end of their
 * topics, so this iteration consumes nothing an earlier one left. */
static bool prepare_bus(job_work *w, char *err, size_t errlen)
{
    runner_job *job = w->job;
    long long skipped = 0;
    trace(job, "preparing the bus");
    if (!jb_launch_prepare_bus(job->cfg, job->opts.brokers, w->topic_prefix, &skipped, err, errlen))
        return false;
    if (skipped > 0)
        fprintf(stderr,
                "jungbench runner: %s#%ld: %lld task(s) earlier iterations left undelivered are "
                "skipped\n",
                job->run.platform, job->run.iteration, skipped);
    return true;
}

static bool open_platform(job_work *w)
{
    runner_job *job = w->job;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", job->results_db);
    snprintf(w->work_dir, sizeof w->work_dir, "%s/logs/%s-%ld", dirname(dir), w->pl->name,
             job->run.iteration);
    if (!mkdirs(w->work_dir))
        return job_fail(job, "boot", NULL, "cannot create %s: %s", w->work_dir, strerror(errno));
    jb_platform_config pc;
    char run_id[200], err[2048];
    platform_settings(w, &pc, run_id, sizeof run_id);
    if (job->cfg->broker.embedded) {
        /* A fresh broker per iteration: the services' consumer groups would
         * otherwise meet the previous iteration's departed members and wait
         * out their session timeout (~45 s) before getting partitions. */
        w->broker = job->opts.spare ? jb_broker_spare_take(job->opts.spare, err, sizeof err)
                                    : jb_broker_start(NULL, err, sizeof err);
        if (!w->broker)
            return job_fail(job, "boot", NULL, "cannot start the services' embedded broker: %s",
                            err);
        pc.brokers = jb_broker_bootstrap(w->broker);
    } else if (!prepare_bus(w, err, sizeof err)) {
        return job_fail(job, "boot", NULL, "%s", err);
    }
    w->platform = jb_platform_open(&pc, err, sizeof err);
    if (!w->platform)
        return job_fail(job, "boot", NULL, "%s", err);
    const char *names[JB_CFG_MAX_SERVICES];
    for (size_t i = 0; i < job->cfg->nservices; i++)
        names[i] = job->cfg->services[i].name;
    if (!jb_platform_prepare(w->platform, names, job->cfg->nservices, err, sizeof err))
        return job_fail(job, "boot", NULL, "%s", err);
    return true;
}

/* <run>/<platform>/<iteration>/<64 random bits>: unique even when an
 * earlier run of the same config left a Jung on the same address. */
static void make_gateway_id(job_work *w)
{
    uint64_t nonce = 0;
    if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce)
        nonce = (uint64_t)jb_now_ms() ^ (uint64_t)getpid() << 32;
    snprintf(w->gateway_id, sizeof w->gateway_id, "%s/%s/%ld/%016llx", w->job->run.run_id,
             w->pl->name, w->job->run.iteration, (unsigned long long)nonce);
}

/* Instance `index` of svc as this iteration starts it: the launch plan with
 * the iteration's gateway id and topic prefix. */
static bool make_plan(job_work *w, const jb_config_service *svc, int index, jb_launch_plan *plan)
{
    jb_launch_plan_make(w->job->cfg, w->pl, svc->name, index, plan);
    if (strcmp(svc->name, "api_gateway") == 0 &&
        !jb_launch_plan_add_env(plan, "JUNG_GATEWAY_ID", w->gateway_id))
        return job_fail(w->job, "boot", svc->name, "no room for JUNG_GATEWAY_ID");
    if (w->topic_prefix[0] && !jb_launch_plan_add_env(plan, "JUNG_TOPIC_PREFIX", w->topic_prefix))
        return job_fail(w->job, "boot", svc->name, "no room for JUNG_TOPIC_PREFIX");
    return true;
}

/* Keeps the instances that started, in order: a failed start leaves holes,
 * and teardown stops w->inst[0..ninst). */
static void keep_started(job_work *w, size_t n)
{
    w->ninst = 0;
    for (size_t i = 0; i < n; i++)
        if (w->inst[i])
            w->inst[w->ninst++] = w->inst[i];
}

/* Every instance at once (jb_platform_start_many), then their readiness. */
static bool start_services(job_work *w)
{
    const jb_config *cfg = w->job->cfg;
    char err[2048];
    make_gateway_id(w);
    size_t n = 0;
    for (size_t s = 0; s < cfg->nservices; s++)
        n += (size_t)(cfg->services[s].replicas > 0 ? cfg->services[s].replicas : 0);
    if (n > JOB_MAX_INSTANCES)
        return job_fail(w->job, "boot", NULL, "%zu instances: at most %d", n, JOB_MAX_INSTANCES);
    jb_launch_plan *plans = calloc(n ? n : 1, sizeof *plans);
    const jb_instance_spec *specs[JOB_MAX_INSTANCES];
    if (!plans)
        return job_fail(w->job, "boot", NULL, "out of memory");
    bool ok = true;
    size_t k = 0;
    for (size_t s = 0; s < cfg->nservices && ok; s++)
        for (int i = 1; i <= cfg->services[s].replicas && ok; i++, k++) {
            ok = make_plan(w, &cfg->services[s], i, &plans[k]);
            specs[k] = &plans[k].spec;
        }
    if (ok && !stop_asked(w->job)) {
        ok = jb_platform_start_many(w->platform, specs, n, w->inst, err, sizeof err);
        size_t failed = 0;
        while (failed < n && w->inst[failed])
            failed++;
        if (!ok)
            job_fail(w->job, "boot", failed < n ? specs[failed]->service : NULL, "%s", err);
        keep_started(w, n);
    }
    free(plans);
    if (!ok)
        return false;
    if (stop_asked(w->job))
        return job_fail(w->job, "boot", NULL, "stopped while booting");
    if (!jb_instances_wait_ready(w->inst, w->ninst, (double)w->pl->ready_timeout_ms, err,
                                 sizeof err))
        return job_fail(w->job, "ready", NULL, "%s", err);
    return true;
}

static bool add_instance_group(job_work *w, const jb_instance_info *info, char *err, size_t errlen)
{
    if (info->cgroup[0])
        return jb_sampler_add_cgroup(w->sampler, info->instance, JB_GROUP_SERVICE, info->cgroup,
                                     err, errlen);
    return jb_sampler_add_pids(w->sampler, info->instance, JB_GROUP_SERVICE, info->pids,
                               info->npids, err, errlen);
}

static bool start_sampler(job_work *w)
{
    runner_job *job = w->job;
    jb_sampler_config sc;
    jb_sampler_config_init(&sc);
    sc.interval_ms = (double)job->cfg->metrics.interval_ms;
    sc.db_path = job->results_db;
    sc.run_id = job->run.run_id;
    sc.platform = job->run.platform;
    sc.iteration = (int)job->run.iteration;
    char err[1024];
    w->sampler = jb_sampler_new(&sc, err, sizeof err);
    if (!w->sampler)
        return job_fail(job, "metrics", NULL, "%s", err);
    for (size_t i = 0; i < w->ninst; i++) {
        const jb_instance_info *info = jb_instance_get_info(w->inst[i]);
        if (!add_instance_group(w, info, err, sizeof err))
            return job_fail(job, "metrics", info->service, "cannot sample %s: %s", info->instance,
                            err);
    }
    unsigned daemons = jb_platform_runtime_daemons(w->platform);
    if (job->cfg->metrics.runtime_daemons && daemons &&
        !jb_sampler_add_runtime_daemons(w->sampler, daemons, err, sizeof err))
        return job_fail(job, "metrics", NULL, "%s", err);
    if (!jb_sampler_start(w->sampler, err, sizeof err))
        return job_fail(job, "metrics", NULL, "%s", err);
    return true;
}

/* image_sizes rows (figure 25) of this platform's images, measured where
 * they are. Every iteration rewrites the same rows (the key is run and
 * platform), so a resumed run has them too. A size that cannot be measured
 * is no reason to lose the iteration: it is said on stderr. */
static void record_image_sizes(job_work *w, jb_store *store)
{
    const jb_config *cfg = w->job->cfg;
    const char *names[JB_CFG_MAX_SERVICES];
    for (size_t i = 0; i < cfg->nservices; i++)
        names[i] = cfg->services[i].name;
    char err[1024];
    if (!jb_platform_store_image_sizes(w->platform, store, w->job->run.run_id, w->pl->name, names,
                                       cfg->nservices, err, sizeof err))
        fprintf(stderr, "jungbench runner: image sizes of platform %s not recorded: %s\n",
                w->pl->name, err);
}

/* boot_times rows and READY's services array. */
static bool record_boot(job_work *w, json_t *services)
{
    runner_job *job = w->job;
    jb_store store;
    char err[1024];
    if (!jb_store_open(&store, job->results_db, err, sizeof err))
        return job_fail(job, "boot", NULL, "%s", err);
    bool ok = true;
    for (size_t i = 0; i < w->ninst; i++) {
        const jb_instance_info *info = jb_instance_get_info(w->inst[i]);
        jb_store_boot_time bt = {.run_id = job->run.run_id,
                                 .platform = job->run.platform,
                                 .iteration = job->run.iteration,
                                 .service = info->service,
                                 .instance = info->instance,
                                 .boot_ms = info->boot_ms,
                                 .ready_ms = info->ready_ms,
                                 .process_ready_ms = info->process_ready_ms,
                                 .accel = info->accel,
                                 .log_path = info->log_path};
        ok = jb_store_add_boot_time(&store, &bt) && ok;
        json_t *pids = json_array();
        for (size_t k = 0; k < info->npids; k++)
            json_array_append_new(pids, json_integer(info->pids[k]));
        json_t *s = json_pack("{s:s, s:s, s:f, s:f, s:o, s:s}", "service", info->service,
                              "instance", info->instance, "boot_ms", info->boot_ms, "ready_ms",
                              info->ready_ms, "pids", pids, "log", info->log_path);
        /* Only when seen: the controller stores a missing one as NULL. */
        if (info->process_ready_ms >= 0)
            json_object_set_new(s, "process_ready_ms", json_real(info->process_ready_ms));
        json_array_append_new(services, s);
    }
    if (!jb_store_set_platform_build(&store, job->run.run_id, job->run.platform,
                                     jb_platform_build(w->platform)))
        fprintf(stderr, "jungbench runner: build of platform %s not recorded: %s\n",
                job->run.platform, sqlite3_errmsg(store.db));
    record_image_sizes(w, &store);
    jb_store_close(&store);
    return ok || job_fail(job, "boot", NULL, "cannot record boot times in %s", job->results_db);
}

/* How busy the machine is just before the services start: a short probe
 * of free CPU, then the start of the iteration's own interval. */
static void probe_machine(job_work *w)
{
    jb_machine_times a;
    double steal;
    w->have_load = jb_machine_read(&a);
    usleep(200 * 1000);
    w->have_load = w->have_load && jb_machine_read(&w->load_start);
    if (w->have_load)
        jb_machine_between(&a, &w->load_start, &w->idle_before_pct, &steal);
}

/* The iteration_load row: before, and over boot to teardown. */
static void record_machine(job_work *w)
{
    jb_machine_times end;
    if (!w->have_load || !jb_machine_read(&end))
        return;
    runner_job *job = w->job;
    jb_store_iteration_load l = {.run_id = job->run.run_id,
                                 .platform = job->run.platform,
                                 .iteration = job->run.iteration,
                                 .load1_before = w->load_start.load1,
                                 .idle_before_pct = w->idle_before_pct,
                                 .load1_after = end.load1};
    jb_machine_between(&w->load_start, &end, &l.idle_pct, &l.steal_pct);
    /* Free CPU during the iteration is recorded but does not decide: the
     * benchmark itself (Jung and the load generator) takes the CPU then, so
     * on a quiet 2-core machine it is near 0. Other work shows in the probe
     * just before the services start, and a hypervisor's in the steal. */
    l.busy = l.idle_before_pct < JB_MACHINE_IDLE_PCT || l.steal_pct > 5;
    jb_store store;
    char err[512];
    if (!jb_store_open(&store, job->results_db, err, sizeof err))
        return;
    if (!jb_store_set_iteration_load(&store, &l))
        fprintf(stderr, "jungbench runner: machine load not recorded: %s\n",
                sqlite3_errmsg(store.db));
    jb_store_close(&store);
}

static bool boot(job_work *w)
{
    trace(w->job, "boot starts");
    probe_machine(w);
    if (!parse_config(w) || !open_platform(w))
        return false;
    trace(w->job, "platform open");
    if (!start_services(w))
        return false;
    trace(w->job, "services ready");
    if (!start_sampler(w))
        return false;
    trace(w->job, "sampler started");
    json_t *services = json_array();
    if (!record_boot(w, services)) {
        json_decref(services);
        return false;
    }
    jb_instance *gateway = NULL;
    for (size_t i = 0; i < w->ninst && !gateway; i++)
        if (strcmp(jb_instance_get_info(w->inst[i])->service, "api_gateway") == 0)
            gateway = w->inst[i];
    const char *http = gateway ? jb_instance_ready_value(gateway, "http") : NULL;
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:o}", "endpoint", http ? http : "",
                             "gateway_id", w->gateway_id, "accel", jb_platform_accel(w->platform),
                             "build", jb_platform_build(w->platform), "services", services);
    pthread_mutex_lock(&w->job->mu);
    w->job->ready_body = body;
    pthread_mutex_unlock(&w->job->mu);
    if (gateway && !http)
        return job_fail(w->job, "ready", "api_gateway",
                        "api_gateway's readiness line has no http=URL");
    return true;
}

/* ---- running and teardown --------------------------------------------------------- */

/* Waits for STOP; false when an instance died on its own first. */
static bool wait_for_stop(job_work *w)
{
    runner_job *job = w->job;
    while (!stop_asked(job)) {
        for (size_t i = 0; i < w->ninst; i++) {
            if (jb_instance_alive(w->inst[i]))
                continue;
            const jb_instance_info *info = jb_instance_get_info(w->inst[i]);
            const char *why = jb_instance_exit_reason(w->inst[i]);
            return job_fail(job, "run", info->service,
                            "%s stopped on its own while the load ran%s%s (log: %s)",
                            info->instance, why[0] ? ": " : "", why,
                            info->log_path[0] ? info->log_path : "none");
        }
        pthread_mutex_lock(&job->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 300 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (!job->stop_asked)
            pthread_cond_timedwait(&job->cond, &job->mu, &until);
        pthread_mutex_unlock(&job->mu);
    }
    return true;
}

/* A figure not measured (NAN, peak -1) is left out, not sent as 0: JSON
 * has no NaN, and the controller stores an absent one as NULL. */
static void put_real(json_t *o, const char *key, double v)
{
    if (isfinite(v))
        json_object_set_new(o, key, json_real(v));
}

static void put_kb(json_t *o, const char *key, int64_t kb)
{
    if (kb >= 0)
        json_object_set_new(o, key, json_integer((json_int_t)kb));
}

/* Every figure of a summary: the controller's table must equal the runner's.
 * The CPU and RSS figures are required (bus/protocol.c), the rest optional. */
static json_t *summary_json(const jb_metric_summary *s)
{
    json_t *o =
        json_pack("{s:s, s:s, s:I, s:f, s:f, s:f, s:f, s:I, s:s}", "grp", s->grp, "kind",
                  jb_group_kind_name(s->kind), "samples", (json_int_t)s->samples, "cpu_mean",
                  s->cpu_mean, "cpu_sd", s->cpu_sd, "cpu_seconds", s->cpu_seconds, "rss_mean_kb",
                  s->rss_mean_kb, "rss_peak_kb", (json_int_t)s->rss_peak_kb, "source", s->source);
    if (!o)
        return NULL;
    put_real(o, "pss_mean_kb", s->pss_mean_kb);
    put_kb(o, "pss_peak_kb", s->pss_peak_kb);
    put_real(o, "cgroup_mem_mean_kb", s->cgroup_mem_mean_kb);
    put_kb(o, "cgroup_mem_peak_kb", s->cgroup_mem_peak_kb);
    put_real(o, "cgroup_cpu_mean", s->cgroup_cpu_mean);
    return o;
}

static long count_metric_samples(const runner_job *job)
{
    jb_store store;
    char err[512];
    long n = -1;
    if (!jb_store_open_readonly(&store, job->results_db, err, sizeof err))
        return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store.db,
                           "SELECT count(*) FROM metric_samples WHERE run_id=? AND platform=? "
                           "AND iteration=?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, job->run.run_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, job->run.platform, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, job->run.iteration);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    jb_store_close(&store);
    return n;
}

/* Stops sampling and writes the summaries; builds RESULTS. */
static void finish_metrics(job_work *w)
{
    runner_job *job = w->job;
    if (!w->sampler)
        return;
    char err[1024];
    if (!jb_sampler_stop(w->sampler, err, sizeof err) ||
        !jb_sampler_write_summaries(w->sampler, err, sizeof err))
        job_fail(job, "metrics", NULL, "%s", err);
    jb_metric_summary sums[JOB_MAX_INSTANCES + 8];
    size_t n = jb_sampler_summaries(w->sampler, sums, sizeof sums / sizeof sums[0]);
    if (n > sizeof sums / sizeof sums[0])
        n = sizeof sums / sizeof sums[0];
    json_t *metrics = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(metrics, summary_json(&sums[i]));
    jb_sampler_free(w->sampler);
    w->sampler = NULL;
    json_t *body = json_pack("{s:s, s:o, s:I}", "results_db", job->results_db, "metrics", metrics,
                             "metric_samples", (json_int_t)count_metric_samples(job));
    pthread_mutex_lock(&job->mu);
    job->results_body = body;
    pthread_mutex_unlock(&job->mu);
}

/* stop_times rows: how each instance stopped (time to exit, SIGKILL). */
static void record_stops(job_work *w, const jb_stop_record *recs, size_t n)
{
    runner_job *job = w->job;
    jb_store store;
    char err[1024];
    if (!jb_store_open(&store, job->results_db, err, sizeof err)) {
        fprintf(stderr, "jungbench runner: stop times not recorded: %s\n", err);
        return;
    }
    jb_store_begin(&store);
    for (size_t i = 0; i < n; i++) {
        jb_store_stop_time t = {.run_id = job->run.run_id,
                                .platform = job->run.platform,
                                .iteration = job->run.iteration,
                                .service = recs[i].service,
                                .instance = recs[i].instance,
                                .stop_ms = recs[i].signalled ? recs[i].stop_ms : -1,
                                .killed = recs[i].killed,
                                .exit_code = recs[i].exit_code,
                                .exit = recs[i].exit};
        if (!jb_store_add_stop_time(&store, &t))
            fprintf(stderr, "jungbench runner: stop time of %s not recorded: %s\n",
                    recs[i].instance, sqlite3_errmsg(store.db));
    }
    jb_store_commit(&store);
    jb_store_close(&store);
}

/* Signals every instance first (the gateway first), then waits for each,
 * so their grace periods overlap instead of adding up. */
static void teardown(job_work *w)
{
    char err[1024];
    static_assert(JB_STORE_EXIT_UNKNOWN == -1000, "jb_stop_record's unknown exit code");
    jb_stop_record recs[JOB_MAX_INSTANCES];
    if (w->ninst > 0 && !jb_instances_stop_recorded(w->inst, w->ninst, recs, err, sizeof err))
        job_fail(w->job, "stop", NULL, "%s", err);
    if (w->ninst > 0)
        record_stops(w, recs, w->ninst);
    w->ninst = 0;
    if (w->platform)
        jb_platform_close(w->platform);
    w->platform = NULL;
    jb_broker_stop(w->broker);
    w->broker = NULL;
}

/* This host's environment, described once per runner process (it runs
 * `docker version` and `qemu-system-x86_64 --version`); a new reference. */
static json_t *host_environment(const char *brokers)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static json_t *env;
    pthread_mutex_lock(&lock);
    if (!env) {
        char *text = jb_host_environment(brokers);
        env = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
    }
    json_t *copy = json_incref(env);
    pthread_mutex_unlock(&lock);
    return copy;
}

/* Rows of a parted table per ROWS message: ~250 bytes each as JSON, so a
 * part stays far below Kafka's 1 MB message limit. */
#define JOB_ROWS_PER_PART 1000

/* The parted tables' rows in parts of JOB_ROWS_PER_PART; `parts` gets the
 * count per table (0 parts: no rows). */
static json_t *split_parted_rows(jb_store *store, const runner_job *job, json_t *parts)
{
    json_t *all = json_array();
    for (const char *const *t = jb_store_parted_tables; all && *t; t++) {
        json_t *rows =
            jb_store_rows_json(store, *t, job->run.run_id, job->run.platform, job->run.iteration);
        size_t n = json_array_size(rows), nparts = (n + JOB_ROWS_PER_PART - 1) / JOB_ROWS_PER_PART;
        for (size_t k = 0; k < nparts; k++) {
            json_t *part = json_array();
            for (size_t i = k * JOB_ROWS_PER_PART; i < n && i < (k + 1) * JOB_ROWS_PER_PART; i++)
                json_array_append(part, json_array_get(rows, i));
            json_array_append_new(all, json_pack("{s:s, s:o}", "table", *t, "rows", part));
        }
        json_object_set_new(parts, *t, json_integer((json_int_t)nparts));
        json_decref(rows);
    }
    return all;
}

/* RESULTS carries the iteration's stop_times, iteration_load and
 * image_sizes rows too, and this host's environment; its metric_samples
 * follow in ROWS parts (row_parts). A controller on another machine has no
 * other way to them (docs/protocol.md); one that shares our database (RUN
 * named the file we wrote) gets no parts. Read back after the teardown
 * wrote stop_times. */
static void attach_own_rows(runner_job *job)
{
    jb_store store;
    char err[512];
    if (!jb_store_open_readonly(&store, job->results_db, err, sizeof err))
        return;
    json_t *rows = json_object(), *parts = json_object(), *row_parts = NULL;
    for (const char *const *t = jb_store_forwarded_tables; rows && *t; t++) {
        json_t *r =
            jb_store_rows_json(&store, *t, job->run.run_id, job->run.platform, job->run.iteration);
        if (r)
            json_object_set_new(rows, *t, r);
    }
    bool own_db = strcmp(job->results_db, jb_msg_str(&job->run, "results_db")) != 0;
    if (own_db)
        row_parts = split_parted_rows(&store, job, parts);
    jb_store_close(&store);
    json_t *env = own_db ? host_environment(job->opts.brokers) : NULL;
    pthread_mutex_lock(&job->mu);
    if (job->results_body && rows) {
        json_object_set_new(job->results_body, "rows", rows);
        json_object_set_new(job->results_body, "parts", parts);
        if (env)
            json_object_set_new(job->results_body, "environment", env);
        job->row_parts = row_parts;
    } else {
        json_decref(rows);
        json_decref(parts);
        json_decref(env);
        json_decref(row_parts);
    }
    pthread_mutex_unlock(&job->mu);
}

static void *job_main(void *arg)
{
    job_work w = {.job = arg};
    bool ok = boot(&w);
    if (ok) {
        set_state(w.job, JOB_READY);
        ok = wait_for_stop(&w);
    }
    set_state(w.job, JOB_STOPPING);
    trace(w.job, "stopping");
    record_machine(&w);
    finish_metrics(&w);
    trace(w.job, "metrics written");
    teardown(&w);
    trace(w.job, "torn down");
    attach_own_rows(w.job);
    pthread_mutex_lock(&w.job->mu);
    /* A service that needed SIGKILL does not spoil measurements already
     * taken: RESULTS carries it as a warning instead of failing the iteration. */
    bool failed = !ok || (w.job->err_text[0] && strcmp(w.job->err_phase, "stop") != 0);
    if (!failed && w.job->err_text[0] && w.job->results_body)
        json_object_set_new(w.job->results_body, "warning", json_string(w.job->err_text));
    pthread_mutex_unlock(&w.job->mu);
    set_state(w.job, failed ? JOB_FAILED : JOB_DONE);
    return NULL;
}

/* ---- the job object ------------------------------------------------------------------ */

static bool results_path(runner_job *job, char *err, size_t errlen)
{
    const char *wanted = jb_msg_str(&job->run, "results_db");
    if (job->opts.results_dir)
        snprintf(job->results_db, sizeof job->results_db, "%s/%s/results.db", job->opts.results_dir,
                 job->run.run_id);
    else
        snprintf(job->results_db, sizeof job->results_db, "%s", wanted);
    if (!job->results_db[0])
        return snprintf(err, errlen, "RUN has an empty results_db and the runner no --results"),
               false;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", job->results_db);
    if (!mkdirs(dirname(dir)))
        return snprintf(err, errlen, "cannot create the folder of %s: %s", job->results_db,
                        strerror(errno)),
               false;
    return true;
}

runner_job *runner_job_start(jb_msg *run, const runner_job_options *opts, char *err, size_t errlen)
{
    runner_job *job = calloc(1, sizeof *job);
    jb_config *cfg = malloc(sizeof *cfg);
    if (!job || !cfg) {
        free(job);
        free(cfg);
        jb_msg_clear(run);
        return snprintf(err, errlen, "out of memory"), NULL;
    }
    job->run = *run;
    memset(run, 0, sizeof *run);
    job->opts = *opts;
    job->cfg = cfg;
    pthread_mutex_init(&job->mu, NULL);
    pthread_cond_init(&job->cond, NULL);
    job->state = JOB_BOOTING;
    bool ok = results_path(job, err, errlen);
    int e = ok ? pthread_create(&job->thread, NULL, job_main, job) : 0;
    if (ok && e == 0)
        return job;
    if (e)
        snprintf(err, errlen, "cannot start the job thread: %s", strerror(e));
    jb_msg_clear(&job->run);
    pthread_mutex_destroy(&job->mu);
    pthread_cond_destroy(&job->cond);
    free(job->cfg);
    free(job);
    return NULL;
}

void runner_job_ask_stop(runner_job *job)
{
    pthread_mutex_lock(&job->mu);
    job->stop_asked = true;
    pthread_cond_broadcast(&job->cond);
    pthread_mutex_unlock(&job->mu);
}

job_state runner_job_state(runner_job *job)
{
    pthread_mutex_lock(&job->mu);
    job_state s = job->state;
    pthread_mutex_unlock(&job->mu);
    return s;
}

void runner_job_free(runner_job *job)
{
    if (!job)
        return;
    runner_job_ask_stop(job);
    pthread_join(job->thread, NULL);
    json_decref(job->ready_body);
    json_decref(job->results_body);
    json_decref(job->row_parts);
    jb_msg_clear(&job->run);
    pthread_mutex_destroy(&job->mu);
    pthread_cond_destroy(&job->cond);
    free(job->cfg);
    free(job);
}
