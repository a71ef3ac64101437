/* test_image_sizes.c - image-size arithmetic: Docker layers shared across
 * services count once, VM images stack; stored rows. */
#include "platforms/platform.h"
#include "store/store.h"
#include "tests/testlib.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <inttypes.h>

#define MB (1000 * 1000ULL)

static void test_docker(void)
{
    /* the dissertation's shape: a 937 MB Python base, 8 MB of PyJung, KB services */
    jb_image_layer a[] = {
        {"sha256:python", 937 * MB}, {"sha256:pyjung", 8 * MB}, {"sha256:a", 3000}};
    jb_image_layer b[] = {
        {"sha256:python", 937 * MB}, {"sha256:pyjung", 8 * MB}, {"sha256:b", 5000}};
    jb_image_layer c[] = {{"sha256:python", 937 * MB}, {"sha256:c", 1000}, {"sha256:c", 1000}};
    jb_image images[] = {
        {"auth", "docker", a, 3}, {"users", "docker", b, 3}, {"rules", "docker", c, 3}};
    jb_image_size sz[3];
    uint64_t cum[3];
    char err[256];
    CHECK(jb_image_sizes(images, 3, sz, cum, err, sizeof err), "%s", err);
    CHECK(sz[0].bytes == 945 * MB + 3000, "auth bytes %" PRIu64, sz[0].bytes);
    CHECK(sz[0].shared_bytes == 945 * MB && sz[0].own_bytes == 3000, "auth shared %" PRIu64,
          sz[0].shared_bytes);
    CHECK(sz[2].bytes == 937 * MB + 1000, "a layer listed twice in one image counts once: %" PRIu64,
          sz[2].bytes);
    CHECK(sz[2].shared_bytes == 937 * MB, "rules shared %" PRIu64, sz[2].shared_bytes);
    CHECK(cum[0] == 945 * MB + 3000, "cum[0] %" PRIu64, cum[0]);
    CHECK(cum[1] == 945 * MB + 8000, "cum[1] %" PRIu64, cum[1]);
    CHECK(cum[2] == 945 * MB + 9000, "cum[2] %" PRIu64, cum[2]);
}

static void test_vm_and_files(void)
{
    char dir[] = "/tmp/jb-images-XXXXXX", p1[256], p2[256];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(p1, sizeof p1, "%s/auth.img", dir);
    snprintf(p2, sizeof p2, "%s/users.img", dir);
    FILE *f = fopen(p1, "w");
    for (int i = 0; i < 28000; i++)
        fputc('x', f);
    fclose(f);
    f = fopen(p2, "w");
    for (int i = 0; i < 29000; i++)
        fputc('y', f);
    fclose(f);
    const char *paths[] = {p1, p2};
    jb_image_layer l[2];
    char err[256];
    CHECK(jb_image_layers_from_files(paths, 2, l, err, sizeof err), "%s", err);
    jb_image images[] = {{"auth", "vm", &l[0], 1}, {"users", "vm", &l[1], 1}};
    jb_image_size sz[2];
    uint64_t cum[2];
    CHECK(jb_image_sizes(images, 2, sz, cum, err, sizeof err), "%s", err);
    CHECK(sz[0].bytes == 28000 && sz[0].shared_bytes == 0, "vm auth %" PRIu64, sz[0].bytes);
    CHECK(cum[1] == 57000, "VM images stack: %" PRIu64, cum[1]);
    const char *missing[] = {"/nonexistent/x.img"};
    CHECK(!jb_image_layers_from_files(missing, 1, l, err, sizeof err), "a missing file accepted");
    CHECK(strstr(err, "/nonexistent/x.img") != NULL, "error names the file: '%s'", err);

    /* stored rows */
    char db[300];
    snprintf(db, sizeof db, "%s/results.db", dir);
    jb_store store;
    CHECK(jb_store_open(&store, db, err, sizeof err), "%s", err);
    CHECK(jb_image_sizes_store(&store, "r1", "osv", images, 2, err, sizeof err), "%s", err);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(store.db,
                       "SELECT count(*), sum(bytes) FILTER (WHERE kind='vm'),"
                       " max(bytes) FILTER (WHERE service='_cumulative') FROM image_sizes",
                       -1, &st, NULL);
    CHECK(st && sqlite3_step(st) == SQLITE_ROW, "query");
    CHECK(sqlite3_column_int(st, 0) == 3 && sqlite3_column_int64(st, 1) == 57000 &&
              sqlite3_column_int64(st, 2) == 57000,
          "rows %d, vm bytes %lld, cumulative %lld", sqlite3_column_int(st, 0),
          (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);
    jb_store_close(&store);
    unlink(p1);
    unlink(p2);
    char side[320];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(side, sizeof side, "%s%s", db, suffix[i]);
        unlink(side);
    }
    rmdir(dir);
}

static void test_inconsistent(void)
{
    jb_image_layer a[] = {{"sha256:x", 100}}, b[] = {{"sha256:x", 200}}, c[] = {{"", 1}};
    jb_image images[] = {{"a", "docker", a, 1}, {"b", "docker", b, 1}};
    char err[256] = "";
    CHECK(!jb_image_sizes(images, 2, NULL, NULL, err, sizeof err), "two sizes for one id accepted");
    CHECK(strstr(err, "sha256:x") != NULL, "error names the layer: '%s'", err);
    jb_image noid[] = {{"c", "docker", c, 1}};
    CHECK(!jb_image_sizes(noid, 1, NULL, NULL, err, sizeof err), "an empty id accepted");
}

int main(void)
{
    test_docker();
    test_vm_and_files();
    test_inconsistent();
    return failures ? 1 : 0;
}
