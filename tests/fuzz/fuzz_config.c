/* fuzz_config: the experiment loader (jb_config_parse) on arbitrary text:
 * every file is either a valid experiment or an error naming
 * file:line:col. Files are not checked on disk (flags 0). */
#include "config/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jb_config *cfg;
    if (!cfg && !(cfg = malloc(sizeof *cfg)))
        return 0;
    char err[4096] = "";
    if (!jb_config_parse("fuzz.yaml", (const char *)data, size, 0, cfg, err, sizeof err) &&
        strncmp(err, "fuzz.yaml", 9) != 0)
        __builtin_trap(); /* an error that does not name the file */
    return 0;
}
