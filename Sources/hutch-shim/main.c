// hutch-shim: argument parsing and dispatch.
//
//   hutch-shim run  [OPTIONS] [-- CMD ARG...]     start a container (spawn.c)
//   hutch-shim exec --pid PID [OPTIONS] -- CMD ARG...   run a command in one (exec.c)
//   hutch-shim linger [--del-link NAME]...        work the CLI leaves behind (linger.c)
//
// Calls go one way, down; each file includes the headers of the files it calls and no other:
//   main.c     -> spawn.c, exec.c, linger.c, caps.c (parse_caps), proc.c
//   spawn.c    -> child.c, monitor.c, tty.c, caps.c, proc.c
//   exec.c     -> monitor.c, tty.c, caps.c, proc.c
//   child.c    -> init.c, tty.c, caps.c, proc.c
//   monitor.c  -> tty.c, logfmt.c, proc.c
//   init.c, tty.c, caps.c, linger.c -> proc.c
//   proc.c     -> libc only: failure reports, fd hygiene, signal reset, exec, clone, exit codes
//
// The contract with the Swift CLI is docs/shim-protocol.md. Every argument error is one line
// `hutch-shim: ...` on stderr and exit status 125.
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include "spawn.h"
#include "exec.h"
#include "linger.h"
#include "caps.h"
#include "mounts.h"
#include "user.h"
#include "proc.h"

static const char usage_text[] =
    "usage: hutch-shim run [--netns new|host|PATH] [--uts new|host|PATH] [--ipc new|host|PATH]\n"
    "                      [--hostname NAME] [--bind SRC:DST]... [--no-proc] [--workdir DIR]\n"
    "                      [--env K=V]... [--env-file PATH] [--init | --pause] [--caps HEX] [--no-new-privs]\n"
    "                      [--log PATH] [--exit-file PATH] [--exit-cmd ARG]... [--detach]\n"
    "                      [--tty] [--open-stdin] [--read-only] [--rootfs DIR [--rootfs-overlay DIR [--host-submounts]]]\n"
    "                      [--tmpfs PATH[:OPTS]]... [--volume SRC:DST:ro|rw]... [--mask PATH]...\n"
    "                      [--readonly-path PATH]... [--user UID:GID] [--groups GID,...]\n"
    "                      [--seccomp FILE [--seccomp-cache DIR]] [--cgroup DIR]... [--restart POLICY[:MAX]]\n"
    "                      [--stop-file PATH] [--restart-cmd ARG]... [-- CMD ARG...]\n"
    "       hutch-shim exec --pid PID [--env K=V]... [--env-file PATH] [--workdir DIR] [--caps HEX]\n"
    "                      [--no-new-privs] [--tty] [--user UID:GID] [--groups GID,...]\n"
    "                      [--seccomp FILE [--seccomp-cache DIR]] [--cgroup DIR]... -- CMD ARG...\n"
    "       hutch-shim linger [--del-link NAME]...\n"
    "See docs/shim-protocol.md.\n";

// A tiny cursor over argv: options come first, `--` (or the first non-option word) starts the
// command. `--opt VALUE` and `--opt=VALUE` are both accepted.
struct args {
    int argc, i;
    char **argv;
    const char *name;   // the current option, without any `=VALUE`
    const char *inline_value;
};

static bool next_option(struct args *a) {
    if (a->i >= a->argc) return false;
    char *arg = a->argv[a->i];
    if (strcmp(arg, "--") == 0) { a->i++; return false; }
    if (strncmp(arg, "--", 2) != 0) return false;
    a->i++;
    char *eq = strchr(arg, '=');
    a->inline_value = NULL;
    if (eq) {
        // Split `--opt=value` in place (argv is ours to modify).
        *eq = '\0';
        a->inline_value = eq + 1;
    }
    a->name = arg;
    return true;
}

static bool is(struct args *a, const char *name) { return strcmp(a->name, name) == 0; }

static const char *value(struct args *a) {
    if (a->inline_value) return a->inline_value;
    if (a->i >= a->argc) shim_fatal("%s needs a value", a->name);
    return a->argv[a->i++];
}

