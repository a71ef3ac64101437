/* test_store.c - core/store.c: schema applied, WAL mode, reopening, foreign
 * and newer databases refused, read-only opens. argv[1]: a scratch folder. */
#include "tests/testlib.h"
#include "core/store.h"

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

int main(int argc, char **argv)
{
    snprintf(scratch, sizeof scratch, "%s", argc > 1 ? argv[1] : "/tmp/jb-test-store");
    mkdir(scratch, 0755);
    test_fresh_database();
    test_refusals();
    test_readonly();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
