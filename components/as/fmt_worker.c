/* The formatter worker: `lwstack formatter-worker`, exec'd by the pool (fmt_pool.c) with its
 * socket on fd 0. It runs tenants' scripts in JavaScriptCore and nothing else: it never sees
 * a key, a database or the bus. One request at a time; compiled scripts are cached per hash
 * (one global context each, reused call after call: FORMATTERS.md has the cost).
 *
 * Limits: the time limit is JavaScriptCore's execution time limit of the context group
 * (JSContextGroupSetExecutionTimeLimit: exported by libjavascriptcoregtk but declared only in
 * its private headers, so it is declared here; the pool's SIGKILL is the backstop). The
 * memory limit is watched by a thread reading the resident set every 2 ms while a script
 * runs: JavaScriptCore reserves gigabytes of address space at start (Gigacage), so
 * RLIMIT_AS and RLIMIT_DATA abort it before any script runs (measured, FORMATTERS.md). Over
 * the limit the worker exits with FMT_EXIT_MEMORY at once; the pool answers the request. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <JavaScriptCore/JavaScript.h>

#include "as/as.h"
#include "as/fmt_private.h"

/* From JavaScriptCore's JSContextRefPrivate.h (not installed). */
typedef bool (*fmt_jsc_should_terminate_cb)(JSContextRef ctx, void *context);
void JSContextGroupSetExecutionTimeLimit(JSContextGroupRef group, double limit,
                                         fmt_jsc_should_terminate_cb cb, void *context);
void JSContextGroupClearExecutionTimeLimit(JSContextGroupRef group);

#define WORKER_SCRIPTS_DEFAULT 64u
#define WORKER_WATCH_NS        2000000L /* 2 ms */

typedef struct script {
    uint8_t hash[FMT_HASH_LEN];
    JSGlobalContextRef ctx;
    JSObjectRef entry[4]; /* by fmt_op_t */
    uint64_t used;        /* last use, for eviction */
} script_t;

typedef struct worker {
    JSContextGroupRef group;
    script_t *scripts;
    size_t nscripts, max_scripts;
    uint64_t tick;
    uint64_t memory_limit; /* bytes of RSS; 0: none */
    long page_size;
    int statm_fd;
    atomic_int busy;
    bool timed_out;
    uint8_t *out;
    size_t out_cap;
    uint64_t call_start_us; /* when the current request was read */
} worker_t;

static const char *const entry_names[4] = {NULL, "__lw_decode_uplink", "__lw_encode_downlink",
                                           "__lw_decode_downlink"};

static uint64_t worker_rss(worker_t *w)
{
    char buf[128];
    ssize_t n = pread(w->statm_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long size = 0, resident = 0;
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)w->page_size;
}

static void *worker_watch(void *arg)
{
    worker_t *w = arg;
    struct timespec ts = {0, WORKER_WATCH_NS};
    for (;;) {
        nanosleep(&ts, NULL);
        if (atomic_load(&w->busy) && worker_rss(w) > w->memory_limit)
            _exit(FMT_EXIT_MEMORY);
    }
    return NULL;
}

static bool worker_terminate(JSContextRef ctx, void *arg)
{
    (void)ctx;
    worker_t *w = arg;
    w->timed_out = true;
    return true;
}

