/* report.h - reports on the results database: the dissertation's tables and
 * figures (text, Markdown, CSV, JSON, HTML), JMeter JTL export, and the CI
 * regression gate.
 *
 *   jungbench report RUN_DIR|DB [--format text|md|csv|jtl|html|json] [--out PATH]
 *   jungbench report RUN_DIR|DB --check
 *   jungbench compare BASE NEW [--threshold PCT] [--metrics LIST] [--format text|json]
 *
 * docs/report.md describes every table, statistic and file.
 */
#ifndef JB_REPORT_H
#define JB_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Subcommand entry points (main.c). */
int report_main(int argc, char **argv);
int compare_main(int argc, char **argv);

/* Writes the text tables of one run to out: what `jungbench run` prints at
 * its end. path is a run folder or a results.db; run_id NULL picks the
 * database's latest run. False with a reason in err (missing or foreign
 * database, no such run). */
bool jb_report_print_text(const char *path, const char *run_id, FILE *out, char *err,
                          size_t errlen);

/* Evaluates the thresholds of the run's recorded config: the pass/fail
 * summary to out (NULL: none), one "jungbench CMD: threshold breached: ..."
 * line per breach on stderr. Returns how many were breached and sets
 * *nchecked to how many results there were (0: the config sets none);
 * -1 with a reason in err when the run cannot be read. */
int jb_report_check_thresholds(const char *path, const char *run_id, const char *cmd, FILE *out,
                               int *nchecked, char *err, size_t errlen);

#endif
