/* runner.h - bringing Jung up on a platform.
 *
 * `jungbench up CONFIG` starts the broker (when the config says
 * `broker: embedded`) and every Jung service as a native process, waits for
 * each readiness line, prints one `service NAME pid=PID ready` line per
 * service and then `gateway=http://127.0.0.1:PORT`, and stays in the
 * foreground until SIGINT/SIGTERM, when it stops every service (SIGTERM,
 * then SIGKILL after a grace period) and the broker. A service that dies on
 * its own takes the whole platform down with exit status 1.
 */
#ifndef JB_RUNNER_H
#define JB_RUNNER_H

int runner_up_main(int argc, char **argv);

#endif
