/* rows.c - a remote runner's rows as JSON (RESULTS and ROWS messages,
 * docs/protocol.md) and back into the controller's database, every column
 * whatever the table: the controller stores every figure a runner sends. */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

/* stop_times, iteration_load, image_sizes: what a runner writes besides the
 * summaries and boot times, which RESULTS and READY carry field by field. */
const char *const jb_store_forwarded_tables[] = {"stop_times", "iteration_load", "image_sizes",
                                                 NULL};
const char *const jb_store_parted_tables[] = {"metric_samples", NULL};

static bool is_forwarded(const char *table)
{
    for (const char *const *t = jb_store_forwarded_tables; *t; t++)
        if (strcmp(*t, table) == 0)
            return true;
    for (const char *const *t = jb_store_parted_tables; *t; t++)
        if (strcmp(*t, table) == 0)
            return true;
    return false;
}

static bool has_iteration(jb_store *store, const char *table)
{
    char sql[160];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s') WHERE name='iteration'",
             table);
    bool has = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) == SQLITE_OK &&
               sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    return has;
}

static json_t *column_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer((json_int_t)sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    case SQLITE_TEXT:
        return json_string((const char *)sqlite3_column_text(st, i));
    default:
        return NULL; /* NULL (and blobs, which these tables do not have) */
    }
}

json_t *jb_store_rows_json(jb_store *store, const char *table, const char *run_id,
                           const char *platform, long iteration)
{
    if (!is_forwarded(table))
        return NULL;
    char sql[256];
    bool by_iteration = has_iteration(store, table);
    snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE run_id=?1 AND platform=?2%s", table,
             by_iteration ? " AND iteration=?3" : "");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, platform, -1, SQLITE_STATIC);
    if (by_iteration)
        sqlite3_bind_int64(st, 3, iteration);
    json_t *rows = json_array();
    while (rows && sqlite3_step(st) == SQLITE_ROW) {
        json_t *row = json_object();
        for (int i = 0; row && i < sqlite3_column_count(st); i++) {
            json_t *v = column_json(st, i);
            if (v)
                json_object_set_new(row, sqlite3_column_name(st, i), v);
        }
        json_array_append_new(rows, row);
    }
    sqlite3_finalize(st);
    return rows;
}

/* The table's columns, in order, as sqlite reports them. */
static int table_columns(jb_store *store, const char *table, char cols[][64], int max)
{
    char sql[160];
    sqlite3_stmt *st = NULL;
    int n = 0;
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s')", table);
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    while (n < max && sqlite3_step(st) == SQLITE_ROW)
        snprintf(cols[n++], 64, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return n;
}

static void bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
    if (json_is_integer(v))
        sqlite3_bind_int64(st, i, (sqlite3_int64)json_integer_value(v));
    else if (json_is_real(v))
        sqlite3_bind_double(st, i, json_real_value(v));
    else if (json_is_string(v))
        sqlite3_bind_text(st, i, json_string_value(v), -1, SQLITE_TRANSIENT);
    else if (json_is_true(v) || json_is_false(v))
        sqlite3_bind_int(st, i, json_is_true(v));
}

/* One row: the identity columns are the controller's, the rest the runner's. */
static bool insert_row(sqlite3_stmt *st, char cols[][64], int ncols, const json_t *row,
                       const char *run_id, const char *platform, long iteration)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (int i = 0; i < ncols; i++) {
        if (strcmp(cols[i], "run_id") == 0)
            sqlite3_bind_text(st, i + 1, run_id, -1, SQLITE_STATIC);
        else if (strcmp(cols[i], "platform") == 0)
            sqlite3_bind_text(st, i + 1, platform, -1, SQLITE_STATIC);
        else if (strcmp(cols[i], "iteration") == 0)
            sqlite3_bind_int64(st, i + 1, iteration);
        else
            bind_json(st, i + 1, json_object_get(row, cols[i]));
    }
    return sqlite3_step(st) == SQLITE_DONE;
}

bool jb_store_insert_rows_json(jb_store *store, const char *table, const json_t *rows,
                               const char *run_id, const char *platform, long iteration)
{
    if (!is_forwarded(table) || !json_is_array(rows))
        return false;
    char cols[32][64], sql[512];
    int ncols = table_columns(store, table, cols, 32);
    if (ncols == 0)
        return false;
    size_t len = (size_t)snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO %s VALUES(", table);
    for (int i = 0; i < ncols && len < sizeof sql; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, i ? ",?" : "?");
    if (len + 2 > sizeof sql)
        return false;
    memcpy(sql + len, ")", 2);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return false;
    bool ok = true;
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        ok = insert_row(st, cols, ncols, row, run_id, platform, iteration) && ok;
    }
    sqlite3_finalize(st);
    return ok;
}
