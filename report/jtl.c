/* jtl.c - JMeter JTL (CSV) export: one file per platform, the measured
 * samples in JMeter 5.x's default column set and quoting, so JMeter's own
 * listeners and `jmeter -g FILE -o DIR` dashboard can load them. */
#include "report/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char jtl_header[] =
    "timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,"
    "failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect\n";

static const char *text_at(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : "";
}

/* JMeter needs a number in every numeric column; a missing one is 0 there
 * too (JMeter writes 0 for a latency it did not measure). */
static void write_row(FILE *f, sqlite3_stmt *st)
{
    fprintf(f, "%lld,%lld,", (long long)sqlite3_column_int64(st, 0),
            (long long)sqlite3_column_int64(st, 1));
    for (int i = 2; i <= 5; i++) {
        rp_csv_field(f, text_at(st, i));
        fputc(',', f);
    }
    fprintf(f, "text,%s,", sqlite3_column_int(st, 6) ? "true" : "false");
    rp_csv_field(f, text_at(st, 7));
    fprintf(f, ",%lld,%lld,%lld,%lld,", (long long)sqlite3_column_int64(st, 8),
            (long long)sqlite3_column_int64(st, 9), (long long)sqlite3_column_int64(st, 10),
            (long long)sqlite3_column_int64(st, 11));
    rp_csv_field(f, text_at(st, 12));
    fprintf(f, ",%lld,%lld,%lld\n", (long long)sqlite3_column_int64(st, 13),
            (long long)sqlite3_column_int64(st, 14), (long long)sqlite3_column_int64(st, 15));
}

/* A platform name becomes a file name: keep it to [A-Za-z0-9._-]. */
static void file_name(const char *platform, char *out, size_t len)
{
    size_t i = 0;
    for (; platform[i] && i + 5 < len; i++) {
        char c = platform[i];
        bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        out[i] = safe && !(i == 0 && c == '.') ? c : '_';
    }
    snprintf(out + i, len - i, ".jtl");
}

/* A platform name becomes a file name: keep it to [A-Za-z0-9._-]; one
 * iteration's file is <platform>.iteration-N.jtl. */
static void jtl_name(const char *platform, long iteration, char *out, size_t len)
{
    char stem[128];
    file_name(platform, stem, sizeof stem);
    stem[strlen(stem) - 4] = '\0'; /* ".jtl" */
    if (iteration > 0)
        snprintf(out, len, "%s.iteration-%ld.jtl", stem, iteration);
    else
        snprintf(out, len, "%s.jtl", stem);
}

/* Writes the platform's measured samples (of one iteration when
 * iteration > 0); *rows says how many. */
static bool write_platform(const rp_run *r, int p, long iteration, const char *dir, long *rows,
                           char *err, size_t errlen)
{
    char sql[1024], name[160], path[4400];
    snprintf(sql, sizeof sql,
             "SELECT time_stamp, elapsed, label, response_code, response_message, thread_name,"
             " success, failure_message, bytes, sent_bytes, grp_threads, all_threads, url,"
             " latency, idle_time, connect FROM samples x WHERE run_id=?1 AND platform=?2"
             " AND coalesce(phase,'measure')='measure' AND %s AND (?3 <= 0 OR iteration=?3)"
             " ORDER BY iteration, time_stamp, seq, rowid",
             rp_iter_ok_sql());
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->store.db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read samples: %s", sqlite3_errmsg(r->store.db));
        return false;
    }
    sqlite3_bind_text(st, 1, r->run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->plat[p].name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, iteration);
    jtl_name(r->plat[p].name, iteration, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        sqlite3_finalize(st);
        return false;
    }
    fputs(jtl_header, f);
    *rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        write_row(f, st);
        (*rows)++;
    }
    sqlite3_finalize(st);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

bool rp_write_jtl(const rp_run *r, const char *dir, long iteration, char *err, size_t errlen)
{
    long total = 0;
    for (int p = 0; p < r->nplat; p++) {
        long rows = 0;
        if (!write_platform(r, p, iteration, dir, &rows, err, errlen))
            return false;
        total += rows;
    }
    /* a file per platform with a header only would pass for an idle iteration */
    if (iteration > 0 && total == 0) {
        snprintf(err, errlen,
                 "iteration %ld has no measured samples on any platform (not run, or it did not "
                 "finish)",
                 iteration);
        return false;
    }
    return true;
}
