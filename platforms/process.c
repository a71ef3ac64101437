/* process.c - the "process" driver: each instance a native process.
 *
 * The harness forks and execs the service (the services themselves never
 * fork) into its own process group, so Ctrl-C at the terminal reaches the
 * harness only and the harness stops its instances in order, and so a stop
 * can signal everything the instance might have left behind. SIGTERM is
 * the service's death signal: a harness killed with SIGKILL leaves no
 * service running. Output
 * (stdout and stderr) goes to <work_dir>/<instance>.log, which the
 * readiness detection follows. */
#include "platforms/internal.h"

#include "cli/cli.h"
#include "platforms/images.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct process_instance {
    pid_t pid;
    bool reaped;
    bool term_sent; /* the one SIGTERM of a stop */
    int status;     /* wait status once reaped */
    jb_follow log;
} process_instance;

static bool process_open(jb_platform *p, char *err, size_t errlen)
{
    jb_strlcpy(p->accel, "native", sizeof p->accel);
    return true;
}

static void executable_path(const jb_platform *p, const char *service, char *out, size_t outlen)
{
    jb_service_executable(p->cfg.bin_dir, p->cfg.build, service, out, outlen);
}

/* What builds the executable: the static copies come with the services'
 * own targets (jung-<svc>-static strips into static/jung-<svc>). */
static void build_hint(const jb_platform *p, const char *exe, char *out, size_t outlen)
{
    const char *name = strrchr(exe, '/') + 1;
    if (strcmp(p->cfg.build, "static") == 0)
        snprintf(out, outlen,
                 "build it with 'ninja -C <build> %s-static' (needs the musl libraries of "
                 "scripts/static-deps), or set 'build: dynamic' on the platform",
                 name);
    else
        snprintf(out, outlen, "build it with 'ninja -C <build> %s'", name);
}

static bool process_prepare(jb_platform *p, const char *service, char *err, size_t errlen)
{
    char exe[4096];
    executable_path(p, service, exe, sizeof exe);
    if (access(exe, X_OK) == 0)
        return true;
    char hint[512];
    build_hint(p, exe, hint, sizeof hint);
    snprintf(err, errlen, "no %s executable %s for service %s: %s", p->cfg.build, exe, service,
             hint);
    return false;
}

/* argv: EXE --instance ID --brokers B [spec args...] NULL; env: ours plus
 * the spec's. Both arrays point into the caller's strings. */
static char **build_argv(const char *exe, const jb_instance *inst, const jb_instance_spec *spec)
{
    size_t nargs = 0;
    while (spec->args && spec->args[nargs])
        nargs++;
    char **argv = calloc(nargs + 8, sizeof *argv);
    if (!argv)
        return NULL;
    size_t i = 0;
    argv[i++] = (char *)exe;
    argv[i++] = "--instance";
    argv[i++] = (char *)inst->info.instance;
    argv[i++] = "--brokers";
    argv[i++] = (char *)inst->platform->cfg.brokers;
    for (size_t k = 0; k < nargs; k++)
        argv[i++] = (char *)spec->args[k];
    if (jb_spec_is_gateway(spec)) { /* last, so it wins over a caller's --bind */
        argv[i++] = "--bind";
        argv[i++] = (char *)inst->platform->cfg.advertise;
    }
    return argv;
}

static char **build_env(const jb_instance_spec *spec)
{
    size_t nours = 0, nspec = 0;
    while (environ[nours])
        nours++;
    while (spec->env && spec->env[nspec])
        nspec++;
    char **env = calloc(nours + nspec + 1, sizeof *env);
    if (!env)
        return NULL;
    memcpy(env, environ, nours * sizeof *env);
    for (size_t k = 0; k < nspec; k++)
        env[nours + k] = (char *)spec->env[k];
    return env;
}

/* In the child between fork and exec: only async-signal-safe calls. A new
 * process group (Ctrl-C at the terminal reaches the harness only), default
 * signal handling (the harness may ignore SIGPIPE or block signals), and
 * PR_SET_PDEATHSIG so that the service gets SIGTERM when the harness dies,
 * even by SIGKILL. The death signal fires when the forking *thread* ends:
 * the runner's job thread and `up` both stop their instances before their
 * thread returns. Returns only on failure, with errno set. */
