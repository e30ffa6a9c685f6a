/* SPDX-License-Identifier: MIT */
/* vmm-run: run the VM a JSON spec describes, console on stdio, optionally
 * controlled over a UNIX socket speaking newline-delimited JSON; or run a
 * static Linux program in a sandbox (--elf). */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libvmm/vmm.h>

enum {
    EXIT_USAGE = 2,
    EXIT_TIMEOUT = 124,
    EXIT_CRASH = 125,
    EXIT_BADSPEC = 126,
};

static const char usage[] =
    "usage: vmm-run [--timeout SECONDS] [--control SOCKET] SPEC.json\n"
    "       vmm-run [--timeout SECONDS] [--memory MIB] --elf PROGRAM [ARGS...]\n"
    "       vmm-run --help | --version\n"
    "\n"
    "Runs the VM described by SPEC.json (see docs/spec.md) with its console\n"
    "(the serial device marked \"console\": true) on standard input and output.\n"
    "\n"
    "  --timeout SECONDS  stop the VM after this long (also limits.time_budget_ms;\n"
    "                     the shorter one applies)\n"
    "  --control SOCKET   accept newline-delimited JSON commands on a UNIX socket:\n"
    "                     {\"command\": \"query-status\"|\"pause\"|\"resume\"|\"stop\"|\n"
    "                                  \"snapshot\"|\"restore\"}\n"
    "\n"
    "Exit status: the guest's debug-exit status (its low 8 bits) when it reports one;\n"
    "0 when every vCPU halted or the VM was stopped with the \"stop\" command;\n"
    "124 time limit reached; 125 the guest crashed (triple fault, KVM error);\n"
    "126 bad spec or the VM could not be built; 2 usage error;\n"
    "128+N when stopped by signal N (130 for SIGINT, 143 for SIGTERM).\n"
    "\n"
    "With --elf, runs PROGRAM, a static x86-64 Linux executable (e.g. built with\n"
    "musl-gcc -static), in a sandbox VM with the default system-call policy\n"
    "(docs/guide.md, \"Sandboxes\"); everything after PROGRAM is its arguments.\n"
    "Its stdin, stdout and stderr are vmm-run's; it sees no files, network or\n"
    "environment.\n"
    "  --memory MIB       the sandbox's memory, 8-3072 MiB, a multiple of 2 (default 64)\n"
    "Exit status: the program's exit status; 124 time limit reached; 125 the\n"
    "program faulted or crashed (the reason on stderr); 126 PROGRAM could not be\n"
    "loaded; 2 usage error; 128+N when stopped by signal N.\n";

static vmm_vm *vm;
static vmm_sandbox *sandbox;
static vmm_spec_info info;
static vmm_snapshot *snap; /* the control channel's one in-memory snapshot */
static volatile sig_atomic_t got_signal;
/* The console and signal threads may outlive the run (a read of stdin, a
 * late signal): they act on the VM or sandbox only under this lock, and only
 * until main retires it, just before destroying it. */
static pthread_mutex_t target_lock = PTHREAD_MUTEX_INITIALIZER;
static bool target_gone;

static void retire_target(void)
{
    pthread_mutex_lock(&target_lock);
    target_gone = true;
    pthread_mutex_unlock(&target_lock);
}

/* ---- console ---- */

static void console_out(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    while (len) {
        ssize_t n = write(STDOUT_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* stdout closed: drop, the guest must not stall on it */
        buf += n;
        len -= (size_t)n;
    }
}

static void *console_in(void *arg)
{
    vmm_device *dev = arg;
    uint8_t buf[256];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        for (ssize_t off = 0; off < n;) {
            pthread_mutex_lock(&target_lock);
            int k = target_gone ? -1 : vmm_serial_input(dev, buf + off, (size_t)(n - off));
            pthread_mutex_unlock(&target_lock);
            if (k < 0)
                return NULL;
            off += k;
            if (off < n) { /* the guest's FIFO is full: wait for it to read */
                struct timespec ts = {0, 5000000};
                nanosleep(&ts, NULL);
            }
        }
    }
}

/* ---- signals: a thread turns SIGINT/SIGTERM into vmm_vm_stop ---- */

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig;
    while (sigwait(set, &sig) == 0) {
        got_signal = sig;
        pthread_mutex_lock(&target_lock);
        if (!target_gone) {
            if (sandbox)
                vmm_sandbox_stop(sandbox);
            else
                vmm_vm_stop(vm);
        }
        pthread_mutex_unlock(&target_lock);
    }
    return NULL;
}

