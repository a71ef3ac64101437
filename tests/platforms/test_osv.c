/* test_osv.c - what can be checked of the OSv path without an OSv image
 * (none can be built here, docs/osv.md):
 *   unit:  the guest command line from osv.cmdline (template, --env words),
 *          the microVM one for comparison, and a platform without
 *          osv.kernel refused at open with the current key named;
 *   image: with libvirtd running, a missing OSv disk or kernel gives the
 *          error naming the config key, the path and how to build it. */
#include "platforms/domain_xml.h"
#include "platforms/platform.h"
#include "tests/testlib.h"

#include <string.h>

static void test_cmdlines(void)
{
    const char *args = "--instance user_registry-1 --brokers 10.0.2.2:9092 --broker-map "
                       "127.0.0.1=10.0.2.2";
    char out[4096];
    CHECK(jb_guest_cmdline("--rootfs=rofs /jung-{service} {args}", "user_registry",
                           "--env=JUNG_LOG=debug ", args, out, sizeof out),
          "OSv command line fits");
    CHECK(strcmp(out,
                 "--env=JUNG_LOG=debug --rootfs=rofs /jung-user_registry --instance "
                 "user_registry-1 --brokers 10.0.2.2:9092 --broker-map 127.0.0.1=10.0.2.2") == 0,
          "OSv command line: environment first, then the template expanded: '%s'", out);
    CHECK(jb_guest_cmdline(NULL, "user_registry", "JUNG_LOG=debug ", args, out, sizeof out),
          "microVM command line fits");
    CHECK(strcmp(out, "console=ttyS0 panic=-1 no_timer_check quiet jung.ip=10.0.2.15/24 "
                      "jung.gw=10.0.2.2 "
                      "JUNG_LOG=debug -- --instance user_registry-1 --brokers 10.0.2.2:9092 "
                      "--broker-map 127.0.0.1=10.0.2.2") == 0,
          "microVM command line: '%s'", out);
    CHECK(!jb_guest_cmdline("/jung-{service} {args}", "user_registry", "", args, out, 40),
          "a command line longer than the buffer is refused, not cut");
}

static jb_platform_config osv_config(void)
{
    jb_platform_config cfg;
    jb_platform_config_init(&cfg);
    cfg.driver = "libvirt";
    cfg.image_kind = "osv";
    cfg.accel = "emulated"; /* no KVM probe: it would boot a guest */
    cfg.run_id = "test-osv";
    return cfg;
}

static void test_missing_keys(void)
{
    jb_platform_config cfg = osv_config();
    char err[1024] = "";
    jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
    CHECK(!p, "open without osv.kernel refused");
    CHECK(strstr(err, "osv: {kernel: PATH}") && strstr(err, "jungbench images build osv") &&
              !strstr(err, "osv_") && strstr(err, "docs/osv.md"),
          "the error names the current key, how to get the file and the docs: %s", err);
    jb_platform_close(p);
}

static int test_missing_image(void)
{
    jb_platform_config cfg = osv_config();
    cfg.osv_kernel = "/proc/self/exe"; /* any readable file: only the disk is missing */
    cfg.osv_disk = "/nonexistent/jung-{service}.img";
    cfg.osv_cmdline = "/jung-{service} {args}";
    char err[1024] = "";
    jb_platform *p = jb_platform_open(&cfg, err, sizeof err);
    if (!p) {
        printf("SKIP: libvirt driver cannot open: %s\n", err);
        return 77;
    }
    const char *svc[] = {"user_registry"};
    CHECK(!jb_platform_prepare(p, svc, 1, err, sizeof err), "prepare without the disk fails");
    CHECK(strstr(err, "osv.disk '/nonexistent/jung-user_registry.img' does not exist") &&
              strstr(err, "jungbench images build osv --kernel") && !strstr(err, "osv_"),
          "the error names the key, the expanded path and how to build it: %s", err);
    jb_platform_close(p);
    cfg.osv_kernel = "/nonexistent/loader-stripped.elf";
    p = jb_platform_open(&cfg, err, sizeof err);
    CHECK(p, "open: %s", err);
    if (p) {
        CHECK(!jb_platform_prepare(p, svc, 1, err, sizeof err) &&
                  strstr(err, "osv.kernel '/nonexistent/loader-stripped.elf' does not exist"),
              "a missing kernel is named: %s", err);
        jb_platform_close(p);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "unit") != 0 && strcmp(argv[1], "image") != 0)) {
        fprintf(stderr, "usage: %s unit|image\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "unit") == 0) {
        test_cmdlines();
        test_missing_keys();
    } else if (test_missing_image() == 77) {
        return 77;
    }
    return failures ? 1 : 0;
}
