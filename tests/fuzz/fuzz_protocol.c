/* fuzz_protocol: the controller/runner message decoder (jb_msg_decode) on
 * arbitrary bytes, as either side reads them from its Kafka topic. */
#include "bus/bus.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jb_msg msg;
    char err[512] = "";
    if (jb_msg_decode((const char *)data, size, &msg, err, sizeof err))
        jb_msg_clear(&msg);
    else if (!err[0])
        __builtin_trap(); /* refused without saying why */
    return 0;
}