static void flag(struct args *a) {
    if (a->inline_value) shim_fatal("%s takes no value", a->name);
}

// `new`, `host` or a path to a namespace file.
static void parse_ns(struct ns_opt *ns, const char *v, const char *opt) {
    if (strcmp(v, "new") == 0) ns->mode = NS_NEW;
    else if (strcmp(v, "host") == 0) ns->mode = NS_HOST;
    else if (v[0] == '/') { ns->mode = NS_PATH; ns->path = v; }
    else shim_fatal("invalid %s \"%s\": use new, host or an absolute path to a namespace file", opt, v);
}

// SRC:DST, split at the last ':' (DST is a path inside the container such as /etc/hosts).
static void parse_bind(struct bind *b, char *v) {
    char *colon = strrchr(v, ':');
    if (!colon || colon == v || colon[1] == '\0')
        shim_fatal("invalid --bind \"%s\": use SRC:DST", v);
    b->spec = strdup(v);
    *colon = '\0';
    b->src = v;
    b->dst = colon + 1;
    if (b->src[0] != '/' || b->dst[0] != '/')
        shim_fatal("invalid --bind \"%s\": SRC and DST must be absolute paths", b->spec);
}

// `--env KEY=VALUE`, or `--env NAME` (no '='): the entry `KEY=VALUE` is the value of the
// variable NAME of the shim's own environment. hutch passes entries that way so that values (a
// DB_PASSWORD) never appear in the command line, which every local user can read in /proc;
// /proc/PID/environ is readable by the owner only. Every NAME used is removed from the shim's
// environment (the exit command does not need it).
//
// A container can get thousands of entries (two per service), so lookups go through a table
// built once from environ and sorted by name (getenv + unsetenv per entry scan the whole
// environment each: quadratic), and environ is rebuilt once after parsing (env_finish).
struct env_slot {
    char *entry;      // "NAME=VALUE", as in environ
    size_t index;     // its position in environ
};
struct env_table {
    struct env_slot *slots;  // environ's entries, sorted by name
    bool *used;              // by environ position: taken by an `--env NAME`
    size_t n;
    bool built;
};
static struct env_table env_tab;

// Compares "NAME" (or the name part of "NAME=VALUE") with the name part of "NAME=VALUE".
static int env_name_cmp(const char *a, const char *b) {
    for (;; a++, b++) {
        char ca = *a == '=' ? '\0' : *a, cb = *b == '=' ? '\0' : *b;
        if (ca != cb) return (unsigned char)ca < (unsigned char)cb ? -1 : 1;
        if (ca == '\0') return 0;
    }
}

static int env_slot_cmp(const void *a, const void *b) {
    const struct env_slot *x = a, *y = b;
    int c = env_name_cmp(x->entry, y->entry);
    // Equal names: the first in environ first (getenv's choice).
    return c ? c : (x->index < y->index ? -1 : x->index > y->index);
}

static void env_build(void) {
    size_t n = 0;
    while (environ && environ[n]) n++;
    env_tab.slots = calloc(n + 1, sizeof *env_tab.slots);
    env_tab.used = calloc(n + 1, sizeof *env_tab.used);
    if (!env_tab.slots || !env_tab.used) shim_fatal("out of memory");
    for (size_t i = 0; i < n; i++) env_tab.slots[i] = (struct env_slot){ environ[i], i };
    qsort(env_tab.slots, n, sizeof *env_tab.slots, env_slot_cmp);
    env_tab.n = n;
    env_tab.built = true;
}

// The value ("KEY=VALUE") of the variable `name`, marked for removal; NULL if there is none.
static char *env_take(const char *name) {
    if (!env_tab.built) env_build();
    size_t lo = 0, hi = env_tab.n;   // the first slot whose name is >= name
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (env_name_cmp(env_tab.slots[mid].entry, name) < 0) lo = mid + 1; else hi = mid;
    }
    if (lo == env_tab.n || env_name_cmp(name, env_tab.slots[lo].entry) != 0) return NULL;
    // unsetenv removes every entry of that name.
    for (size_t i = lo; i < env_tab.n && env_name_cmp(name, env_tab.slots[i].entry) == 0; i++)
        env_tab.used[env_tab.slots[i].index] = true;
    return env_tab.slots[lo].entry + strlen(name) + 1;
}