/* A reader of our stdout or a control client that goes away must not end
 * the run: writes then fail with EPIPE and the bytes are dropped. SIGINT and
 * SIGTERM go to one thread, which stops the VM or the sandbox; they are
 * blocked everywhere else. */
static void start_signal_thread(void)
{
    signal(SIGPIPE, SIG_IGN);
    static sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    pthread_t th;
    pthread_create(&th, NULL, signal_thread, &sigs);
}

/* ---- control channel ---- */

#define MAX_CLIENTS 16
#define MAX_LINE    4096

struct client {
    int fd;
    char buf[MAX_LINE];
    size_t len;
    bool discarding; /* inside an over-long line */
};

static int control_listen;
static int control_wake[2] = {-1, -1};
static volatile bool stopped_by_command;

static void reply(int fd, struct json_object *id, struct json_object *body, bool error)
{
    struct json_object *r = json_object_new_object();
    if (id)
        json_object_object_add(r, "id", json_object_get(id));
    json_object_object_add(r, error ? "error" : "return", body);
    const char *s = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN);
    size_t n = strlen(s);
    char *line = malloc(n + 2);
    if (line) {
        memcpy(line, s, n);
        line[n] = '\n';
        /* MSG_NOSIGNAL: a client that went away must not kill us with SIGPIPE. */
        for (size_t off = 0; off < n + 1;) {
            ssize_t k = send(fd, line + off, n + 1 - off, MSG_NOSIGNAL);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            off += (size_t)k;
        }
        free(line);
    }
    json_object_put(r);
}

static void reply_error(int fd, struct json_object *id, const char *cls, const char *desc)
{
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "class", json_object_new_string(cls));
    json_object_object_add(e, "desc", json_object_new_string(desc));
    reply(fd, id, e, true);
}

/* "snapshot" keeps one snapshot in memory (replacing the last); "restore"
 * resets the VM to it. A running VM is paused around either and resumed. */
static void snapshot_command(int fd, struct json_object *id, bool take)
{
    if (!take && !snap) {
        reply_error(fd, id, "GenericError", "no snapshot has been taken");
        return;
    }
    bool was_running = vmm_vm_get_state(vm) == VMM_VM_RUNNING;
    if (was_running && vmm_vm_pause(vm) < 0) {
        reply_error(fd, id, "GenericError", vmm_error_last()->message);
        return;
    }
    int rc;
    struct json_object *r = json_object_new_object();
    if (take) {
        vmm_snapshot *s;
        rc = vmm_snapshot_take(vm, &s);
        if (rc == 0) {
            vmm_snapshot_free(snap);
            snap = s;
            json_object_object_add(r, "memory_bytes",
                                   json_object_new_int64((int64_t)vmm_snapshot_memory_size(s)));
        }
    } else {
        rc = vmm_snapshot_restore(vm, snap);
        vmm_snapshot_stats st;
        if (rc == 0 && vmm_snapshot_last_restore(vm, &st) == 0) {
            json_object_object_add(r, "pages_copied",
                                   json_object_new_int64((int64_t)st.pages_copied));
            json_object_object_add(r, "full", json_object_new_boolean(st.full));
        }
    }
    char err[512];
    if (rc < 0)
        snprintf(err, sizeof err, "%s", vmm_error_last()->message);
    if (was_running)
        vmm_vm_resume(vm);
    if (rc < 0) {
        json_object_put(r);
        reply_error(fd, id, "GenericError", err);
    } else {
        reply(fd, id, r, false);
    }
}

