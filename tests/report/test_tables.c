/* test_tables.c - every report table on the fixture database against
 * numbers worked out by hand from fixture.c's definitions. */
#include "report/internal.h"
#include "tests/report/check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const rp_table *table(const rp_report *rep, const char *id)
{
    for (int i = 0; i < rep->ndata; i++)
        if (strcmp(rep->data[i]->id, id) == 0)
            return rep->data[i];
    fprintf(stderr, "no data table '%s'\n", id);
    failures++;
    return NULL;
}

static int col(const rp_table *t, const char *name)
{
    for (int c = 0; t && c < t->ncols; c++)
        if (strcmp(t->cols[c], name) == 0)
            return c;
    fprintf(stderr, "table %s: no column %s\n", t ? t->id : "?", name);
    failures++;
    return -1;
}

static const rp_cell *cell_at(const rp_table *t, int row, const char *column)
{
    int c = col(t, column);
    return c < 0 || row < 0 ? NULL : &t->cells[row * t->ncols + c];
}

/* The row whose first column is key0 and (when given) second is key1. */
static int row_of(const rp_table *t, const char *key0, const char *key1)
{
    for (int r = 0; t && r < t->nrows; r++) {
        const rp_cell *a = &t->cells[r * t->ncols], *b = &t->cells[r * t->ncols + 1];
        if (a->text && strcmp(a->text, key0) == 0 &&
            (!key1 || (b->text && strcmp(b->text, key1) == 0)))
            return r;
    }
    fprintf(stderr, "table %s: no row %s/%s\n", t ? t->id : "?", key0, key1 ? key1 : "");
    failures++;
    return -1;
}

static double num(const rp_table *t, const char *k0, const char *k1, const char *column)
{
    const rp_cell *c = cell_at(t, row_of(t, k0, k1), column);
    if (!c || c->kind != RP_NUM)
        return NAN;
    return c->num;
}

static const char *text(const rp_table *t, const char *k0, const char *k1, const char *column)
{
    const rp_cell *c = cell_at(t, row_of(t, k0, k1), column);
    return c && c->text ? c->text : "";
}

#define SD5 1.5811388300841898 /* SD of five consecutive integers */

static void test_cpu_memory(const rp_report *rep)
{
    const rp_table *cpu = table(rep, "cpu"), *mem = table(rep, "memory");
    CHECK_NEAR(num(cpu, "user_registry", "docker", "n"), 5, 0); /* failed iteration 6 left out */
    CHECK_NEAR(num(cpu, "user_registry", "docker", "mean_pct"), 13, 1e-9);
    CHECK_NEAR(num(cpu, "user_registry", "docker", "sd_pct"), SD5, 1e-9);
    CHECK_NEAR(num(cpu, "user_registry", "docker", "ci95_high_pct"), 13 + 1.9632112672863304, 1e-6);
    CHECK_NEAR(num(cpu, "user_registry", "docker", "cv_pct"), 12.162606385262999, 1e-6);
    CHECK_NEAR(num(cpu, "auth_manager", "docker", "sd_pct"), 0, 1e-12);
    CHECK_NEAR(num(cpu, "auth_manager", "osv", "mean_pct"), 23, 1e-9); /* replicas 10 + (10+i) */
    CHECK_NEAR(num(cpu, "all_services", "docker", "mean_pct"), 33, 1e-9);
    CHECK_NEAR(num(cpu, "all_services", "osv", "sd_pct"), 2 * SD5, 1e-9);
    CHECK_NEAR(num(mem, "user_registry", "docker", "mean_mib"), 20, 1e-9);
    CHECK_NEAR(num(mem, "user_registry", "osv", "mean_mib"), 123, 1e-9);
    CHECK_NEAR(num(mem, "auth_manager", "osv", "mean_mib"), 120, 1e-9);
    CHECK_NEAR(num(mem, "all_services", "docker", "mean_mib"), 38, 1e-9);

    const rp_table *tot = table(rep, "total_memory");
    CHECK_NEAR(num(tot, "runtime", "docker", "mean_mib"), 888, 1e-9);
    CHECK_NEAR(num(tot, "total", "docker", "mean_mib"), 926, 1e-9);
    CHECK_NEAR(num(tot, "total", "osv", "mean_mib"), 243, 1e-9);
    /* osv has no runtime daemon measured: an empty cell, never 0. */
    const rp_cell *c = cell_at(tot, row_of(tot, "runtime", "osv"), "mean_mib");
    CHECK(c && c->kind == RP_EMPTY);
    CHECK_NEAR(num(tot, "runtime", "osv", "n"), 0, 0);
}