// Drops every variable an `--env NAME` used from environ in one pass, keeping the others' order.
static void env_finish(void) {
    if (!env_tab.built) return;
    char **kept = calloc(env_tab.n + 1, sizeof *kept);
    if (!kept) shim_fatal("out of memory");
    size_t k = 0;
    for (size_t i = 0; i < env_tab.n; i++)
        if (!env_tab.used[i]) kept[k++] = environ[i];
    environ = kept;
    free(env_tab.slots);
    free(env_tab.used);
    env_tab = (struct env_table){ 0 };
}

static void check_env(char **slot) {
    const char *e = *slot;
    if (!strchr(e, '=') && e[0]) {
        char *v = env_take(e);
        if (!v) shim_fatal("invalid --env \"%s\": no such variable in the shim's environment", e);
        *slot = v;
        e = v;
    }
    const char *eq = strchr(e, '=');
    if (!eq || eq == e) shim_fatal("invalid --env \"%s\": use KEY=VALUE", e);
}

// `--env-file PATH`: more entries, one `KEY=VALUE` per line, appended after the `--env` ones;
// an entry whose KEY an `--env` already set is skipped (the user's own variables win). hutch
// keeps the services' NAME_SERVICE_HOST/PORT variables there (thousands at 1,000 services), so
// they travel as one file read instead of thousands of arguments and environment entries.
// `env` holds `*nenv` entries and room for `cap` in all; returns the (maybe moved) array.
static char **env_add_file(char **env, int *nenv, size_t cap, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) shim_fatal("cannot open --env-file %s: %s", path, strerror(errno));
    size_t len = 0, size = 65536;
    char *buf = malloc(size + 1);
    for (;;) {
        if (!buf) shim_fatal("out of memory");
        ssize_t r = read(fd, buf + len, size - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) shim_fatal("cannot read --env-file %s: %s", path, strerror(errno));
        if (r == 0) break;
        len += (size_t)r;
        if (len == size) buf = realloc(buf, (size *= 2) + 1);
    }
    close(fd);
    buf[len] = '\0';
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    env = realloc(env, (cap + lines + 2) * sizeof *env);
    if (!env) shim_fatal("out of memory");
    int own = *nenv;
    for (char *line = buf, *end; *line; line = end) {
        end = strchr(line, '\n');
        if (end) *end++ = '\0'; else end = line + strlen(line);
        if (!*line) continue;
        char *eq = strchr(line, '=');
        if (!eq || eq == line) shim_fatal("invalid entry \"%s\" in --env-file %s: use KEY=VALUE", line, path);
        bool set = false;
        for (int k = 0; k < own && !set; k++)
            set = strncmp(env[k], line, (size_t)(eq - line) + 1) == 0;
        if (!set) env[(*nenv)++] = line;
    }
    env[*nenv] = NULL;
    return env;
}

static const char *abs_path(const char *v, const char *opt) {
    if (v[0] != '/') shim_fatal("invalid %s \"%s\": must be an absolute path", opt, v);
    return v;
}

static void check_workdir(const char *w) {
    if (w[0] != '/') shim_fatal("invalid --workdir \"%s\": must be an absolute path", w);
}

static uint64_t caps_arg(const char *v) {
    uint64_t mask;
    if (parse_caps(v, &mask) < 0) shim_fatal("invalid --caps \"%s\": use a hexadecimal mask such as a80425fb", v);
    return mask;
}