static void handle_line(int fd, const char *line, size_t len)
{
    struct json_tokener *tok = json_tokener_new_ex(8);
    struct json_object *req = tok ? json_tokener_parse_ex(tok, line, (int)len) : NULL;
    bool ok = tok && json_tokener_get_error(tok) == json_tokener_success &&
              (size_t)json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    struct json_object *cmd = NULL, *id = NULL;
    if (!ok || !json_object_is_type(req, json_type_object)) {
        reply_error(fd, NULL, "GenericError",
                    "malformed request: expected one JSON object per line");
        json_object_put(req);
        return;
    }
    json_object_object_get_ex(req, "id", &id);
    if (!json_object_object_get_ex(req, "command", &cmd) ||
        !json_object_is_type(cmd, json_type_string)) {
        reply_error(fd, id, "GenericError", "missing \"command\" (a string)");
        json_object_put(req);
        return;
    }
    const char *c = json_object_get_string(cmd);
    if (strcmp(c, "query-status") == 0) {
        static const char *const names[] = {"idle", "running", "paused"};
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "status", json_object_new_string(names[vmm_vm_get_state(vm)]));
        json_object_object_add(r, "name", json_object_new_string(info.name));
        json_object_object_add(r, "uuid", json_object_new_string(info.uuid));
        json_object_object_add(r, "vcpus", json_object_new_int((int)info.vcpus));
        reply(fd, id, r, false);
    } else if (strcmp(c, "pause") == 0 || strcmp(c, "resume") == 0 || strcmp(c, "stop") == 0) {
        int rc;
        if (c[0] == 'p')
            rc = vmm_vm_pause(vm);
        else if (c[0] == 'r')
            rc = vmm_vm_resume(vm);
        else {
            stopped_by_command = true;
            rc = vmm_vm_stop(vm);
        }
        if (rc < 0)
            reply_error(fd, id, "GenericError", vmm_error_last()->message);
        else
            reply(fd, id, json_object_new_object(), false);
    } else if (strcmp(c, "snapshot") == 0 || strcmp(c, "restore") == 0) {
        snapshot_command(fd, id, c[0] == 's');
    } else {
        char desc[160];
        snprintf(desc, sizeof desc, "unknown command \"%.64s\"", c);
        reply_error(fd, id, "CommandNotFound", desc);
    }
    json_object_put(req);
}

