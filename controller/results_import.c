/* results_import.c - what a runner measured, from its messages into the
 * controller's results.db: RESULTS' summaries, boot, stop and image
 * figures, and the time series that come in ROWS parts (docs/protocol.md),
 * when the runner wrote to a database of its own (another machine). */
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

/* When the runner wrote to another database (a runner on another machine
 * with --results), its summaries and boot times come from the messages. */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* A figure the runner did not measure is absent from its message: NAN or
 * -1, stored NULL as the runner's own database has it. */
static double number_or_nan(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static long long kb_or_none(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* Every field of a RESULTS metrics entry (runner/job.c summary_json). */
static jb_store_metric_summary summary_from_json(const json_t *m)
{
    return (jb_store_metric_summary){.grp = json_string_value(json_object_get(m, "grp")),
                                     .kind = json_string_value(json_object_get(m, "kind")),
                                     .source = json_string_value(json_object_get(m, "source")),
                                     .samples =
                                         (long)json_integer_value(json_object_get(m, "samples")),
                                     .cpu_mean = number_or_nan(m, "cpu_mean"),
                                     .cpu_sd = number_or_nan(m, "cpu_sd"),
                                     .cpu_seconds = number_or_nan(m, "cpu_seconds"),
                                     .rss_mean_kb = number_or_nan(m, "rss_mean_kb"),
                                     .pss_mean_kb = number_or_nan(m, "pss_mean_kb"),
                                     .cgroup_mem_mean_kb = number_or_nan(m, "cgroup_mem_mean_kb"),
                                     .cgroup_cpu_mean = number_or_nan(m, "cgroup_cpu_mean"),
                                     .rss_peak_kb = kb_or_none(m, "rss_peak_kb"),
                                     .pss_peak_kb = kb_or_none(m, "pss_peak_kb"),
                                     .cgroup_mem_peak_kb = kb_or_none(m, "cgroup_mem_peak_kb")};
}

/* The key a ROWS part is kept under in row_parts[table]: its number. */
enum { PART_KEY_SIZE = 24 };
static void part_key(char key[PART_KEY_SIZE], json_int_t part)
{
    snprintf(key, PART_KEY_SIZE, "%lld", (long long)part);
}

/* A ROWS part, kept by table and part number: a duplicate replaces its
 * copy, so each part is stored once. */
void ctl_keep_row_part(ctl *c, const jb_msg *m)
{
    if (!c->row_parts)
        c->row_parts = json_object();
    const char *table = jb_msg_str(m, "table");
    json_t *parts = json_object_get(c->row_parts, table);
    if (!parts) {
        parts = json_object();
        json_object_set_new(c->row_parts, table, parts);
    }
    char key[PART_KEY_SIZE];
    part_key(key, json_integer_value(json_object_get(m->body, "part")));
    json_object_set(parts, key, json_object_get(m->body, "rows"));
}

/* Part K (from 1) of TABLE's ROWS, as it arrived; NULL if it has not. */
static json_t *row_part(const ctl *c, const char *table, json_int_t k)
{
    char key[PART_KEY_SIZE];
    part_key(key, k);
    return json_object_get(json_object_get(c->row_parts, table), key);
}

/* The ROWS parts RESULTS announced that have not arrived (0: complete). */
long ctl_missing_row_parts(const ctl *c)
{
    long missing = 0;
    const char *table;
    json_t *n;
    json_object_foreach(json_object_get(c->results, "parts"), table, n)
    {
        for (json_int_t k = 1; k <= json_integer_value(n); k++)
            missing += row_part(c, table, k) == NULL;
    }
    return missing;
}

/* The ROWS parts (metric_samples) in part order; a part that never came is
 * said in the iteration's warning, the parts that did are kept. */
static void import_row_parts(ctl *c, const char *platform, long iteration)
{
    const char *table;
    json_t *n;
    json_object_foreach(json_object_get(c->results, "parts"), table, n)
    {
        for (json_int_t k = 1; k <= json_integer_value(n); k++) {
            json_t *rows = row_part(c, table, k);
            if (rows)
                jb_store_insert_rows_json(&c->store, table, rows, c->run_id, platform, iteration);
        }
    }
    long missing = ctl_missing_row_parts(c);
    if (missing > 0)
        snprintf(c->import_warning, sizeof c->import_warning,
                 "%ld ROWS part(s) of the runner's metric_samples never arrived: the time "
                 "series of this iteration is incomplete (its summaries are whole)",
                 missing);
}

/* The runner's own machine (its RESULTS environment), in runner_hosts. */
static void import_runner_host(ctl *c)
{
    json_t *env = json_object_get(c->results, "environment");
    if (!json_is_object(env))
        return;
    char *text = json_dumps(env, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    jb_store_put_runner_host(&c->store, c->run_id, c->runner_id,
                             json_string_value(json_object_get(env, "hostname")), text);
    free(text);
}

void ctl_import_from_messages(ctl *c, const char *platform, long iteration)
{
    const char *runner_db = json_string_value(json_object_get(c->results, "results_db"));
    if (!runner_db || same_file(runner_db, c->db_path))
        return;
    size_t i;
    json_t *m;
    const json_t *rows = json_object_get(c->results, "rows");
    for (const char *const *t = jb_store_forwarded_tables; *t; t++)
        if (json_object_get(rows, *t))
            jb_store_insert_rows_json(&c->store, *t, json_object_get(rows, *t), c->run_id, platform,
                                      iteration);
    import_row_parts(c, platform, iteration);
    import_runner_host(c);
    json_array_foreach(json_object_get(c->results, "metrics"), i, m)
    {
        jb_store_metric_summary ms = summary_from_json(m);
        ms.run_id = c->run_id;
        ms.platform = platform;
        ms.iteration = iteration;
        jb_store_put_metric_summary(&c->store, &ms);
    }
    json_array_foreach(json_object_get(c->ready, "services"), i, m)
    {
        const json_t *pr = json_object_get(m, "process_ready_ms");
        jb_store_boot_time bt = {.run_id = c->run_id,
                                 .platform = platform,
                                 .iteration = iteration,
                                 .service = json_string_value(json_object_get(m, "service")),
                                 .instance = json_string_value(json_object_get(m, "instance")),
                                 .boot_ms = json_number_value(json_object_get(m, "boot_ms")),
                                 .ready_ms = json_number_value(json_object_get(m, "ready_ms")),
                                 .process_ready_ms =
                                     json_is_number(pr) ? json_number_value(pr) : -1,
                                 .accel = json_string_value(json_object_get(c->ready, "accel")),
                                 .log_path = json_string_value(json_object_get(m, "log"))};
        jb_store_add_boot_time(&c->store, &bt);
    }
    const char *build = json_string_value(json_object_get(c->ready, "build"));
    if (build)
        jb_store_set_platform_build(&c->store, c->run_id, platform, build);
}
