/* test_parse.c - /proc/PID/stat parsing: a command name with spaces and
 * parentheses, and truncated or garbled lines refused, not misread. */
#include "metrics/internal.h"
#include "helpers.h"

int main(void)
{
    /* fields 4.. after state: ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime(14) stime(15) cutime cstime priority nice
     * threads itrealvalue starttime(22) vsize rss(24) ... */
    const char *line = "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 "
                       "5 0 123456 10000000 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 "
                       "1 0 0 0 0 0\n";
    proc_stat p;
    CHECK(statfd_parse(line, 4, &p), "a valid line was refused");
    CHECK(p.state == 'S', "state '%c'", p.state);
    CHECK(p.ticks == 300, "utime+stime = %llu, expected 300 (children's time excluded)", p.ticks);
    CHECK(p.began == 123456, "starttime %llu", p.began);
    CHECK(p.rss_kb == 2048 * 4, "rss %lld kB", (long long)p.rss_kb);
    CHECK(!statfd_parse("4242 (x) S 1 2 3", 4, &p), "a truncated line was accepted");
    CHECK(!statfd_parse("4242 no parens", 4, &p), "a line without a command name was accepted");
    CHECK(!statfd_parse("4242 (x)", 4, &p), "a line without a state was accepted");
    CHECK(!statfd_parse("", 4, &p), "an empty line was accepted");
    return failures ? 1 : 0;
}