static void test_requests(const rp_report *rep)
{
    const rp_table *t = table(rep, "requests");
    CHECK_NEAR(num(t, "docker", NULL, "samples"), 20, 0); /* setup phase left out */
    CHECK_NEAR(num(t, "docker", NULL, "ko"), 1, 0);
    CHECK_NEAR(num(t, "docker", NULL, "error_pct"), 5, 1e-9);
    CHECK_NEAR(num(t, "docker", NULL, "avg_ms"), 28, 1e-9);
    CHECK_NEAR(num(t, "docker", NULL, "min_ms"), 11, 0);
    CHECK_NEAR(num(t, "docker", NULL, "max_ms"), 45, 0);
    /* nearest rank over the 20 sorted values 11..15, 21..25, 31..35, 41..45 */
    CHECK_NEAR(num(t, "docker", NULL, "p50_ms"), 25, 1e-9); /* rank 10 */
    CHECK_NEAR(num(t, "docker", NULL, "p90_ms"), 43, 1e-9); /* rank 18 */
    CHECK_NEAR(num(t, "docker", NULL, "p99_ms"), 45, 1e-9); /* rank 20 */
    CHECK_NEAR(num(t, "osv", NULL, "p50_ms"), 125, 1e-9);
    /* durations 3040+i ms, i = 1..5: 15215 ms */
    CHECK_NEAR(num(t, "docker", NULL, "throughput_rps"), 20 / 15.215, 1e-9);
    CHECK_NEAR(num(t, "docker", NULL, "received_kbs"), 20 / 15.215, 1e-9);
    CHECK_NEAR(num(t, "docker", NULL, "sent_kbs"), 10 / 15.215, 1e-9);
    CHECK_NEAR(num(t, "osv", NULL, "ko"), 0, 0);
    CHECK_NEAR(num(t, "osv", NULL, "avg_ms"), 128, 1e-9);
    CHECK_NEAR(num(t, "osv", NULL, "throughput_rps"), 20 / 15.715, 1e-9);

    const rp_table *lab = table(rep, "requests_by_label");
    CHECK(lab && lab->nrows == 8); /* 4 labels x 2 platforms */
    CHECK_NEAR(num(lab, "docker", "GET /users/{u}", "samples"), 5, 0);
    CHECK_NEAR(num(lab, "docker", "GET /users/{u}", "avg_ms"), 13, 1e-9); /* 10 + i */
    CHECK_NEAR(num(lab, "docker", "POST /users/{u}/devices/{d}/commands", "ko"), 1, 0);
    CHECK_NEAR(num(lab, "docker", "POST /users/{u}/devices/{d}/commands", "error_pct"), 20, 1e-9);
    CHECK_NEAR(num(lab, "docker", "POST /users/{u}/devices/{d}/commands", "max_ms"), 45, 0);
    CHECK_NEAR(num(lab, "osv", "GET /users/{u}", "throughput_rps"), 5 / 15.715, 1e-9);

    const rp_table *it = table(rep, "requests_per_iteration");
    double tput = 0;
    for (int i = 1; i <= 5; i++)
        tput += 4 / ((3040.0 + i) / 1000) / 5;
    CHECK_NEAR(num(it, "throughput", "docker", "mean"), tput, 1e-9);
    CHECK_NEAR(num(it, "avg_ms", "docker", "mean"), 28, 1e-9);
    CHECK_NEAR(num(it, "p99_ms", "docker", "mean"), 43, 1e-9);   /* max of 4: 40 + i */
    CHECK_NEAR(num(it, "p50_ms", "docker", "mean"), 23, 1e-9);   /* rank 2 of 4: 20 + i */
    CHECK_NEAR(num(it, "error_pct", "docker", "mean"), 5, 1e-9); /* 25, 0, 0, 0, 0 */
    CHECK_NEAR(num(it, "error_pct", "docker", "sd"), 11.180339887498949, 1e-9);
}

