/* domain_xml.h - libvirt domain XML for a jungbench guest (internal). */
#ifndef JB_PLATFORMS_DOMAIN_XML_H
#define JB_PLATFORMS_DOMAIN_XML_H

#include <stdbool.h>
#include <stddef.h>

typedef struct jb_domain_spec {
    const char *name;
    bool kvm;                /* <domain type='kvm'>, else 'qemu' (TCG emulation) */
    int vcpus;               /* >= 1 */
    long memory_mb;          /* >= 16 */
    const char *kernel;      /* direct kernel boot */
    const char *initrd;      /* may be NULL (OSv) */
    const char *disk;        /* may be NULL (microVM); OSv's image */
    const char *disk_format; /* "qcow2" or "raw"; default qcow2 */
    const char *cmdline;
    const char *console_path; /* the serial console's file */
    const int *ports;         /* 0-terminated; guest ports forwarded from the host's 127.0.0.1 */
    const int *host_ports;    /* the host port of each of ports; NULL: the same number */
    const char *host_address; /* where the forwards listen; NULL: 127.0.0.1 */
    const char *owner;        /* jb_owner_token(): <description>jungbench owner ...; may be NULL */
} jb_domain_spec;

/* Writes the domain XML: direct kernel boot, serial console to a file,
 * no USB/balloon/graphics, destroy on poweroff/reboot/crash, and QEMU user
 * networking with the host forwards bound to 127.0.0.1 through
 * <qemu:commandline> (libvirt 9.0 on Debian has no passt). False when a
 * field is missing or out of range, or out is too small. */
bool jb_domain_xml(const jb_domain_spec *spec, char *out, size_t outlen, char *err, size_t errlen);

/* The guest's kernel command line. osv_template NULL: a microVM's
 * ("console=ttyS0 panic=-1 quiet jung.ip=... jung.gw=... ENV -- ARGS", the
 * environment as NAME=VALUE words for our init); else OSv's, the template
 * with {service} and {args} replaced, after env ("--env=NAME=VALUE " words).
 * False when it does not fit in out. */
bool jb_guest_cmdline(const char *osv_template, const char *service, const char *env,
                      const char *args, char *out, size_t outlen);

/* The QEMU -netdev value: "user,id=jbnet0[,hostfwd=tcp:ADDR:H-:P...]", H
 * the host port of guest port P (host_ports[i], or P when NULL), ADDR
 * host_address (NULL: 127.0.0.1). */
bool jb_netdev_arg(const int *ports, const int *host_ports, const char *host_address, char *out,
                   size_t outlen);

/* The NIC's PCI slot on the root bus. libvirt places its own devices (the
 * disk, controllers) from slot 2 upwards and knows nothing of a device in
 * <qemu:commandline>, so the NIC takes the last slot, which libvirt only
 * reaches with 29 devices of its own. */
#define JB_NIC_PCI_SLOT "0x1f"

#endif
