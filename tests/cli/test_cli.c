/* test_cli.c - cli/cli.c: strict number parsing, --help detection, exit
 * codes of the error helpers, stop signals, clocks. */
#include "tests/testlib.h"
#include "cli/cli.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* stderr redirected into a temporary file, so tests can read the messages. */
typedef struct capture {
    int saved_fd;
    FILE *file;
} capture;

static capture capture_begin(void)
{
    fflush(stderr);
    capture c = {dup(2), tmpfile()};
    dup2(fileno(c.file), 2);
    return c;
}

static void capture_end(capture *c, char *msg, size_t msglen)
{
    fflush(stderr);
    dup2(c->saved_fd, 2);
    close(c->saved_fd);
    rewind(c->file);
    size_t n = fread(msg, 1, msglen - 1, c->file);
    msg[n] = '\0';
    fclose(c->file);
}

static bool parse_long_captured(const char *val, long min, long max, long *out, char *msg,
                                size_t msglen)
{
    capture c = capture_begin();
    bool ok = jb_parse_long("demo", "--count", val, min, max, out);
    capture_end(&c, msg, msglen);
    return ok;
}

static void test_parse_long(void)
{
    long v = -7;
    char msg[512];
    CHECK(parse_long_captured("42", 0, 100, &v, msg, sizeof msg) && v == 42, "42");
    CHECK(parse_long_captured("-5", -10, 10, &v, msg, sizeof msg) && v == -5, "-5");
    CHECK(parse_long_captured("0", 0, 0, &v, msg, sizeof msg) && v == 0, "0 in [0,0]");
    CHECK(parse_long_captured("100", 0, 100, &v, msg, sizeof msg) && v == 100, "max inclusive");
    v = 99;
    const char *bad[] = {"",     "abc", "12abc", "1.5", "101", "-1", "99999999999999999999999",
                         "0x10", "1 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(!parse_long_captured(bad[i], 0, 100, &v, msg, sizeof msg), "accepted '%s'", bad[i]);
        CHECK(v == 99, "'%s' changed the output on failure", bad[i]);
        CHECK(strstr(msg, "--count") && strstr(msg, "jungbench demo"),
              "error for '%s' does not name the option: %s", bad[i], msg);
    }
    CHECK(!parse_long_captured(NULL, 0, 100, &v, msg, sizeof msg), "NULL accepted");
    CHECK(strstr(msg, "0 to 100") != NULL, "range missing from: %s", msg);
}

static void test_parse_double(void)
{
    double d = 0;
    char msg[2048];
    capture c = capture_begin();
    CHECK(jb_parse_double("demo", "--rate", "2.5", 0, 10, &d) && d == 2.5, "2.5");
    CHECK(jb_parse_double("demo", "--rate", "1e1", 0, 10, &d) && d == 10, "1e1");
    CHECK(jb_parse_double("demo", "--rate", "-0", -1, 1, &d) && d == 0, "-0");
    const char *bad[] = {"", "nan", "inf", "-inf", "1e400", "10.0001", "2,5", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!jb_parse_double("demo", "--rate", bad[i], 0, 10, &d), "accepted '%s'", bad[i]);
    CHECK(!jb_parse_double("demo", "--rate", NULL, 0, 10, &d), "NULL accepted");
    capture_end(&c, msg, sizeof msg);
    CHECK(strstr(msg, "--rate expects a number from 0 to 10, got 'nan'"), "message: %s", msg);
}

static void test_help_and_exit_codes(void)
{
    char *a[] = {"cmd", "--x", "--help", NULL};
    char *b[] = {"cmd", "-h", NULL};
    char *c[] = {"cmd", "--", "--help", NULL};
    char *d[] = {"cmd", "--helpful", NULL};
    CHECK(jb_wants_help(3, a), "--help");
    CHECK(jb_wants_help(2, b), "-h");
    CHECK(!jb_wants_help(3, c), "--help after -- is an operand");
    CHECK(!jb_wants_help(2, d), "--helpful is not --help");
    char msg[512];
    capture cap = capture_begin();
    int usage = jb_usage_error("demo", "bad %s", "thing");
    int fail = jb_fail("demo", "broke");
    capture_end(&cap, msg, sizeof msg);
    CHECK(usage == JB_EXIT_USAGE && fail == JB_EXIT_FAIL, "exit codes %d %d", usage, fail);
    CHECK(strcmp(msg, "jungbench demo: bad thing\nTry 'jungbench demo --help'.\n"
                      "jungbench demo: broke\n") == 0,
          "messages: %s", msg);
}

/* In a child: the first stop signal sets the flag, the second restores the
 * default action (cli.h), so a third one kills a stuck teardown. */
static void test_stop_signals(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        jb_install_stop_handlers();
        if (jb_stop_requested())
            _exit(10);
        raise(SIGTERM);
        if (!jb_stop_requested() || jb_stop_signal() != SIGTERM)
            _exit(11);
        raise(SIGPIPE); /* ignored: a closed socket must not kill a command */
        raise(SIGINT);  /* second: back to the default action */
        if (jb_stop_signal() != SIGTERM)
            _exit(12);
        raise(SIGINT); /* third: default action */
        _exit(13);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT,
          "child should die of the third signal; exit %d signal %d",
          WIFEXITED(status) ? WEXITSTATUS(status) : -1,
          WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}

static void test_clocks(void)
{
    double a = jb_now_ms(), b = jb_now_ms();
    CHECK(b >= a, "monotonic clock went back");
    double wall = jb_wall_ms(), t = (double)time(NULL) * 1000.0;
    CHECK(fabs(wall - t) < 2000.0, "wall clock %f far from time() %f", wall, t);
}

int main(void)
{
    test_parse_long();
    test_help_and_exit_codes();
    test_stop_signals();
    test_clocks();
    test_parse_double();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
