/* store.c - opening the results database, keeping its schema current, and
 * transactions. The rows themselves are written by writers.c (one typed
 * writer per table), samples.c (the two bulk tables) and rows.c (a remote
 * runner's rows, forwarded as JSON). */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

static bool fail(jb_store *store, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s: %s: %s", store->path, what,
             store->db ? sqlite3_errmsg(store->db) : "out of memory");
    jb_store_close(store);
    return false;
}

bool jb_store_exec(jb_store *store, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(store->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        if (err)
            snprintf(err, errlen, "%s", msg ? msg : "unknown SQLite error");
        sqlite3_free(msg);
        return false;
    }
    return true;
}

static int read_schema_version(jb_store *store)
{
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(store->db, "SELECT value FROM meta WHERE key='schema_version'", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return version;
}

/* A file with tables but no meta table is someone else's database: writing
 * our schema into it would corrupt their data, so refuse. */
static bool is_foreign(jb_store *store)
{
    sqlite3_stmt *st = NULL;
    int tables = 0, has_meta = 0;
    if (sqlite3_prepare_v2(
            store->db, "SELECT count(*), sum(name='meta') FROM sqlite_master WHERE type='table'",
            -1, &st, NULL) != SQLITE_OK)
        return true;
    if (sqlite3_step(st) == SQLITE_ROW) {
        tables = sqlite3_column_int(st, 0);
        has_meta = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    return tables > 0 && !has_meta;
}

static bool open_common(jb_store *store, const char *path, int flags, char *err, size_t errlen)
{
    memset(store, 0, sizeof *store);
    snprintf(store->path, sizeof store->path, "%s", path);
    if (sqlite3_open_v2(path, &store->db, flags, NULL) != SQLITE_OK)
        return fail(store, err, errlen, "cannot open database");
    sqlite3_busy_timeout(store->db, 5000);
    /* Touch the file now so a non-database file is reported here, clearly. */
    if (sqlite3_exec(store->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
        SQLITE_OK)
        return fail(store, err, errlen, "not a SQLite database");
    return true;
}

/* Columns added after a table first shipped: CREATE TABLE IF NOT EXISTS
 * leaves an older database's table as it was, and its rows stay readable. */
static bool add_column_if_missing(jb_store *store, const char *table, const char *column,
                                  const char *type)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s') WHERE name='%s'", table,
             column);
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    bool present = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    if (present)
        return true;
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, column, type);
    return jb_store_exec(store, sql, NULL, 0);
}

bool jb_store_open(jb_store *store, const char *path, char *err, size_t errlen)
{
    if (!open_common(store, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, errlen))
        return false;
    if (is_foreign(store)) {
        snprintf(err, errlen, "%s: not a jungbench results database (no meta table)", path);
        jb_store_close(store);
        return false;
    }
    int version = read_schema_version(store);
    if (version > JB_STORE_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: schema version %d is newer than this jungbench's (%d)", path,
                 version, JB_STORE_SCHEMA_VERSION);
        jb_store_close(store);
        return false;
    }
    char setup[128];
    snprintf(setup, sizeof setup,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
    if (!jb_store_exec(store, setup, NULL, 0) ||
        !jb_store_exec(store, jb_store_schema_sql(), NULL, 0) ||
        !add_column_if_missing(store, "boot_times", "process_ready_ms", "REAL") ||
        !add_column_if_missing(store, "boot_times", "log_path", "TEXT"))
        return fail(store, err, errlen, "cannot apply schema");
    snprintf(setup, sizeof setup, "INSERT OR REPLACE INTO meta VALUES('schema_version','%d');",
             JB_STORE_SCHEMA_VERSION);
    if (!jb_store_exec(store, setup, NULL, 0))
        return fail(store, err, errlen, "cannot write schema version");
    return true;
}

bool jb_store_open_readonly(jb_store *store, const char *path, char *err, size_t errlen)
{
    if (!open_common(store, path, SQLITE_OPEN_READONLY, err, errlen))
        return false;
    if (read_schema_version(store) < 0) {
        snprintf(err, errlen, "%s: not a jungbench results database (no schema version)", path);
        jb_store_close(store);
        return false;
    }
    return true;
}

void jb_store_close(jb_store *store)
{
    if (store->db)
        sqlite3_close(store->db);
    store->db = NULL;
}

bool jb_store_begin(jb_store *store)
{
    return jb_store_exec(store, "BEGIN", NULL, 0);
}

bool jb_store_commit(jb_store *store)
{
    return jb_store_exec(store, "COMMIT", NULL, 0);
}

void jb_store_rollback(jb_store *store)
{
    jb_store_exec(store, "ROLLBACK", NULL, 0);
}

const char *jb_store_errmsg(const jb_store *store)
{
    return store->db ? sqlite3_errmsg(store->db) : "the database is not open";
}
