/* test_owner.c - the owner token that containers and domains carry, so a
 * later harness removes what a killed one left (leftovers.c): this process
 * is alive, a reaped child and another boot are gone, a token that does not
 * parse counts as alive (never remove what cannot be judged); and the
 * domain XML carries it in <description>. */
#include "platforms/domain_xml.h"
#include "platforms/platform.h"
#include "tests/testlib.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

int main(void)
{
    char me[160], other[200];
    CHECK(jb_owner_token(me, sizeof me), "token of this process");
    CHECK(jb_owner_alive(me), "this process is alive: '%s'", me);

    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    char boot[64];
    long pid;
    unsigned long long start;
    CHECK(sscanf(me, "%63s %ld %llu", boot, &pid, &start) == 3 && pid == (long)getpid(),
          "token is '<boot id> <pid> <start>': '%s'", me);
    snprintf(other, sizeof other, "%s %ld %llu", boot, (long)child, start);
    CHECK(!jb_owner_alive(other), "a reaped child is gone: '%s'", other);
    snprintf(other, sizeof other, "%s %ld %llu", boot, pid, start + 1);
    CHECK(!jb_owner_alive(other), "same pid, other start time (pid reused) is gone");
    snprintf(other, sizeof other, "00000000-0000-0000-0000-000000000000 %ld %llu", pid, start);
    CHECK(!jb_owner_alive(other), "another boot is gone");
    CHECK(jb_owner_alive("garbage"), "an unparsable token counts as alive");
    CHECK(jb_owner_alive(NULL), "no token counts as alive");

    jb_domain_spec s = {.name = "jungbench-r1-fake-1",
                        .vcpus = 1,
                        .memory_mb = 128,
                        .kernel = "/boot/vmlinuz",
                        .initrd = "/tmp/fake.cpio.xz",
                        .cmdline = "console=ttyS0",
                        .console_path = "/tmp/c",
                        .owner = me};
    char xml[16384], err[256], want[256];
    CHECK(jb_domain_xml(&s, xml, sizeof xml, err, sizeof err), "%s", err);
    snprintf(want, sizeof want, "<description>jungbench owner %s</description>", me);
    CHECK(strstr(xml, want), "domain XML has the owner: %s", xml);
    return failures ? 1 : 0;
}
