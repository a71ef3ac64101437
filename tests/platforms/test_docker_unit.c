/* test_docker_unit.c - the Docker client without a daemon: API version
 * negotiation against recorded /version answers (engines 19.03 to 29 and
 * a made-up future one), the container-create body against expected JSON,
 * the build context's tar, and the static-executable check. */
#include "tests/testlib.h"
#include "platforms/docker_api.h"
#include "platforms/images.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_dir;

static char *slurp(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "FAIL: cannot open %s\n", path);
        exit(1);
    }
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void negotiate(const char *file, bool want_ok, const char *want_api, const char *want_err)
{
    char api[16] = "", engine[64] = "", err[512] = "";
    bool ok =
        jb_docker_negotiate(slurp(file), api, sizeof api, engine, sizeof engine, err, sizeof err);
    CHECK(ok == want_ok, "%s: ok=%d err=%s", file, ok, err);
    if (ok && want_api)
        CHECK(strcmp(api, want_api) == 0, "%s: api %s, want %s", file, api, want_api);
    if (!ok && want_err)
        CHECK(strstr(err, want_err), "%s: error '%s' lacks '%s'", file, err, want_err);
}

static void test_negotiation(void)
{
    negotiate("version-20.10.json", true, "1.41", NULL); /* Debian 12's docker.io, recorded here */
    negotiate("version-27.4.json", true, "1.47", NULL);
    negotiate("version-29.0.json", true, "1.47", NULL); /* newer: we ask for our newest */
    negotiate("version-19.03.json", false, NULL, "older than 1.41");
    negotiate("version-future.json", false, NULL, "needs API 1.50");
    negotiate("version-garbage.json", false, NULL, "not a JSON object");
}

static void compare_body(const jb_container_spec *spec, const char *file)
{
    json_t *got = jb_docker_create_body(spec);
    json_error_t jerr;
    json_t *want = json_loads(slurp(file), 0, &jerr);
    CHECK(want, "%s: %s", file, jerr.text);
    char *text = json_dumps(got, JSON_SORT_KEYS);
    CHECK(json_equal(got, want), "%s: got %s", file, text);
    free(text);
    json_decref(got);
    json_decref(want);
}

static void test_create_body(void)
{
    const char *cmd[] = {"--instance", "user_registry-1", "--brokers", "127.0.0.1:9092", NULL};
    const char *env[] = {"JUNG_WORKERS=2", NULL};
    jb_container_spec host = {.image = "jung/user_registry:0.1.0",
                              .cmd = cmd,
                              .env = env,
                              .run_id = "r1",
                              .service = "user_registry",
                              .instance = "user_registry-1",
                              .cpus = 2,
                              .memory_mb = 256,
                              .stop_timeout_s = 5};
    compare_body(&host, "create-host.json");
    const char *gcmd[] = {"--instance", "api_gateway-1", "--brokers", "127.0.0.1:9092", NULL};
    int ports[] = {8080, 0};
    jb_container_spec bridge = {.image = "jung/api_gateway:0.1.0",
                                .cmd = gcmd,
                                .run_id = "r1",
                                .service = "api_gateway",
                                .instance = "api_gateway-1",
                                .bridge = true,
                                .ports = ports,
                                .stop_timeout_s = 1};
    compare_body(&bridge, "create-bridge.json");
}

static void test_context(const char *fake)
{
    jb_buf tar = {0};
    char err[512];
    CHECK(jb_docker_context("user_registry", fake, NULL, &tar, err, sizeof err), "context: %s",
          err);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    CHECK(archive_read_open_memory(a, tar.data, tar.len) == ARCHIVE_OK, "tar readable");
    struct archive_entry *e;
    int seen = 0;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (strcmp(name, "Dockerfile") == 0) {
            char df[1024] = {0};
            archive_read_data(a, df, sizeof df - 1);
            CHECK(strncmp(df, "FROM scratch\n", 13) == 0, "Dockerfile: %s", df);
            CHECK(strstr(df, "ENTRYPOINT [\"/jung-user_registry\"]"), "entrypoint: %s", df);
            seen |= 1;
        } else if (strcmp(name, "jung-user_registry") == 0) {
            CHECK((archive_entry_perm(e) & 0111) != 0, "executable mode %o",
                  (unsigned)archive_entry_perm(e));
            CHECK(archive_entry_size(e) > 1000, "size %lld", (long long)archive_entry_size(e));
            seen |= 2;
        }
    }
    CHECK(seen == 3, "entries seen %d", seen);
    archive_read_free(a);
    jb_buf_free(&tar);
    CHECK(!jb_docker_context("x", "/no/such/file", NULL, &tar, err, sizeof err) &&
              strstr(err, "/no/such/file"),
          "missing executable: %s", err);
}

/* A dynamic executable's base: FROM the base image; its loader and libc. */
static void test_dynamic(void)
{
    jb_buf tar = {0};
    char err[512];
    CHECK(jb_docker_context("x", "/bin/sh", "jung/base:1", &tar, err, sizeof err), "%s", err);
    CHECK(tar.data && memmem(tar.data, tar.len, "FROM jung/base:1\n", 17), "FROM the base");
    jb_buf_free(&tar);
    jb_runtime_files *files = calloc(1, sizeof *files);
    CHECK(jb_elf_runtime_files("/bin/sh", files, err, sizeof err), "%s", err);
    bool loader = false, libc = false;
    for (size_t i = 0; i < files->n; i++) {
        loader |= strcmp(files->paths[i], "/lib64/ld-linux-x86-64.so.2") == 0;
        libc |= strstr(files->paths[i], "/libc.so.6") != NULL;
    }
    CHECK(loader && libc, "/bin/sh needs the loader and libc (%zu files)", files->n);
    size_t n = files->n;
    CHECK(jb_elf_runtime_files("/bin/sh", files, err, sizeof err) && files->n == n,
          "no duplicates on a second scan: %zu", files->n);
    CHECK(!jb_elf_runtime_files("/etc/passwd", files, err, sizeof err) && strstr(err, "ELF"),
          "not ELF: %s", err);
    free(files);
}

static void test_static_check(const char *fake, bool fake_is_static)
{
    char err[512];
    CHECK(jb_elf_is_static(fake, err, sizeof err) == fake_is_static, "%s: %s", fake, err);
    CHECK(!jb_elf_is_static("/bin/sh", err, sizeof err) && strstr(err, "dynamically"),
          "/bin/sh: %s", err);
    CHECK(!jb_elf_is_static(data_dir, err, sizeof err), "a folder is not an executable");
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s DATA_DIR FAKE_SERVICE FAKE_IS_STATIC(0|1)\n", argv[0]);
        return 2;
    }
    data_dir = argv[1];
    test_negotiation();
    test_create_body();
    test_context(argv[2]);
    test_static_check(argv[2], strcmp(argv[3], "1") == 0);
    test_dynamic();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    else
        printf("test_docker_unit: all checks passed\n");
    return failures ? 1 : 0;
}