static int read_full(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int worker_reply(worker_t *w, uint64_t id, fmt_status_t st, const char *body, size_t len)
{
    if (len > FMT_RESULT_MAX) {
        st = FMT_ST_SCRIPT;
        body = "script output too large";
        len = strlen(body);
    }
    uint64_t ran = w->call_start_us > 0 ? now_us() - w->call_start_us : 0;
    fmt_response_t r = {.id = id,
                        .status = st,
                        .run_us = ran > UINT32_MAX ? UINT32_MAX : (uint32_t)ran,
                        .body = body,
                        .body_len = len};
    size_t need = 4 + FMT_RESPONSE_FIXED + len;
    if (need > w->out_cap) {
        free(w->out);
        w->out_cap = need;
        w->out = malloc(need);
        if (w->out == NULL)
            _exit(FMT_EXIT_MEMORY);
    }
    int n = fmt_response_encode(&r, w->out, w->out_cap);
    if (n < 0)
        return -1;
    return write_full(0, w->out, (size_t)n);
}

/* The text of a JS value (an exception) into buf. */
static void js_text(JSContextRef ctx, JSValueRef v, char *buf, size_t cap)
{
    JSStringRef s = JSValueToStringCopy(ctx, v, NULL);
    if (s == NULL) {
        snprintf(buf, cap, "exception");
        return;
    }
    JSStringGetUTF8CString(s, buf, cap);
    JSStringRelease(s);
}

static void script_free(script_t *s)
{
    if (s->ctx != NULL)
        JSGlobalContextRelease(s->ctx);
    memset(s, 0, sizeof *s);
}

static script_t *script_find(worker_t *w, const uint8_t *hash)
{
    for (size_t i = 0; i < w->nscripts; i++)
        if (memcmp(w->scripts[i].hash, hash, FMT_HASH_LEN) == 0)
            return &w->scripts[i];
    return NULL;
}

/* A slot for a new script: a free one, else the least recently used one, released. */
static script_t *script_slot(worker_t *w)
{
    if (w->nscripts < w->max_scripts)
        return &w->scripts[w->nscripts++];
    script_t *old = &w->scripts[0];
    for (size_t i = 1; i < w->nscripts; i++)
        if (w->scripts[i].used < old->used)
            old = &w->scripts[i];
    script_free(old);
    return old;
}

static void time_limit(worker_t *w, uint32_t timeout_ms)
{
    w->timed_out = false;
    JSContextGroupSetExecutionTimeLimit(w->group, (double)timeout_ms / 1000.0, worker_terminate, w);
}

/* Compiles and runs the script's top level in a new context. Returns the script, or NULL
 * after replying. */
static script_t *script_load(worker_t *w, const fmt_request_t *r)
{
    char msg[512];
    size_t suffix = strlen(fmt_wrapper_suffix);
    size_t total = r->script_len + suffix + 1;
    char *text = malloc(total);
    if (text == NULL)
        _exit(FMT_EXIT_MEMORY);
    memcpy(text, r->script, r->script_len);
    memcpy(text + r->script_len, fmt_wrapper_suffix, suffix + 1);
    JSGlobalContextRef ctx = JSGlobalContextCreateInGroup(w->group, NULL);
    JSStringRef src = JSStringCreateWithUTF8CString(text);
    free(text);
    JSValueRef exc = NULL;
    time_limit(w, r->timeout_ms);
    atomic_store(&w->busy, 1);
    JSEvaluateScript(ctx, src, NULL, NULL, 1, &exc);
    atomic_store(&w->busy, 0);
    JSStringRelease(src);
    if (exc != NULL) {
        fmt_status_t st = w->timed_out ? FMT_ST_TIMEOUT : FMT_ST_SCRIPT;
        js_text(ctx, exc, msg, sizeof msg);
        JSGlobalContextRelease(ctx);
        worker_reply(w, r->id, st, msg, strlen(msg));
        return NULL;
    }
    script_t *s = script_slot(w);
    memcpy(s->hash, r->hash, FMT_HASH_LEN);
    s->ctx = ctx;
    JSObjectRef global = JSContextGetGlobalObject(ctx);
    for (int op = FMT_OP_DECODE_UPLINK; op <= FMT_OP_DECODE_DOWNLINK; op++) {
        JSStringRef name = JSStringCreateWithUTF8CString(entry_names[op]);
        JSValueRef v = JSObjectGetProperty(ctx, global, name, NULL);
        JSStringRelease(name);
        s->entry[op] = v != NULL && JSValueIsObject(ctx, v) ? JSValueToObject(ctx, v, NULL) : NULL;
    }
    return s;
}

static void worker_call(worker_t *w, const fmt_request_t *r)
{
    char msg[512];
    script_t *s = script_find(w, r->hash);
    if (s == NULL) {
        if (r->script_len == 0) {
            worker_reply(w, r->id, FMT_ST_NEED_SCRIPT, "", 0);
            return;
        }
        s = script_load(w, r);
        if (s == NULL)
            return;
    }
    s->used = ++w->tick;
    JSContextRef ctx = s->ctx;
    JSObjectRef fn = s->entry[r->op];
    if (fn == NULL || !JSObjectIsFunction(ctx, fn)) {
        worker_reply(w, r->id, FMT_ST_ENTRYPOINT, "main", 4);
        return;
    }
    char *in = malloc(r->input_len + 1);
    if (in == NULL)
        _exit(FMT_EXIT_MEMORY);
    memcpy(in, r->input, r->input_len);
    in[r->input_len] = '\0';
    JSStringRef in_s = JSStringCreateWithUTF8CString(in);
    free(in);
    JSValueRef arg = JSValueMakeFromJSONString(ctx, in_s);
    JSStringRelease(in_s);
    if (arg == NULL) {
        worker_reply(w, r->id, FMT_ST_INPUT, "input is not JSON", 17);
        return;
    }
    JSValueRef exc = NULL;
    time_limit(w, r->timeout_ms);
    atomic_store(&w->busy, 1);
    JSValueRef res = JSObjectCallAsFunction(ctx, fn, NULL, 1, &arg, &exc);
    JSStringRef json = NULL;
    if (exc == NULL && res != NULL && !JSValueIsUndefined(ctx, res) && !JSValueIsNull(ctx, res))
        json = JSValueCreateJSONString(ctx, res, 0, &exc);
    atomic_store(&w->busy, 0);
    if (exc != NULL) {
        fmt_status_t st = w->timed_out ? FMT_ST_TIMEOUT : FMT_ST_SCRIPT;
        js_text(ctx, exc, msg, sizeof msg);
        if (json != NULL)
            JSStringRelease(json);
        worker_reply(w, r->id, st, msg, strlen(msg));
        return;
    }
    if (json == NULL) {
        worker_reply(w, r->id, FMT_ST_NO_OUTPUT, "", 0);
        return;
    }
    size_t cap = JSStringGetMaximumUTF8CStringSize(json);
    if (cap > FMT_RESULT_MAX + 1)
        cap = FMT_RESULT_MAX + 2; /* worker_reply refuses what is longer */
    char *out = malloc(cap);
    if (out == NULL)
        _exit(FMT_EXIT_MEMORY);
    size_t n = JSStringGetUTF8CString(json, out, cap);
    JSStringRelease(json);
    worker_reply(w, r->id, FMT_ST_OK, out, n > 0 ? n - 1 : 0);
    free(out);
    /* Garbage of a reused context stays until JavaScriptCore collects it; between calls,
     * over the limit, the caches go first (the next call reloads its script). */
    if (w->memory_limit > 0 && worker_rss(w) > w->memory_limit) {
        for (size_t i = 0; i < w->nscripts; i++)
            script_free(&w->scripts[i]);
        w->nscripts = 0;
        JSGarbageCollect(NULL);
    }
}

/* Defence in depth should a script break out of JavaScriptCore: once the engine is up, the
 * worker can no longer open sockets, start programs, trace or signal other processes, or
 * fork (seccomp, answered EPERM). Everything JavaScriptCore needs (memory, threads, futexes,
 * its own files) stays allowed: a deny list, x86-64 only. Returns 0 or -1. */
static int worker_sandbox(void)
{
#if defined(__x86_64__)
    static const int denied[] = {
        SYS_socket,
        SYS_socketpair,
        SYS_connect,
        SYS_bind,
        SYS_listen,
        SYS_accept,
        SYS_accept4,
        SYS_execve,
        SYS_execveat,
        SYS_ptrace,
        SYS_process_vm_readv,
        SYS_process_vm_writev,
        SYS_fork,
        SYS_vfork,
        SYS_kill,
        SYS_mount,
        SYS_umount2,
        SYS_chroot,
        SYS_pivot_root,
        SYS_setns,
        SYS_unshare,
        SYS_keyctl,
        SYS_add_key,
        SYS_request_key,
        SYS_bpf,
        SYS_perf_event_open,
        SYS_userfaultfd,
    };
    enum { N = sizeof denied / sizeof denied[0] };
    struct sock_filter f[4 + 2 * N + 1];
    size_t k = 0;
    f[k++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[k++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (size_t i = 0; i < N; i++) {
        f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i], 0, 1);
        f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    }
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {.len = (unsigned short)k, .filter = f};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0 ? 0 : -1;
#else
    return 0;
#endif
}

/* `lwstack formatter-worker --check-sandbox`: installs the sandbox and prints what a
 * forbidden call gets ("socket EPERM", "execve EPERM"); for tests. */
static int worker_check_sandbox(void)
{
    if (worker_sandbox() != 0) {
        printf("seccomp unavailable: %s\n", strerror(errno));
        return 1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    printf("socket %s\n", fd < 0 && errno == EPERM ? "EPERM" : "allowed");
    char *const args[] = {"/bin/true", NULL};
    char *const env[] = {NULL};
    execve("/bin/true", args, env);
    printf("execve %s\n", errno == EPERM ? "EPERM" : "allowed");
    fflush(stdout);
    _exit(0); /* no exit handlers (a sanitizer's leak check needs ptrace, denied now) */
}

int fmt_worker_main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--check-sandbox") == 0)
        return worker_check_sandbox();
    worker_t w = {0};
    w.max_scripts = WORKER_SCRIPTS_DEFAULT;
    w.memory_limit = 128ull << 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--memory-limit") == 0)
            w.memory_limit = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--scripts") == 0)
            w.max_scripts = (size_t)strtoul(argv[i + 1], NULL, 10);
    }
    if (w.max_scripts == 0)
        w.max_scripts = 1;
    /* No core dumps of tenants' data, no privileges to gain. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    w.page_size = sysconf(_SC_PAGESIZE);
    w.statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    w.scripts = calloc(w.max_scripts, sizeof *w.scripts);
    if (w.scripts == NULL)
        return 1;
    w.group = JSContextGroupCreate();
    if (w.memory_limit > 0 && w.statm_fd >= 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker_watch, &w) != 0)
            return 1;
        pthread_detach(t);
    }
    /* Ready: the pool counts a call's time from here on, not the exec and library load. A
     * first context warms JavaScriptCore up (its first creation costs milliseconds). */
    JSGlobalContextRelease(JSGlobalContextCreateInGroup(w.group, NULL));
    if (worker_sandbox() != 0) {
        fprintf(stderr, "formatter-worker: cannot install the seccomp filter: %s\n",
                strerror(errno));
        return 1;
    }
    if (worker_reply(&w, 0, FMT_ST_OK, "ready", 5) != 0)
        return 0;
    uint8_t *in = NULL;
    size_t in_cap = 0;
    for (;;) {
        uint8_t hdr[4];
        if (read_full(0, hdr, 4) != 0)
            break;
        uint32_t n = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
                     (uint32_t)hdr[3] << 24;
        if (n > FMT_FRAME_MAX)
            _exit(2); /* a broken stream: the pool replaces the worker */
        if (n > in_cap) {
            free(in);
            in = malloc(n);
            in_cap = n;
            if (in == NULL)
                _exit(FMT_EXIT_MEMORY);
        }
        if (read_full(0, in, n) != 0)
            break;
        fmt_request_t r;
        if (fmt_request_decode(in, n, &r) != 0)
            _exit(2);
        w.call_start_us = now_us();
        worker_call(&w, &r);
    }
    /* EOF: the pool is gone. No exit handlers: a sanitizer's leak check would need ptrace,
     * denied by the sandbox, and the engine's heap is not ours to check. */
    _exit(0);
}

int as_formatter_worker_main(lw_config_t *cfg, int argc, char **argv)
{
    (void)cfg;
    return fmt_worker_main(argc, argv);
}