static void test_boot_images(const rp_report *rep)
{
    const rp_table *b = table(rep, "boot");
    int row = -1;
    for (int r = 0; b && r < b->nrows; r++) {
        const rp_cell *c = &b->cells[r * b->ncols];
        if (strcmp(c[0].text, "user_registry") == 0 && strcmp(c[1].text, "docker") == 0 &&
            strcmp(c[8].text, "ready_ms") == 0)
            row = r;
    }
    CHECK(row >= 0);
    if (row >= 0)
        CHECK_NEAR(b->cells[row * b->ncols + 3].num, 203, 1e-9);
    const rp_table *im = table(rep, "images");
    CHECK_NEAR(num(im, "docker", "user_registry", "bytes"), 100.0 * 1024 * 1024, 0);
    CHECK_NEAR(num(im, "docker", "user_registry", "shared_bytes"), 95.0 * 1024 * 1024, 0);
    /* docker: the cumulative row, not listed as an image; osv: 28 + 29 stacked */
    CHECK_NEAR(num(im, "docker", "all_images", "bytes"), 106.0 * 1024 * 1024, 0);
    CHECK_NEAR(num(im, "osv", "all_images", "bytes"), 57.0 * 1024 * 1024, 0);
    for (int r = 0; im && r < im->nrows; r++)
        CHECK(strcmp(im->cells[r * im->ncols + 1].text, "_cumulative") != 0);
    CHECK(im && im->nrows == 6);
}

static void test_summary(const rp_report *rep)
{
    const rp_table *s = table(rep, "summary");
    CHECK(strcmp(text(s, "cpu", NULL, "best_platform"), "docker") == 0);
    CHECK_NEAR(num(s, "cpu", NULL, "p_value"), 2.0 / 252, 1e-12);
    CHECK(strcmp(text(s, "memory", NULL, "best_platform"), "docker") == 0);
    CHECK(strcmp(text(s, "total_memory", NULL, "best_platform"), "osv") == 0);
    CHECK(strcmp(text(s, "image_bytes", NULL, "best_platform"), "osv") == 0);
    CHECK(strcmp(text(s, "throughput", NULL, "best_platform"), "docker") == 0);
    CHECK(strcmp(text(s, "avg_ms", NULL, "best_platform"), "docker") == 0);
    CHECK(strcmp(text(s, "ready_ms", NULL, "best_platform"), "docker") == 0);
    /* 25,0,0,0,0 vs 0,0,0,0,0: no significant difference, so no best. */
    CHECK(strcmp(text(s, "error_pct", NULL, "best_platform"), "") == 0);
    CHECK_NEAR(num(s, "error_pct", NULL, "significant"), 0, 0);
    const rp_table *tests = table(rep, "tests");
    CHECK_NEAR(num(tests, "avg_ms", "docker", "u"), 0, 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_report_tables REPORT_FIXTURE\n");
        return 2;
    }
    char dir[] = "/tmp/jb-report-tables-XXXXXX", db[64], cmd[4200];
    if (!mkdtemp(dir))
        return 1;
    snprintf(db, sizeof db, "%s/results.db", dir);
    snprintf(cmd, sizeof cmd, "'%s' '%s' base", argv[1], db);
    if (system(cmd) != 0) {
        fprintf(stderr, "fixture failed: %s\n", cmd);
        return 1;
    }
    rp_run r;
    char err[512];
    if (!rp_run_load(&r, dir, NULL, err, sizeof err)) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    CHECK(strcmp(r.run_id, "fixture-base") == 0);
    CHECK(r.nplat == 2 && strcmp(r.plat[1].accel, "emulated") == 0);
    CHECK(strstr(r.warnings, "1 of 6 iterations did not finish") != NULL);
    rp_report rep;
    rp_report_build(&r, &rep);
    test_cpu_memory(&rep);
    test_requests(&rep);
    test_boot_images(&rep);
    test_summary(&rep);
    rp_report_free(&rep);
    rp_run_free(&r);
    unlink(db);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