// `no`, `always`, `unless-stopped` or `on-failure[:MAX]` (Docker's --restart).
static void parse_restart(struct run_spec *s, const char *v) {
    const char *colon = strchr(v, ':');
    size_t len = colon ? (size_t)(colon - v) : strlen(v);
    if (len == 2 && strncmp(v, "no", 2) == 0) s->restart = RESTART_NO;
    else if (len == 6 && strncmp(v, "always", 6) == 0) s->restart = RESTART_ALWAYS;
    else if (len == 14 && strncmp(v, "unless-stopped", 14) == 0) s->restart = RESTART_UNLESS_STOPPED;
    else if (len == 10 && strncmp(v, "on-failure", 10) == 0) s->restart = RESTART_ON_FAILURE;
    else shim_fatal("invalid --restart \"%s\": use no, always, unless-stopped or on-failure[:MAX]", v);
    if (colon) {
        char *end;
        errno = 0;
        long n = strtol(colon + 1, &end, 10);
        if (s->restart != RESTART_ON_FAILURE || errno || *end || colon[1] == '\0' || n < 0 || n > 1000000)
            shim_fatal("invalid --restart \"%s\": only on-failure takes a maximum retry count (a number)", v);
        s->restart_max = (int)n;
    }
}

// Copies what is left of argv (the command) into a NULL-terminated array.
static char **rest(struct args *a) {
    int n = a->argc - a->i;
    char **out = calloc((size_t)n + 1, sizeof *out);
    if (!out) shim_fatal("out of memory");
    for (int k = 0; k < n; k++) out[k] = a->argv[a->i + k];
    return out;
}

