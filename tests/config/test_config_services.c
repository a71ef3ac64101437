/* test_config_services.c - the services a config may name (config/config.h)
 * are exactly the platforms' Jung services, in the same start order. */
#include "config/config.h"
#include "platforms/platform.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    int failures = 0;
    if (jb_config_nknown_services != JB_SERVICE_COUNT) {
        fprintf(stderr, "config knows %zu services, platforms %d\n", jb_config_nknown_services,
                JB_SERVICE_COUNT);
        return 1;
    }
    for (size_t i = 0; i < JB_SERVICE_COUNT; i++)
        if (strcmp(jb_config_known_services[i], jb_jung_services[i]) != 0) {
            fprintf(stderr, "service %zu: config '%s', platforms '%s'\n", i,
                    jb_config_known_services[i], jb_jung_services[i]);
            failures++;
        }
    if (jb_config_known_services[JB_SERVICE_COUNT] != NULL) {
        fprintf(stderr, "config's list is not NULL-terminated\n");
        failures++;
    }
    return failures ? 1 : 0;
}
