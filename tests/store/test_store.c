/* test_store.c - store/: the schema, its writers: schema applied, WAL mode, reopening, foreign
 * and newer databases refused, read-only opens. argv[1]: a scratch folder. */
#include "tests/testlib.h"
#include "store/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[4096];

static const char *path_of(const char *name)
{
    static char path[4200];
    char sidecar[4300];
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    unlink(path);
    snprintf(sidecar, sizeof sidecar, "%s-wal", path); /* a stale WAL from an earlier run */
    unlink(sidecar);
    snprintf(sidecar, sizeof sidecar, "%s-shm", path);
    unlink(sidecar);
    return path;
}

/* First column of the first row of sql as text, or "" */
static void query_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0))
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* Creates a plain SQLite file at path with the given SQL, bypassing jb_store. */
static void make_db(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, sql, 0, 0, 0) != SQLITE_OK) {
        fprintf(stderr, "cannot prepare %s: %s\n", path, sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_close(db);
}

static void test_fresh_database(void)
{
    const char *path = path_of("fresh.db");
    jb_store s;
    char err[512] = "", text[256];
    CHECK(jb_store_open(&s, path, err, sizeof err), "open: %s", err);
    const char *tables[] = {"runs",           "iterations",       "samples",    "load_summaries",
                            "metric_samples", "metric_summaries", "boot_times", "image_sizes"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT name FROM sqlite_master WHERE type='table' AND name='%s'",
                 tables[i]);
        query_text(s.db, sql, text, sizeof text);
        CHECK(strcmp(text, tables[i]) == 0, "table %s missing", tables[i]);
    }
    query_text(s.db, "PRAGMA journal_mode", text, sizeof text);
    CHECK(strcmp(text, "wal") == 0, "journal_mode is '%s', want wal", text);
    query_text(s.db, "SELECT value FROM meta WHERE key='schema_version'", text, sizeof text);
    CHECK(atoi(text) == JB_STORE_SCHEMA_VERSION, "schema_version '%s'", text);

    CHECK(jb_store_begin(&s), "begin");
    CHECK(
        jb_store_exec(&s, "INSERT INTO runs(run_id, status) VALUES('r1', 'done')", err, sizeof err),
        "insert: %s", err);
    CHECK(jb_store_commit(&s), "commit");
    CHECK(!jb_store_exec(&s, "INSERT INTO no_such_table VALUES(1)", err, sizeof err) &&
              strstr(err, "no_such_table"),
          "bad SQL error: %s", err);
    jb_store_close(&s);
    jb_store_close(&s); /* closing twice is harmless */

    /* Reopening keeps the data and the schema version. */
    CHECK(jb_store_open(&s, path, err, sizeof err), "reopen: %s", err);
    query_text(s.db, "SELECT status FROM runs WHERE run_id='r1'", text, sizeof text);
    CHECK(strcmp(text, "done") == 0, "row lost on reopen: '%s'", text);
    jb_store_close(&s);
}

static void test_refusals(void)
{
    jb_store s;
    char err[512] = "";
    const char *foreign = path_of("foreign.db");
    make_db(foreign, "CREATE TABLE customers(id INTEGER); INSERT INTO customers VALUES(1);");
    CHECK(!jb_store_open(&s, foreign, err, sizeof err), "foreign database accepted");
    CHECK(strstr(err, "not a jungbench results database") && strstr(err, foreign), "%s", err);
    CHECK(!s.db, "refused store left open");

    const char *newer = path_of("newer.db");
    make_db(newer, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
                   "INSERT INTO meta VALUES('schema_version','99');");
    CHECK(!jb_store_open(&s, newer, err, sizeof err), "newer schema accepted");
    CHECK(strstr(err, "99") && strstr(err, "newer"), "newer-schema message: %s", err);

    const char *text = path_of("notes.txt");
    FILE *f = fopen(text, "w");
    fputs("these are not the rows you are looking for, just some text to fill the header\n", f);
    fclose(f);
    CHECK(!jb_store_open(&s, text, err, sizeof err), "text file accepted");
    CHECK(strstr(err, "not a SQLite database") || strstr(err, "not a database"), "%s", err);
}

static void test_readonly(void)
{
    jb_store s;
    char err[512] = "";
    const char *missing = path_of("missing.db");
    CHECK(!jb_store_open_readonly(&s, missing, err, sizeof err), "missing file opened");
    CHECK(strstr(err, missing) && strstr(err, "cannot open"), "missing-file message: %s", err);
    struct stat st;
    CHECK(stat(missing, &st) != 0, "read-only open created %s", missing);

    const char *path = path_of("ro.db");
    CHECK(jb_store_open(&s, path, err, sizeof err), "create: %s", err);
    jb_store_close(&s);
    CHECK(jb_store_open_readonly(&s, path, err, sizeof err), "read-only open: %s", err);
    CHECK(!jb_store_exec(&s, "INSERT INTO runs(run_id) VALUES('x')", err, sizeof err),
          "read-only store accepted a write");
    jb_store_close(&s);

    const char *plain = path_of("plain.db");
    make_db(plain, "CREATE TABLE t(x);");
    CHECK(!jb_store_open_readonly(&s, plain, err, sizeof err) &&
              strstr(err, "not a jungbench results database"),
          "plain database read-only: %s", err);
}

