/* host_env.c - what the machine was when a run ran: the record every result
 * needs to be comparable (kernel, CPU, versions, KVM or emulation), for the
 * controller's machine and for each runner's. */
#include "runner/runner.h"
#include "platforms/platform.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <libvirt/libvirt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* First line of a command's output, "" when it fails or prints nothing.
 * Only fixed command lines are run (no user input reaches the shell). */
static void first_line(const char *command, char *out, size_t outlen)
{
    out[0] = '\0';
    FILE *p = popen(command, "r");
    if (!p)
        return;
    if (fgets(out, (int)outlen, p))
        out[strcspn(out, "\n")] = '\0';
    while (fgetc(p) != EOF)
        ;
    if (pclose(p) != 0)
        out[0] = '\0';
}

static void cpu_model(char *out, size_t outlen)
{
    snprintf(out, outlen, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *colon = strchr(line, ':');
        if (colon) {
            snprintf(out, outlen, "%s", colon + 2);
            out[strcspn(out, "\n")] = '\0';
        }
        break;
    }
    fclose(f);
}

static long long mem_total_kb(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    long long kb = -1;
    if (f) {
        if (fscanf(f, "MemTotal: %lld kB", &kb) != 1)
            kb = -1;
        fclose(f);
    }
    return kb;
}

static void libvirt_version(char *out, size_t outlen)
{
    unsigned long v = 0;
    if (virGetVersion(&v, NULL, NULL) == 0)
        snprintf(out, outlen, "%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000);
    else
        out[0] = '\0';
}

/* "usable" when /dev/kvm can be opened read-write (what QEMU needs), else
 * "unusable". Only a hint: a usable device can still fail to run guests
 * (nested virtualisation), so what each guest really ran under is the
 * driver's finding, iterations.accel (kvm, emulated or native). */
static const char *kvm_device_state(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return "unusable";
    close(fd);
    return "usable";
}

char *jb_host_environment(const char *broker_desc)
{
    struct utsname u;
    uname(&u);
    char cpu[256], docker[128], qemu[256], libvirt[64], hostname[256];
    cpu_model(cpu, sizeof cpu);
    first_line("timeout 5 docker version --format '{{.Server.Version}}' 2>/dev/null", docker,
               sizeof docker);
    first_line("qemu-system-x86_64 --version 2>/dev/null", qemu, sizeof qemu);
    libvirt_version(libvirt, sizeof libvirt);
    if (gethostname(hostname, sizeof hostname) != 0)
        hostname[0] = '\0';
    hostname[sizeof hostname - 1] = '\0';
    json_t *env = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
        "hostname", hostname, "kernel", u.release, "kernel_version", u.version, "machine",
        u.machine, "cpu_model", cpu, "cores", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN),
        "mem_total_kb", (json_int_t)mem_total_kb(), "docker", docker[0] ? docker : "unavailable",
        "qemu", qemu[0] ? qemu : "unavailable", "libvirt", libvirt[0] ? libvirt : "unavailable",
        "librdkafka", rd_kafka_version_str(), "broker", broker_desc ? broker_desc : "", "sqlite",
        sqlite3_libversion(), "libcurl", curl_version_info(CURLVERSION_NOW)->version, "kvm_device",
        kvm_device_state(), "jungbench", JB_VERSION);
    if (!env)
        return NULL;
    /* An iteration whose accel is "emulated" ran with the guests' call
     * timeout and readiness wait this many times the configured ones. */
    json_object_set_new(env, "emulated_timeout_scale", json_integer(JB_EMULATION_TIMEOUT_SCALE));
    json_object_set_new(env, "jungbench_build", json_string(JB_BUILD));
    char *text = json_dumps(env, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(env);
    return text;
}
