/* domain_xml.c - the domain XML of a jungbench guest. */
#include "platforms/domain_xml.h"

#include "platforms/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct xml_out {
    char *buf;
    size_t len, cap;
    bool overflow;
} xml_out;

static void put(xml_out *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(xml_out *x, const char *fmt, ...)
{
    if (x->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(x->buf + x->len, x->cap - x->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= x->cap - x->len)
        x->overflow = true;
    else
        x->len += (size_t)n;
}

/* Text and attribute values: escape the five XML specials. */
static void put_escaped(xml_out *x, const char *s)
{
    for (; *s && !x->overflow; s++) {
        switch (*s) {
        case '&':
            put(x, "&amp;");
            break;
        case '<':
            put(x, "&lt;");
            break;
        case '>':
            put(x, "&gt;");
            break;
        case '\'':
            put(x, "&apos;");
            break;
        case '"':
            put(x, "&quot;");
            break;
        default:
            put(x, "%c", *s);
        }
    }
}

static void put_element(xml_out *x, const char *indent, const char *tag, const char *value)
{
    put(x, "%s<%s>", indent, tag);
    put_escaped(x, value);
    put(x, "</%s>\n", tag);
}

bool jb_guest_cmdline(const char *osv_template, const char *service, const char *env,
                      const char *args, char *out, size_t outlen)
{
    if (osv_template) {
        char cmd[2048];
        return jb_expand_template(osv_template, service, args, cmd, sizeof cmd) &&
               (size_t)snprintf(out, outlen, "%s%s", env, cmd) < outlen;
    }
    /* no_timer_check: an emulated guest on a busy host misses the IO-APIC
     * timer check's deadline and panics ("IO-APIC + timer doesn't work!") */
    return (size_t)snprintf(out, outlen,
                            "console=ttyS0 panic=-1 no_timer_check quiet jung.ip=10.0.2.15/24 "
                            "jung.gw=10.0.2.2 %s-- %s",
                            env, args) < outlen;
}

bool jb_netdev_arg(const int *ports, const int *host_ports, const char *host_address, char *out,
                   size_t outlen)
{
    const char *addr = host_address ? host_address : "127.0.0.1";
    int n = snprintf(out, outlen, "user,id=jbnet0");
    for (size_t i = 0; ports && ports[i] && n >= 0 && (size_t)n < outlen; i++)
        n += snprintf(out + n, outlen - (size_t)n, ",hostfwd=tcp:%s:%d-:%d", addr,
                      host_ports ? host_ports[i] : ports[i], ports[i]);
    return n >= 0 && (size_t)n < outlen;
}

static bool check_spec(const jb_domain_spec *s, char *err, size_t errlen)
{
    const char *missing = !s->name           ? "name"
                          : !s->kernel       ? "kernel"
                          : !s->cmdline      ? "cmdline"
                          : !s->console_path ? "console_path"
                                             : NULL;
    if (missing) {
        snprintf(err, errlen, "domain XML: %s is missing", missing);
        return false;
    }
    if (s->vcpus < 1 || s->vcpus > 64 || s->memory_mb < 16 || s->memory_mb > 1 << 20) {
        snprintf(err, errlen, "domain XML: %d vCPUs and %ld MiB: use 1-64 vCPUs and >= 16 MiB",
                 s->vcpus, s->memory_mb);
        return false;
    }
    for (size_t i = 0; s->ports && s->ports[i]; i++) {
        int host = s->host_ports ? s->host_ports[i] : s->ports[i];
        if (s->ports[i] < 1 || s->ports[i] > 65535 || host < 1 || host > 65535) {
            snprintf(err, errlen, "domain XML: port %d (host %d) is not a TCP port", s->ports[i],
                     host);
            return false;
        }
    }
    return true;
}

static void put_os(xml_out *x, const jb_domain_spec *s)
{
    put(x, "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n");
    put_element(x, "    ", "kernel", s->kernel);
    if (s->initrd)
        put_element(x, "    ", "initrd", s->initrd);
    put_element(x, "    ", "cmdline", s->cmdline);
    put(x, "  </os>\n");
}

static void put_devices(xml_out *x, const jb_domain_spec *s)
{
    put(x, "  <devices>\n");
    if (s->disk) {
        put(x, "    <disk type='file' device='disk'>\n      <driver name='qemu' type='");
        put_escaped(x, s->disk_format ? s->disk_format : "qcow2");
        put(x, "' cache='none'/>\n      <source file='");
        put_escaped(x, s->disk);
        put(x, "'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n");
    }
    put(x, "    <serial type='file'>\n      <source path='");
    put_escaped(x, s->console_path);
    put(x, "'/>\n      <target port='0'/>\n    </serial>\n");
    put(x, "    <controller type='usb' model='none'/>\n    <memballoon model='none'/>\n");
    /* A guest's kernel seeds its random pool from the host. Without a
     * virtio-rng device OSv fills its pool from interrupt timing alone, and
     * under emulation a service's first random read, before it opens its
     * Kafka clients, blocked about 6 s: most of an OSv service's ready time.
     * Processes and containers read the host's pool; guests now do too. */
    put(x, "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n"
           "    </rng>\n");
    put(x, "  </devices>\n");
}

bool jb_domain_xml(const jb_domain_spec *s, char *out, size_t outlen, char *err, size_t errlen)
{
    if (!check_spec(s, err, errlen))
        return false;
    char netdev[1024];
    if (!jb_netdev_arg(s->ports, s->host_ports, s->host_address, netdev, sizeof netdev)) {
        snprintf(err, errlen, "domain XML: too many forwarded ports");
        return false;
    }
    xml_out x = {out, 0, outlen, false};
    put(&x, "<domain type='%s' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n",
        s->kvm ? "kvm" : "qemu");
    put_element(&x, "  ", "name", s->name);
    if (s->owner) { /* lets a later harness remove the domain once its owner is gone */
        char desc[256];
        snprintf(desc, sizeof desc, "jungbench owner %s", s->owner);
        put_element(&x, "  ", "description", desc);
    }
    put(&x, "  <memory unit='MiB'>%ld</memory>\n  <vcpu>%d</vcpu>\n", s->memory_mb, s->vcpus);
    put_os(&x, s);
    put(&x, "  <features>\n    <acpi/>\n  </features>\n");
    if (s->kvm)
        put(&x, "  <cpu mode='host-passthrough'/>\n");
    put(&x, "  <clock offset='utc'/>\n  <on_poweroff>destroy</on_poweroff>\n"
            "  <on_reboot>destroy</on_reboot>\n  <on_crash>destroy</on_crash>\n");
    put_devices(&x, s);
    put(&x, "  <qemu:commandline>\n    <qemu:arg value='-netdev'/>\n    <qemu:arg value='");
    put_escaped(&x, netdev);
    put(&x, "'/>\n    <qemu:arg value='-device'/>\n"
            "    <qemu:arg value='virtio-net-pci,netdev=jbnet0,romfile=,bus=pci.0,"
            "addr=" JB_NIC_PCI_SLOT "'/>\n"
            "  </qemu:commandline>\n</domain>\n");
    if (x.overflow) {
        snprintf(err, errlen, "domain XML: more than %zu bytes", outlen);
        return false;
    }
    return true;
}