// Argument errors of `run` also go to fd 3 (when the CLI passed it), in place of the pid.
static int parse_run(int argc, char **argv) {
    fatal_setup("hutch-shim", fcntl(FD_STATUS, F_GETFD) >= 0);
    struct run_spec *s = calloc(1, sizeof *s);
    // Every list holds at most argc entries, so one allocation each is enough.
    if (!s) shim_fatal("out of memory");
    s->binds = calloc((size_t)argc, sizeof *s->binds);
    s->env = calloc((size_t)argc + 1, sizeof *s->env);
    s->exit_cmd = calloc((size_t)argc + 1, sizeof *s->exit_cmd);
    s->mounts.entries = calloc((size_t)argc, sizeof *s->mounts.entries);
    s->mounts.masked = calloc((size_t)argc, sizeof *s->mounts.masked);
    s->mounts.ro_paths = calloc((size_t)argc, sizeof *s->mounts.ro_paths);
    s->cgroups = calloc((size_t)argc, sizeof *s->cgroups);
    s->restart_cmd = calloc((size_t)argc + 3, sizeof *s->restart_cmd); // + EVENT VALUE NULL
    if (!s->binds || !s->env || !s->exit_cmd || !s->mounts.entries || !s->mounts.masked || !s->mounts.ro_paths || !s->cgroups
        || !s->restart_cmd)
        shim_fatal("out of memory");
    int nenv = 0, nexit = 0;
    const char *env_file = NULL;
    s->net = (struct ns_opt){ .mode = NS_NEW, .fd = -1, .clone_flag = CLONE_NEWNET, .step = "setns-net" };
    s->uts = (struct ns_opt){ .mode = NS_NEW, .fd = -1, .clone_flag = CLONE_NEWUTS, .step = "setns-uts" };
    s->ipc = (struct ns_opt){ .mode = NS_NEW, .fd = -1, .clone_flag = CLONE_NEWIPC, .step = "setns-ipc" };
    s->workdir = "/";
    s->log_fd = s->devnull_fd = s->sync_rd = s->sync_wr = s->tty_sock = s->out_wr = s->err_wr = -1;

    struct args a = { .argc = argc, .argv = argv, .i = 0 };
    while (next_option(&a)) {
        if (is(&a, "--netns")) parse_ns(&s->net, value(&a), "--netns");
        else if (is(&a, "--uts")) parse_ns(&s->uts, value(&a), "--uts");
        else if (is(&a, "--ipc")) parse_ns(&s->ipc, value(&a), "--ipc");
        else if (is(&a, "--hostname")) s->hostname = value(&a);
        else if (is(&a, "--bind")) parse_bind(&s->binds[s->nbinds++], (char *)value(&a));
        else if (is(&a, "--no-proc")) { flag(&a); s->no_proc = s->mounts.no_proc = true; }
        else if (is(&a, "--workdir")) { s->workdir = value(&a); check_workdir(s->workdir); }
        else if (is(&a, "--env")) { s->env[nenv] = (char *)value(&a); check_env(&s->env[nenv++]); }
        else if (is(&a, "--env-file")) env_file = abs_path(value(&a), "--env-file");
        else if (is(&a, "--init")) { flag(&a); s->init = true; }
        else if (is(&a, "--pause")) { flag(&a); s->pause = true; }
        else if (is(&a, "--caps")) { s->caps.enabled = true; s->caps.mask = caps_arg(value(&a)); }
        else if (is(&a, "--no-new-privs")) { flag(&a); s->no_new_privs = true; }
        else if (is(&a, "--log")) s->log = value(&a);
        else if (is(&a, "--exit-file")) s->exit_file = value(&a);
        else if (is(&a, "--exit-cmd")) s->exit_cmd[nexit++] = (char *)value(&a);
        else if (is(&a, "--detach")) { flag(&a); s->detach = true; }
        else if (is(&a, "--tty")) { flag(&a); s->tty = true; }
        else if (is(&a, "--open-stdin")) { flag(&a); s->open_stdin = true; }
        else if (is(&a, "--read-only")) { flag(&a); s->mounts.read_only = true; }
        else if (is(&a, "--rootfs")) s->mounts.rootfs = abs_path(value(&a), "--rootfs");
        else if (is(&a, "--rootfs-overlay")) s->mounts.overlay = abs_path(value(&a), "--rootfs-overlay");
        else if (is(&a, "--host-submounts")) { flag(&a); s->mounts.host_submounts = true; }
        else if (is(&a, "--tmpfs")) parse_tmpfs(&s->mounts.entries[s->mounts.nentries++], (char *)value(&a));
        else if (is(&a, "--volume")) parse_volume(&s->mounts.entries[s->mounts.nentries++], (char *)value(&a));
        else if (is(&a, "--mask")) s->mounts.masked[s->mounts.nmasked++] = abs_path(value(&a), "--mask");
        else if (is(&a, "--readonly-path")) s->mounts.ro_paths[s->mounts.nro++] = abs_path(value(&a), "--readonly-path");
        else if (is(&a, "--user")) parse_user(&s->user, value(&a));
        else if (is(&a, "--groups")) parse_groups(&s->user, value(&a));
        else if (is(&a, "--seccomp")) s->seccomp.file = value(&a);
        else if (is(&a, "--seccomp-cache")) s->seccomp.cache = abs_path(value(&a), "--seccomp-cache");
        else if (is(&a, "--cgroup")) s->cgroups[s->ncgroups++] = abs_path(value(&a), "--cgroup");
        else if (is(&a, "--restart")) parse_restart(s, value(&a));
        else if (is(&a, "--stop-file")) s->stop_file = abs_path(value(&a), "--stop-file");
        else if (is(&a, "--restart-cmd")) s->restart_cmd[s->nrestart_cmd++] = (char *)value(&a);
        else shim_fatal("run: unknown option %s", a.name);
    }
    s->argv = rest(&a);
    env_finish();
    if (env_file) s->env = env_add_file(s->env, &nenv, (size_t)argc + 1, env_file);

    if (s->init && s->pause) shim_fatal("--init and --pause exclude each other");
    if (s->pause && s->argv[0]) shim_fatal("--pause takes no command");
    if (s->pause && s->tty) shim_fatal("--tty and --pause exclude each other");
    if (!s->pause && !s->argv[0]) shim_fatal("run: missing command (or --pause)");
    if (s->restart != RESTART_NO && s->pause) shim_fatal("--restart and --pause exclude each other");
    if (s->hostname && s->uts.mode != NS_NEW) shim_fatal("--hostname needs a new UTS namespace (--uts new)");
    if (s->hostname && (s->hostname[0] == '\0' || strlen(s->hostname) > 64))
        shim_fatal("invalid --hostname \"%s\": 1 to 64 characters", s->hostname);
    run_container(s);
}