static void exec_child(pid_t parent, const char *exe, const char *log_path, char **argv, char **env)
{
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
        return;
    if (getppid() != parent) /* the harness died before prctl: too late to be told */
        _exit(127);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        return;
    if (in > 2)
        close(in);
    if (out > 2)
        close(out);
    const int defaults[] = {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        signal(defaults[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(exe, argv, env);
}

/* fork + exec rather than posix_spawn, which cannot set the death signal.
 * A close-on-exec pipe carries the child's errno if it fails before or in
 * execve; EOF means the exec happened. Returns 0 or an errno value. */
static int spawn_child(pid_t *pid, const char *exe, const char *log_path, char **argv, char **env)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return errno;
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(fds[0]), close(fds[1]);
        return e;
    }
    if (child == 0) {
        close(fds[0]);
        exec_child(parent, exe, log_path, argv, env);
        int e = errno;
        ssize_t w = write(fds[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(fds[1]);
    int child_errno = 0;
    ssize_t n;
    do
        n = read(fds[0], &child_errno, sizeof child_errno);
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == (ssize_t)sizeof child_errno) {
        waitpid(child, NULL, 0);
        return child_errno ? child_errno : ECHILD;
    }
    *pid = child;
    return 0;
}

static bool process_start(jb_platform *p, jb_instance *inst, const jb_instance_spec *spec,
                          char *err, size_t errlen)
{
    char exe[4096];
    if (spec->executable)
        jb_strlcpy(exe, spec->executable, sizeof exe);
    else
        executable_path(p, spec->service, exe, sizeof exe);
    if (access(exe, X_OK) != 0) {
        char hint[512];
        build_hint(p, exe, hint, sizeof hint);
        snprintf(err, errlen, "cannot run %s for service %s: %s; %s", exe, spec->service,
                 strerror(errno), hint);
        return false;
    }
    process_instance *pi = calloc(1, sizeof *pi);
    char **argv = build_argv(exe, inst, spec);
    char **env = build_env(spec);
    if (!pi || !argv || !env) {
        free(pi), free(argv), free(env);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    jb_follow_init(&pi->log);
    snprintf(inst->info.log_path, sizeof inst->info.log_path, "%s/%s.log", p->cfg.work_dir,
             inst->info.instance);
    jb_strlcpy(pi->log.path, inst->info.log_path, sizeof pi->log.path);
    int rc = spawn_child(&pi->pid, exe, inst->info.log_path, argv, env);
    free(argv);
    free(env);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start %s: %s", exe, strerror(rc));
        free(pi);
        return false;
    }
    inst->priv = pi;
    inst->info.pids[0] = pi->pid;
    inst->info.npids = 1;
    snprintf(inst->info.name, sizeof inst->info.name, "%s[%d]", inst->info.instance, (int)pi->pid);
    return true;
}

static void describe_status(jb_instance *inst, int status)
{
    if (WIFEXITED(status))
        snprintf(inst->exit_reason, sizeof inst->exit_reason, "exited with status %d",
                 WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(inst->exit_reason, sizeof inst->exit_reason, "was killed by signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
}

/* Has the child exited? Checks without reaping it, so its PID (and process
 * group id) cannot be reused before stop has signalled the group. */
static bool child_exited(process_instance *pi)
{
    if (pi->reaped)
        return true;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pi->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == ECHILD;
    return si.si_pid == pi->pid;
}

static void reap(process_instance *pi)
{
    if (pi->reaped)
        return;
    kill(-pi->pid, SIGKILL); /* anything the service left in its group */
    while (waitpid(pi->pid, &pi->status, 0) < 0 && errno == EINTR)
        ;
    pi->reaped = true;
}

static bool process_poll(jb_instance *inst)
{
    process_instance *pi = inst->priv;
    jb_follow_poll(&pi->log, inst);
    if (!child_exited(pi))
        return true;
    jb_follow_poll(&pi->log, inst); /* the last words */
    if (!pi->reaped) {
        reap(pi);
        describe_status(inst, pi->status);
    }
    return false;
}

static bool process_image_layers(jb_platform *p, const char *service, char (*ids)[512],
                                 uint64_t *bytes, size_t max, size_t *n, const char **kind,
                                 char *err, size_t errlen)
{
    char exe[4096];
    executable_path(p, service, exe, sizeof exe);
    *kind = "native";
    *n = 0;
    if (!jb_file_layer(exe, ids, bytes, max, n, err, errlen))
        return false;
    if (jb_elf_is_static(exe, err, errlen))
        return true;
    /* What the process loads: its loader and libraries too, each a layer
     * named by its path, so the ones services share count once. */
    jb_runtime_files *files = calloc(1, sizeof *files);
    bool ok = files && jb_elf_runtime_files(exe, files, err, errlen);
    for (size_t i = 0; ok && i < files->n; i++)
        ok = jb_file_layer(files->paths[i], ids, bytes, max, n, err, errlen);
    free(files);
    return ok;
}

/* The one SIGTERM a stop sends. A second one would be a kill: Jung's
 * handler restores the default action after the first, so the service
 * would die in the middle of leaving its consumer groups. */
static void send_term(process_instance *pi)
{
    if (pi->term_sent || child_exited(pi))
        return;
    kill(-pi->pid, SIGTERM);
    pi->term_sent = true;
}

static void process_signal_stop(jb_instance *inst)
{
    send_term(inst->priv);
}

/* platform.c sent the SIGTERM and waited up to stop_grace_ms: what still
 * runs now gets SIGKILL. */
static bool process_stop(jb_instance *inst, char *err, size_t errlen)
{
    process_instance *pi = inst->priv;
    bool ok = true;
    if (!child_exited(pi)) {
        snprintf(err, errlen, "%s did not stop within %.0f ms of SIGTERM: killed", inst->info.name,
                 inst->platform->cfg.stop_grace_ms);
        inst->stop.killed = true;
        ok = false;
    }
    jb_follow_poll(&pi->log, inst); /* the last words, "<instance>: stopped" */
    reap(pi);
    jb_stop_record_status(&inst->stop, pi->status);
    jb_follow_close(&pi->log);
    free(pi);
    inst->priv = NULL;
    return ok;
}

const jb_driver jb_driver_process = {
    .name = "process",
    .daemons = 0,
    .open = process_open,
    .close = NULL,
    .prepare = process_prepare,
    .start = process_start,
    .poll = process_poll,
    .signal_stop = process_signal_stop,
    .image_layers = process_image_layers,
    .stop = process_stop,
};