/* The writers' NULL rules, the if-absent run, and clearing an iteration. */
static void test_writers(void)
{
    const char *path = path_of("writers.db");
    unlink(path);
    jb_store s;
    char err[512], text[256];
    CHECK(jb_store_open(&s, path, err, sizeof err), "open: %s", err);
    const jb_store_run run = {.run_id = "r", .name = "n", .config = "{}", .started_ms = 1};
    CHECK(jb_store_add_run(&s, &run, NULL), "add run: %s", jb_store_errmsg(&s));
    CHECK(!jb_store_add_run(&s, &run, NULL), "a second run with the same id was accepted");
    bool inserted = true;
    CHECK(jb_store_add_run(&s, &run, &inserted) && !inserted, "if-absent add of an existing run");
    CHECK(jb_store_set_run_status(&s, "r", "done", 5), "set status");
    query_text(s.db,
               "SELECT status || ',' || finished_ms || ',' || (environment IS NULL) FROM runs",
               text, sizeof text);
    CHECK(strcmp(text, "done,5.0,1") == 0, "runs row '%s'", text);

    const jb_store_metric_summary m = {.run_id = "r",
                                       .platform = "p",
                                       .iteration = 1,
                                       .grp = "g-1",
                                       .kind = "service",
                                       .source = "procfs",
                                       .samples = 3,
                                       .cpu_mean = 1.5,
                                       .cpu_sd = NAN,
                                       .cpu_seconds = 0.2,
                                       .rss_mean_kb = 10,
                                       .pss_mean_kb = NAN,
                                       .cgroup_mem_mean_kb = NAN,
                                       .cgroup_cpu_mean = NAN,
                                       .rss_peak_kb = 12,
                                       .pss_peak_kb = -1,
                                       .cgroup_mem_peak_kb = -1};
    CHECK(jb_store_put_metric_summary(&s, &m), "metric summary: %s", jb_store_errmsg(&s));
    query_text(s.db,
               "SELECT rss_peak_kb || ',' || (cpu_sd IS NULL) || (pss_mean_kb IS NULL) ||"
               " (pss_peak_kb IS NULL) || (cgroup_mem_peak_kb IS NULL) FROM metric_summaries",
               text, sizeof text);
    CHECK(strcmp(text, "12,1111") == 0, "not-measured figures must be NULL: '%s'", text);

    const jb_store_boot_time bt = {.run_id = "r",
                                   .platform = "p",
                                   .iteration = 1,
                                   .service = "s",
                                   .instance = "s-1",
                                   .boot_ms = 1,
                                   .ready_ms = 2,
                                   .process_ready_ms = -1,
                                   .accel = "native",
                                   .log_path = ""};
    CHECK(jb_store_add_boot_time(&s, &bt), "boot time: %s", jb_store_errmsg(&s));
    query_text(s.db, "SELECT (process_ready_ms IS NULL) || (log_path IS NULL) FROM boot_times",
               text, sizeof text);
    CHECK(strcmp(text, "11") == 0, "boot_times NULLs '%s'", text);
    const jb_store_iteration it = {.run_id = "r",
                                   .platform = "p",
                                   .iteration = 1,
                                   .started_ms = 1,
                                   .finished_ms = -1,
                                   .status = "running"};
    CHECK(jb_store_put_iteration(&s, &it), "iteration: %s", jb_store_errmsg(&s));

    jb_store_samples w;
    CHECK(jb_store_samples_open(&w, &s, "r", "p", 1), "samples open: %s", jb_store_errmsg(&s));
    CHECK(w.index_deferred, "the index of an empty samples table is not set aside");
    const jb_store_sample row = {.phase = "measure",
                                 .label = "get_user",
                                 .response_code = "200",
                                 .success = true,
                                 .elapsed_us = 1500,
                                 .url = "/u"};
    CHECK(jb_store_begin(&s) && jb_store_samples_put(&w, &row) && jb_store_samples_put(&w, &row) &&
              jb_store_commit(&s),
          "samples put: %s", jb_store_errmsg(&s));
    jb_store_samples_close(&w);
    query_text(s.db, "SELECT count(*) FROM sqlite_master WHERE name='samples_by_iteration'", text,
               sizeof text);
    CHECK(strcmp(text, "1") == 0, "the samples index was not rebuilt on close");

    CHECK(jb_store_clear_iteration(&s, "r", "p", 1), "clear: %s", jb_store_errmsg(&s));
    query_text(s.db,
               "SELECT ((SELECT count(*) FROM samples) + (SELECT count(*) FROM boot_times) +"
               " (SELECT count(*) FROM metric_summaries)) || ',' || (SELECT count(*) FROM"
               " iterations)",
               text, sizeof text);
    CHECK(strcmp(text, "0,1") == 0, "clear_iteration left '%s' (rows, iterations)", text);
    jb_store_close(&s);
}

int main(int argc, char **argv)
{
    snprintf(scratch, sizeof scratch, "%s", argc > 1 ? argv[1] : "/tmp/jb-test-store");
    mkdir(scratch, 0755);
    test_fresh_database();
    test_refusals();
    test_readonly();
    test_writers();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
