/* identity.h - is the endpoint READY named the Jung the runner booted?
 *
 * A runner names its gateway's endpoint in READY, and the gateway it
 * booted answers every request with the name the runner gave it
 * (X-Jung-Gateway, jung/api_gateway.c --gateway-id). Before any load the
 * controller asks the endpoint once and compares: another Jung on the same
 * address and port (a fixed gateway_port also held on the controller's
 * machine, a runner advertising an address that is not its own) answers
 * with another name, or none, and is refused instead of measured.
 */
#ifndef JB_CONTROLLER_IDENTITY_H
#define JB_CONTROLLER_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#define JB_GATEWAY_IDENTITY_HEADER "X-Jung-Gateway"

/* One GET of <endpoint>/ within timeout_ms. True when the answer carries
 * X-Jung-Gateway equal to expected; else false with the reason in err
 * (unreachable, no header, another name). */
bool jb_gateway_identity_check(const char *endpoint, const char *expected, long timeout_ms,
                               char *err, size_t errlen);

#endif