/* Feed received bytes to a client's line buffer; false when it must be closed. */
static bool client_input(struct client *cl)
{
    char tmp[1024];
    ssize_t n = recv(cl->fd, tmp, sizeof tmp, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    for (ssize_t i = 0; i < n; i++) {
        char ch = tmp[i];
        if (ch == '\n') {
            if (cl->discarding)
                reply_error(cl->fd, NULL, "GenericError", "request longer than 4096 bytes");
            else if (cl->len)
                handle_line(cl->fd, cl->buf, cl->len);
            cl->len = 0;
            cl->discarding = false;
        } else if (!cl->discarding) {
            if (cl->len == MAX_LINE) {
                cl->discarding = true;
                cl->len = 0;
            } else {
                cl->buf[cl->len++] = ch;
            }
        }
    }
    return true;
}

static void *control_thread(void *arg)
{
    (void)arg;
    struct client *clients = calloc(MAX_CLIENTS, sizeof *clients);
    if (!clients)
        return NULL;
    for (int i = 0; i < MAX_CLIENTS; i++)
        clients[i].fd = -1;
    for (;;) {
        struct pollfd p[MAX_CLIENTS + 2];
        int map[MAX_CLIENTS + 2];
        nfds_t n = 0;
        p[n] = (struct pollfd){control_wake[0], POLLIN, 0};
        map[n++] = -2;
        p[n] = (struct pollfd){control_listen, POLLIN, 0};
        map[n++] = -1;
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (clients[i].fd >= 0) {
                p[n] = (struct pollfd){clients[i].fd, POLLIN, 0};
                map[n++] = i;
            }
        if (poll(p, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            break;
        for (nfds_t k = 1; k < n; k++) {
            if (!p[k].revents)
                continue;
            if (map[k] == -1) {
                int fd = accept4(control_listen, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                    continue;
                int slot = -1;
                for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
                    if (clients[i].fd < 0)
                        slot = i;
                if (slot < 0) {
                    reply_error(fd, NULL, "GenericError", "too many clients");
                    close(fd);
                    continue;
                }
                clients[slot] = (struct client){.fd = fd};
            } else {
                struct client *cl = &clients[map[k]];
                if (!client_input(cl)) {
                    close(cl->fd);
                    cl->fd = -1;
                }
            }
        }
    }
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].fd >= 0)
            close(clients[i].fd);
    free(clients);
    return NULL;
}

static int control_open(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        fprintf(stderr, "vmm-run: --control %s: path too long\n", path);
        return -1;
    }
    strcpy(a.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "vmm-run: --control %s: exists and is not a socket\n", path);
            return -1;
        }
        unlink(path); /* a stale socket from an earlier run */
    }
    control_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (control_listen < 0 || bind(control_listen, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(control_listen, 8) < 0 || pipe(control_wake) < 0) {
        fprintf(stderr, "vmm-run: --control %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- --elf: a program in a sandbox ---- */

/* The program's reads of fd 0 come from vmm-run's stdin as they happen (the
 * default policy only serves a buffer given in advance). Waits in slices so a
 * signal still stops the program. */
static int stdin_read(void *opaque, vmm_sandbox *sb, vmm_sandbox_syscall *call)
{
    (void)opaque;
    if (call->nr != 0 || call->args[0] != 0)
        return VMM_SANDBOX_DEFAULT;
    uint8_t buf[65536];
    size_t want = call->args[2] < sizeof buf ? (size_t)call->args[2] : sizeof buf;
    for (;;) {
        if (got_signal)
            return VMM_SANDBOX_KILL;
        struct pollfd p = {STDIN_FILENO, POLLIN, 0};
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR) {
            call->ret = -EIO;
            return VMM_SANDBOX_HANDLED;
        }
        if (r > 0)
            break;
    }
    ssize_t n = read(STDIN_FILENO, buf, want);
    if (n < 0)
        call->ret = -errno;
    else if (vmm_sandbox_write(sb, call->args[1], buf, (size_t)n) < 0)
        call->ret = -EFAULT;
    else
        call->ret = n;
    return VMM_SANDBOX_HANDLED;
}

static const char *vector_name(uint32_t v)
{
    static const char *const names[] = {"divide error (#DE)",
                                        "debug (#DB)",
                                        "NMI",
                                        "breakpoint (#BP)",
                                        "overflow (#OF)",
                                        "bound range (#BR)",
                                        "invalid opcode (#UD)",
                                        "device not available (#NM)",
                                        "double fault (#DF)",
                                        "coprocessor overrun",
                                        "invalid TSS (#TS)",
                                        "segment not present (#NP)",
                                        "stack fault (#SS)",
                                        "general protection (#GP)",
                                        "page fault (#PF)",
                                        "reserved",
                                        "x87 error (#MF)",
                                        "alignment check (#AC)",
                                        "machine check (#MC)",
                                        "SIMD error (#XM)"};
    return v < sizeof names / sizeof names[0] ? names[v] : "exception";
}

static int run_elf(char **args, double timeout, uint64_t memory_mib)
{
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.flags = VMM_SANDBOX_ONESHOT;
    o.memory_size = memory_mib << 20;
    o.time_budget_ns = (uint64_t)(timeout * 1e9);
    o.stdout_fd = STDOUT_FILENO;
    o.stderr_fd = STDERR_FILENO;
    o.max_output = 0;
    o.syscall = stdin_read;
    const char *prog = args[0];
    if (vmm_sandbox_create(&sandbox, &o) < 0) {
        fprintf(stderr, "vmm-run: %s\n", vmm_error_last()->message);
        return EXIT_BADSPEC;
    }
    if (vmm_sandbox_load(sandbox, prog, (const char *const *)args, NULL) < 0) {
        fprintf(stderr, "vmm-run: %s\n", vmm_error_last()->message);
        vmm_sandbox_destroy(sandbox);
        return EXIT_BADSPEC;
    }
    start_signal_thread();

    vmm_sandbox_result r;
    int code;
    if (vmm_sandbox_run(sandbox, &r) < 0) {
        fprintf(stderr, "vmm-run: %s\n", vmm_error_last()->message);
        code = EXIT_CRASH;
    } else if (got_signal) {
        code = 128 + got_signal;
    } else {
        switch (r.outcome) {
        case VMM_SANDBOX_EXITED:
            code = r.status;
            break;
        case VMM_SANDBOX_TIMEOUT:
            fprintf(stderr, "vmm-run: %s: time limit reached\n", prog);
            code = EXIT_TIMEOUT;
            break;
        case VMM_SANDBOX_FAULT:
            fprintf(stderr, "vmm-run: %s: %s at address 0x%llx (rip 0x%llx, error code 0x%x)\n",
                    prog, vector_name(r.fault.vector), (unsigned long long)r.fault.address,
                    (unsigned long long)r.fault.rip, r.fault.error_code);
            code = EXIT_CRASH;
            break;
        default:
            fprintf(stderr, "vmm-run: %s: stopped (%s)\n", prog,
                    r.outcome == VMM_SANDBOX_CRASHED ? vmm_exit_reason_name(r.exit.reason)
                                                     : "killed");
            code = EXIT_CRASH;
            break;
        }
    }
    retire_target();
    vmm_sandbox_destroy(sandbox);
    return code;
}

/* ---- main ---- */

static int exit_code(const vmm_run_result *r)
{
    if (got_signal)
        return 128 + got_signal;
    switch (r->reason) {
    case VMM_EXIT_STATUS:
        return r->status & 0xff;
    case VMM_EXIT_HLT:
    case VMM_EXIT_KICKED:
        return 0;
    case VMM_EXIT_TIMEOUT:
        return EXIT_TIMEOUT;
    default:
        return EXIT_CRASH;
    }
}

int main(int argc, char **argv)
{
    const char *spec = NULL, *control = NULL;
    double timeout = 0;
    uint64_t memory_mib = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("vmm-run %s\n", vmm_version(NULL, NULL, NULL));
            return 0;
        }
        if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            char *end;
            timeout = strtod(argv[++i], &end);
            if (*end || !(timeout > 0) || timeout > 1e7) {
                fprintf(stderr, "vmm-run: --timeout: \"%s\" is not a positive number of seconds\n",
                        argv[i]);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--control") == 0 && i + 1 < argc) {
            control = argv[++i];
        } else if (strcmp(a, "--memory") == 0 && i + 1 < argc) {
            char *end;
            unsigned long long m = strtoull(argv[++i], &end, 10);
            if (*end || m < 8 || m > 3072 || m % 2) {
                fprintf(stderr,
                        "vmm-run: --memory: \"%s\" is not an even number of MiB from 8 "
                        "to 3072\n",
                        argv[i]);
                return EXIT_USAGE;
            }
            memory_mib = m;
        } else if (strcmp(a, "--elf") == 0 && !spec) {
            if (i + 1 >= argc || control) {
                fprintf(stderr, "vmm-run: --elf needs a PROGRAM and takes no --control\n");
                return EXIT_USAGE;
            }
            return run_elf(argv + i + 1, timeout, memory_mib ? memory_mib : 64);
        } else if (a[0] == '-' || spec) {
            fprintf(stderr, "vmm-run: unexpected argument \"%s\" (try --help)\n", a);
            return EXIT_USAGE;
        } else {
            spec = a;
        }
    }
    if (!spec || memory_mib) {
        if (memory_mib)
            fprintf(stderr, "vmm-run: --memory applies only with --elf\n");
        else
            fputs(usage, stderr);
        return EXIT_USAGE;
    }

    if (vmm_vm_create_from_spec_file(&vm, spec, &info) < 0) {
        fprintf(stderr, "vmm-run: %s: %s\n", spec, vmm_error_last()->message);
        return EXIT_BADSPEC;
    }

    start_signal_thread();
    pthread_t th;

    if (info.console) {
        vmm_serial_set_output(info.console, console_out, NULL);
        pthread_create(&th, NULL, console_in, info.console);
    }
    pthread_t ctl;
    bool have_ctl = false;
    if (control) {
        if (control_open(control) < 0) {
            retire_target();
            vmm_vm_destroy(vm);
            return EXIT_USAGE;
        }
        have_ctl = pthread_create(&ctl, NULL, control_thread, NULL) == 0;
    }

    vmm_run_options ro = VMM_RUN_OPTIONS_INIT;
    ro.time_budget_ns = info.time_budget_ns;
    uint64_t t = (uint64_t)(timeout * 1e9);
    if (t && (!ro.time_budget_ns || t < ro.time_budget_ns))
        ro.time_budget_ns = t;
    vmm_run_result res;
    int code;
    if (vmm_vm_run(vm, &ro, &res) < 0) {
        fprintf(stderr, "vmm-run: %s\n", vmm_error_last()->message);
        code = EXIT_CRASH;
    } else {
        code = exit_code(&res);
        if (code == EXIT_CRASH)
            fprintf(stderr, "vmm-run: the guest stopped: %s (vCPU %u, rip 0x%llx)\n",
                    vmm_exit_reason_name(res.reason), res.vcpu,
                    (unsigned long long)res.exit.internal.rip);
        else if (code == EXIT_TIMEOUT)
            fprintf(stderr, "vmm-run: time limit reached\n");
    }
    if (have_ctl) {
        ssize_t w = write(control_wake[1], "x", 1);
        (void)w;
        pthread_join(ctl, NULL);
        close(control_listen);
        unlink(control);
    }
    vmm_snapshot_free(snap);
    retire_target();
    vmm_vm_destroy(vm);
    return code;
}
