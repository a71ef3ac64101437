/* provision.h - `jungbench provision` (figure 13 of the dissertation): N
 * instances of one service started at once on each platform of a config,
 * timed until every one is ready, repeated, and stored in provision_times
 * and boot_times (docs/platforms.md). It boots through the same launch plan
 * as `up` and `run` (platforms/launch.h), on its own embedded broker. */
#ifndef JB_PROVISION_PROVISION_H
#define JB_PROVISION_PROVISION_H

int provision_main(int argc, char **argv); /* jungbench provision */

#endif
