/* test_domain_xml.c - the generated libvirt domain XML: a microVM against
 * the expected document, an OSv guest under KVM (disk, host CPU), XML
 * escaping, and refused specs. */
#include "tests/testlib.h"
#include "platforms/domain_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_microvm(const char *expected_path)
{
    int ports[] = {8080, 9100, 0};
    jb_domain_spec s = {.name = "jungbench-r1-api_gateway-1",
                        .vcpus = 2,
                        .memory_mb = 256,
                        .kernel = "/boot/vmlinuz-6.1.0-56-cloud-amd64",
                        .initrd = "/var/lib/jungbench/images/microvm/api_gateway.cpio.xz",
                        .cmdline =
                            "console=ttyS0 panic=-1 quiet jung.ip=10.0.2.15/24 jung.gw=10.0.2.2 -- "
                            "--instance api_gateway-1 --brokers 10.0.2.2:9092 --broker-map "
                            "127.0.0.1=10.0.2.2",
                        .console_path = "/tmp/jungbench-r1/api_gateway-1.console",
                        .ports = ports};
    char xml[16384], err[256];
    CHECK(jb_domain_xml(&s, xml, sizeof xml, err, sizeof err), "%s", err);
    FILE *f = fopen(expected_path, "r");
    static char want[16384];
    size_t n = f ? fread(want, 1, sizeof want - 1, f) : 0;
    want[n] = '\0';
    if (f)
        fclose(f);
    CHECK(n > 0 && strcmp(xml, want) == 0, "differs from %s:\n%s", expected_path, xml);
}

static void test_osv_kvm(void)
{
    jb_domain_spec s = {.name = "jungbench-r1-user_registry-1",
                        .kvm = true,
                        .vcpus = 2,
                        .memory_mb = 512,
                        .kernel = "/osv/loader-stripped.elf",
                        .disk = "/osv/user's & <registry>.img",
                        .disk_format = "raw",
                        .cmdline = "--rootfs=rofs /jung-user_registry --instance x",
                        .console_path = "/tmp/c"};
    char xml[16384], err[256];
    CHECK(jb_domain_xml(&s, xml, sizeof xml, err, sizeof err), "%s", err);
    CHECK(strstr(xml, "<domain type='kvm'"), "kvm domain");
    CHECK(strstr(xml, "<cpu mode='host-passthrough'/>"), "host CPU under KVM");
    CHECK(!strstr(xml, "<initrd>"), "no initrd for OSv");
    CHECK(strstr(xml, "<source file='/osv/user&apos;s &amp; &lt;registry&gt;.img'/>"),
          "escaped disk path: %s", xml);
    CHECK(strstr(xml, "<driver name='qemu' type='raw' cache='none'/>"), "raw disk");
    CHECK(strstr(xml, "'user,id=jbnet0'"), "no forwards when no ports");
}

static void test_refused(void)
{
    char xml[16384], err[256];
    jb_domain_spec s = {.name = "x",
                        .vcpus = 0,
                        .memory_mb = 256,
                        .kernel = "/k",
                        .cmdline = "",
                        .console_path = "/c"};
    CHECK(!jb_domain_xml(&s, xml, sizeof xml, err, sizeof err) && strstr(err, "vCPUs"), "%s", err);
    s.vcpus = 1;
    s.kernel = NULL;
    CHECK(!jb_domain_xml(&s, xml, sizeof xml, err, sizeof err) && strstr(err, "kernel"), "%s", err);
    s.kernel = "/k";
    int bad[] = {70000, 0};
    s.ports = bad;
    CHECK(!jb_domain_xml(&s, xml, sizeof xml, err, sizeof err) && strstr(err, "70000"), "%s", err);
    s.ports = NULL;
    char tiny[64];
    CHECK(!jb_domain_xml(&s, tiny, sizeof tiny, err, sizeof err) && strstr(err, "bytes"), "%s",
          err);
    char netdev[32];
    int many[] = {1, 2, 3, 4, 0};
    CHECK(!jb_netdev_arg(many, NULL, NULL, netdev, sizeof netdev), "netdev overflow detected");
    char fwd[128];
    int guest[] = {8080, 0}, host[] = {40001, 0};
    CHECK(jb_netdev_arg(guest, host, NULL, fwd, sizeof fwd) &&
              strcmp(fwd, "user,id=jbnet0,hostfwd=tcp:127.0.0.1:40001-:8080") == 0,
          "host port forwarded to the guest's: %s", fwd);
    CHECK(jb_netdev_arg(guest, host, "10.213.0.2", fwd, sizeof fwd) &&
              strcmp(fwd, "user,id=jbnet0,hostfwd=tcp:10.213.0.2:40001-:8080") == 0,
          "forward on the advertised address: %s", fwd);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s EXPECTED_XML\n", argv[0]);
        return 2;
    }
    test_microvm(argv[1]);
    test_osv_kvm();
    test_refused();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    else
        printf("test_domain_xml: all checks passed\n");
    return failures ? 1 : 0;
}