// In `exec` mode the shim stands in for the `hutch exec` process that exec'ed it, so its errors
// carry hutch's own prefix.
static int parse_exec(int argc, char **argv) {
    fatal_setup("hutch", false);
    struct exec_spec *s = calloc(1, sizeof *s);
    if (!s) shim_fatal("out of memory");
    s->env = calloc((size_t)argc + 1, sizeof *s->env);
    s->cgroups = calloc((size_t)argc, sizeof *s->cgroups);
    if (!s->env || !s->cgroups) shim_fatal("out of memory");
    s->workdir = "/";
    int nenv = 0;
    const char *env_file = NULL;

    struct args a = { .argc = argc, .argv = argv, .i = 0 };
    while (next_option(&a)) {
        if (is(&a, "--pid")) {
            const char *v = value(&a);
            char *end;
            errno = 0;
            long p = strtol(v, &end, 10);
            if (errno || *end || p <= 0 || p > 0x3fffffff) shim_fatal("invalid --pid \"%s\"", v);
            s->pid = (pid_t)p;
        }
        else if (is(&a, "--env")) { s->env[nenv] = (char *)value(&a); check_env(&s->env[nenv++]); }
        else if (is(&a, "--env-file")) env_file = abs_path(value(&a), "--env-file");
        else if (is(&a, "--workdir")) { s->workdir = value(&a); check_workdir(s->workdir); }
        else if (is(&a, "--caps")) { s->caps.enabled = true; s->caps.mask = caps_arg(value(&a)); }
        else if (is(&a, "--no-new-privs")) { flag(&a); s->no_new_privs = true; }
        else if (is(&a, "--tty")) { flag(&a); s->tty = true; }
        else if (is(&a, "--user")) parse_user(&s->user, value(&a));
        else if (is(&a, "--groups")) parse_groups(&s->user, value(&a));
        else if (is(&a, "--seccomp")) s->seccomp.file = value(&a);
        else if (is(&a, "--seccomp-cache")) s->seccomp.cache = abs_path(value(&a), "--seccomp-cache");
        else if (is(&a, "--cgroup")) s->cgroups[s->ncgroups++] = abs_path(value(&a), "--cgroup");
        else shim_fatal("exec: unknown option %s", a.name);
    }
    s->argv = rest(&a);
    env_finish();
    if (env_file) s->env = env_add_file(s->env, &nenv, (size_t)argc + 1, env_file);
    if (s->pid == 0) shim_fatal("exec: missing --pid");
    if (!s->argv[0]) shim_fatal("exec: missing command");
    exec_in_container(s);
}

// `linger [--del-link NAME]...`: the names go to linger_main (linger.c) in argv order.
static int parse_linger(int argc, char **argv) {
    const char **links = calloc((size_t)argc + 1, sizeof *links);
    if (!links) shim_fatal("out of memory");
    int n = 0;
    struct args a = { .argc = argc, .argv = argv, .i = 0 };
    while (next_option(&a)) {
        if (is(&a, "--del-link")) links[n++] = value(&a);
        else shim_fatal("linger: unknown option %s", a.name);
    }
    if (a.i < argc) shim_fatal("linger: unexpected argument \"%s\"", argv[a.i]);
    return linger_main(links, n);
}

int main(int argc, char **argv) {
    // The init and pause retitle themselves: remember the argv area before parsing splits
    // `--opt=value`.
    title_setup(argc, argv);
    if (argc < 2) shim_fatal("missing mode: run or exec (see --help)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0) return parse_run(argc - 2, argv + 2);
    if (strcmp(argv[1], "exec") == 0) return parse_exec(argc - 2, argv + 2);
    if (strcmp(argv[1], "linger") == 0) return parse_linger(argc - 2, argv + 2);
    shim_fatal("unknown mode \"%s\": use run, exec or linger", argv[1]);
}
