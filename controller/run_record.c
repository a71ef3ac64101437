/* run_record.c - the run's folder and its record: a new run's config.json,
 * environment.json and runs row, --resume's checks, the lock that keeps a
 * second controller off a run, and the run's end (status, summary tables,
 * thresholds). */
#include "controller/ctl.h"
#include "cli/cli.h"
#include "runner/runner.h"
#include "report/report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    return fclose(f) == 0 && ok;
}

static bool mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

/* A config differs from the run's when anything but its file name does. */
static bool same_config(const char *stored, const char *current)
{
    json_t *a = json_loads(stored ? stored : "", 0, NULL), *b = json_loads(current, 0, NULL);
    if (a)
        json_object_del(a, "file");
    if (b)
        json_object_del(b, "file");
    bool same = a && b && json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return same;
}

/* One platforms row per configured platform, from the config as run. */
static bool record_platforms(ctl *c, const char *config_json)
{
    json_t *cfg = json_loads(config_json, 0, NULL);
    bool ok = cfg != NULL;
    size_t i;
    json_t *pl;
    json_array_foreach(json_object_get(cfg, "platforms"), i, pl)
    {
        if (!ok)
            break;
        char *settings = json_dumps(pl, JSON_COMPACT | JSON_PRESERVE_ORDER);
        ok = settings && jb_store_put_platform(
                             &c->store, c->run_id, json_string_value(json_object_get(pl, "name")),
                             json_string_value(json_object_get(pl, "driver")), settings);
        free(settings);
    }
    json_decref(cfg);
    return ok;
}

static bool start_new_run(ctl *c, const char *config_json)
{
    char *env = jb_host_environment(c->o->broker_desc);
    const jb_store_run run = {.run_id = c->run_id,
                              .name = c->cfg->name,
                              .config = config_json,
                              .environment = env,
                              .started_ms = jb_wall_ms()};
    bool ok = env && write_file(c->dir, "config.json", config_json) &&
              write_file(c->dir, "environment.json", env) &&
              jb_store_add_run(&c->store, &run, NULL) && record_platforms(c, config_json);
    if (!ok)
        jb_fail(CTL_CMD, "cannot record the run in %s: %s", c->db_path,
                env ? jb_store_errmsg(&c->store) : "out of memory");
    free(env);
    return ok;
}

/* --resume: the run must exist and have been started with this config. */
static bool continue_run(ctl *c, const char *config_json)
{
    sqlite3_stmt *st = NULL;
    char stored_status[32] = "";
    char *stored = NULL;
    if (sqlite3_prepare_v2(c->store.db, "SELECT config, status FROM runs WHERE run_id=?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c->run_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *text = sqlite3_column_text(st, 0);
            stored = strdup(text ? (const char *)text : "");
            const unsigned char *status = sqlite3_column_text(st, 1);
            snprintf(stored_status, sizeof stored_status, "%s", status ? (const char *)status : "");
        }
    }
    sqlite3_finalize(st);
    if (!stored)
        return jb_fail(CTL_CMD, "--resume %s: %s has no run %s", c->run_id, c->db_path, c->run_id),
               false;
    bool same = same_config(stored, config_json);
    free(stored);
    if (!same)
        return jb_fail(CTL_CMD,
                       "--resume %s: the config differs from the one the run started with (%s/"
                       "config.json); resume with that config",
                       c->run_id, c->dir),
               false;
    ctl_set_run_status(c, "running");
    ctl_say(c, "resuming run %s (was %s)\n", c->run_id, stored_status);
    return true;
}

/* A second controller on the same run (a --resume while the run still
 * goes) would interleave iterations; the kernel drops the lock when its
 * holder dies, even by SIGKILL, so a crashed run stays resumable. */
static bool lock_run(ctl *c)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lock", c->dir);
    c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (c->lock_fd < 0)
        return jb_fail(CTL_CMD, "cannot create %s: %s", path, strerror(errno)), false;
    if (flock(c->lock_fd, LOCK_EX | LOCK_NB) == 0)
        return true;
    return jb_fail(CTL_CMD,
                   "run %s is in use by another jungbench (%s is locked); wait for it "
                   "or stop it first",
                   c->run_id, path),
           false;
}

bool jb_controller_run_in_use(const char *out_root, const char *run_id)
{
    char path[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/%s/lock", out_root, run_id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false; /* no such run yet: open_run says so */
    bool busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* releases the lock when we got it */
    return busy;
}

bool ctl_open_run(ctl *c)
{
    const jb_config *cfg = c->cfg;
    if (c->o->resume_run_id) {
        snprintf(c->run_id, sizeof c->run_id, "%s", c->o->resume_run_id);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        char stamp[20];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(c->run_id, sizeof c->run_id, "%.40s-%s", cfg->name, stamp);
    }
    snprintf(c->dir, sizeof c->dir, "%s/%s", c->o->out_root, c->run_id);
    snprintf(c->db_path, sizeof c->db_path, "%s/results.db", c->dir);
    if (c->o->resume_run_id && access(c->db_path, F_OK) != 0)
        return jb_fail(CTL_CMD, "--resume %s: no %s (is --out the same as the run's?)", c->run_id,
                       c->db_path),
               false;
    if (!c->o->resume_run_id && access(c->dir, F_OK) == 0)
        return jb_fail(CTL_CMD, "%s already exists: wait a second or use --out", c->dir), false;
    if (!mkdirs(c->dir))
        return jb_fail(CTL_CMD, "cannot create %s: %s", c->dir, strerror(errno)), false;
    if (!lock_run(c))
        return false;
    char err[1024];
    if (!jb_store_open(&c->store, c->db_path, err, sizeof err))
        return jb_fail(CTL_CMD, "%s", err), false;
    char *config_json = jb_config_to_json(cfg);
    bool ok = config_json &&
              (c->o->resume_run_id ? continue_run(c, config_json) : start_new_run(c, config_json));
    free(config_json);
    return ok;
}

/* The config's thresholds over the finished run; false when one is breached
 * (named on stderr) or the run cannot be read back to check them. */
static bool thresholds_hold(ctl *c)
{
    if (c->cfg->nthresholds == 0)
        return true;
    char err[1024];
    int checked = 0;
    int breached = jb_report_check_thresholds(
        c->dir, c->run_id, CTL_CMD, c->o->quiet ? NULL : stdout, &checked, err, sizeof err);
    if (breached < 0)
        fprintf(stderr, "jungbench %s: cannot check the thresholds: %s\n", CTL_CMD, err);
    return breached == 0;
}

int ctl_finish_run(ctl *c, bool interrupted, bool any_failed)
{
    const char *status = interrupted ? "interrupted" : any_failed ? "failed" : "done";
    ctl_set_run_status(c, status);
    if (interrupted) {
        ctl_say(c,
                "\nInterrupted: every finished iteration is kept in %s\nResume with:\n"
                "  jungbench run %s --out %s --resume %s\n",
                c->db_path, c->cfg->path, c->o->out_root, c->run_id);
        return JB_EXIT_FAIL;
    }
    ctl_say(c, "\nrun %s %s: %s\n\n", c->run_id, status, c->dir);
    char err[1024];
    if (!c->o->quiet && !jb_report_print_text(c->dir, c->run_id, stdout, err, sizeof err))
        fprintf(stderr, "jungbench %s: no summary tables: %s\n", CTL_CMD, err);
    bool breached = !thresholds_hold(c);
    return any_failed || breached ? JB_EXIT_FAIL : JB_EXIT_OK;
}
