/* The pool of formatter worker processes, on the loop (fmt_private.h).
 *
 * A worker runs one call at a time but holds a pipeline of up to cfg.depth calls, so that it
 * never waits for the loop between two calls (one round trip between processes costs far
 * more than a typical codec, FORMATTERS.md). Calls queue per application
 * ("<tenant>/<application>"); applications with work wait in a ring served round robin, one
 * call each per turn. An application's calls in flight are all on one worker, so its
 * results come back in the order it asked.
 * * Isolation: calls of different applications share a pipeline only when both are proven:
 * the application's script (by hash) answered its last POOL_PROVEN_CALLS calls each within
 * cfg.slow_ms. A call of an application that is not (a new script, a slow one: over
 * cfg.slow_ms, timed out or out of memory, remembered for a minute) goes only to an idle
 * worker, which that application then holds alone until its pipeline drains. So a new
 * script that loops never delays another application, and a proven one that starts looping
 * on some input delays the calls queued behind it on its worker once, by at most the time
 * limit each. A call past its time limit plus a grace gets its
 * worker SIGKILLed (the worker's own JavaScriptCore limit normally answers first); the calls
 * behind it go back to the front of their queues; a worker that dies is replaced at once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as/fmt_private.h"

#define POOL_GRACE_MIN_MS 250u /* the backstop: the time limit plus at least this */
#include "cluster/log.h"
#include "cluster/mem.h"

#define POOL_APP_BUCKETS  1024u
#define POOL_RESPAWN_MS   200u   /* after a failed spawn */
#define POOL_SLOW_FOR_MS  60000u /* how long an application stays slow */
#define POOL_PROVEN_CALLS 8u     /* fast calls in a row before a script shares a worker */

typedef struct call call_t;
typedef struct app app_t;
typedef struct wrk wrk_t;

struct call {
    call_t *next;
    app_t *app;
    uint64_t id;
    fmt_op_t op;
    uint8_t hash[FMT_HASH_LEN];
    char *script;
    size_t script_len;
    char *input;
    size_t input_len;
    fmt_pool_cb cb;
    void *arg;
};

struct app {
    app_t *hnext;         /* bucket chain */
    app_t *rnext, *rprev; /* the ring of applications with queued calls */
    bool in_ring;
    call_t *head, *tail; /* queued */
    unsigned queued, inflight;
    wrk_t *wrk; /* the worker holding its calls in flight, NULL when none */
    uint64_t slow_until_ms;
    uint8_t proven_hash[FMT_HASH_LEN]; /* the script counted below */
    unsigned proven_calls;             /* its fast calls in a row */
    char key[];
};

#define WRK_SEEN 64u /* hashes this worker was sent lately (it may have evicted some) */

struct wrk {
    fmt_pool_t *pool;
    uv_process_t proc;
    uv_pipe_t pipe;
    uv_timer_t timer; /* the head call's backstop, or the respawn delay */
    bool alive, ready, proc_open, pipe_open, killed_for_timeout;
    bool exclusive;        /* its pipeline is one unproven application's alone */
    app_t *owner;          /* that application */
    call_t *fhead, *ftail; /* in flight, in the order sent */
    unsigned nflight;
    uint8_t *rbuf;
    size_t rlen, rcap;
    uint8_t seen[WRK_SEEN][FMT_HASH_LEN];
    unsigned nseen, seen_next;
};

struct fmt_pool {
    uv_loop_t *loop;
    fmt_pool_cfg_t cfg;
    char **argv; /* copied */
    wrk_t *wrk;
    app_t *buckets[POOL_APP_BUCKETS];
    app_t *ring; /* the ring's head */
    unsigned nring;
    uint64_t next_id;
    fmt_pool_stats_t stats;
    bool closing;
    int open_handles;
    void (*done)(void *arg);
    void *done_arg;
};

static void wrk_spawn(wrk_t *w);
static void pool_dispatch(fmt_pool_t *p);

/* ---- applications ---------------------------------------------------------------------- */

static uint32_t key_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static app_t *app_get(fmt_pool_t *p, const char *key)
{
    uint32_t b = key_hash(key) % POOL_APP_BUCKETS;
    for (app_t *a = p->buckets[b]; a != NULL; a = a->hnext)
        if (strcmp(a->key, key) == 0)
            return a;
    size_t n = strlen(key);
    app_t *a = lw_calloc(1, sizeof *a + n + 1);
    memcpy(a->key, key, n + 1);
    a->hnext = p->buckets[b];
    p->buckets[b] = a;
    return a;
}

/* Frees an application with nothing queued or in flight, unless it is slow (remembered). */
static void app_release(fmt_pool_t *p, app_t *a)
{
    if (a->queued > 0 || a->inflight > 0 || a->in_ring || a->slow_until_ms > uv_now(p->loop))
        return;
    uint32_t b = key_hash(a->key) % POOL_APP_BUCKETS;
    for (app_t **pp = &p->buckets[b]; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == a) {
            *pp = a->hnext;
            free(a);
            return;
        }
    }
}

static void ring_push(fmt_pool_t *p, app_t *a)
{
    if (a->in_ring)
        return;
    a->in_ring = true;
    p->nring++;
    if (p->ring == NULL) {
        a->rnext = a->rprev = a;
        p->ring = a;
        return;
    }
    /* at the back: just before the head */
    a->rnext = p->ring;
    a->rprev = p->ring->rprev;
    p->ring->rprev->rnext = a;
    p->ring->rprev = a;
}

static void ring_remove(fmt_pool_t *p, app_t *a)
{
    if (!a->in_ring)
        return;
    a->in_ring = false;
    p->nring--;
    if (a->rnext == a) {
        p->ring = NULL;
    } else {
        a->rprev->rnext = a->rnext;
        a->rnext->rprev = a->rprev;
        if (p->ring == a)
            p->ring = a->rnext;
    }
    a->rnext = a->rprev = NULL;
}

/* May this call of a share a worker's pipeline with other applications' calls? */
static bool call_shareable(const fmt_pool_t *p, const app_t *a, const call_t *c)
{
    return a->slow_until_ms <= uv_now(p->loop) && a->proven_calls >= POOL_PROVEN_CALLS &&
           memcmp(a->proven_hash, c->hash, FMT_HASH_LEN) == 0;
}

/* What a call's answer says about its application's script. */
static void app_learn(fmt_pool_t *p, app_t *a, const call_t *c, bool fast)
{
    if (!fast) {
        a->slow_until_ms = uv_now(p->loop) + POOL_SLOW_FOR_MS;
        a->proven_calls = 0;
        return;
    }
    if (memcmp(a->proven_hash, c->hash, FMT_HASH_LEN) != 0) {
        memcpy(a->proven_hash, c->hash, FMT_HASH_LEN);
        a->proven_calls = 0;
    }
    if (a->proven_calls < POOL_PROVEN_CALLS)
        a->proven_calls++;
}

/* ---- calls ----------------------------------------------------------------------------- */

static void call_free(call_t *c)
{
    free(c->script);
    free(c->input);
    free(c);
}

/* A call in flight is answered: its application's books, then the callback. */
static void call_finish(fmt_pool_t *p, call_t *c, fmt_status_t st, const char *body, size_t len)
{
    app_t *a = c->app;
    a->inflight--;
    if (a->inflight == 0)
        a->wrk = NULL;
    p->stats.ok += st == FMT_ST_OK;
    p->stats.failed += st != FMT_ST_OK;
    c->cb(c->arg, st, body, len);
    call_free(c);
    app_release(p, a);
}

/* At close: the call's application is being freed, so it is not touched. */
static void call_fail_stopped(call_t *c)
{
    static const char msg[] = "formatter pool stopped";
    c->cb(c->arg, FMT_ST_KILLED, msg, sizeof msg - 1);
    call_free(c);
}

static bool wrk_seen(const wrk_t *w, const uint8_t *hash)
{
    for (unsigned i = 0; i < w->nseen; i++)
        if (memcmp(w->seen[i], hash, FMT_HASH_LEN) == 0)
            return true;
    return false;
}

static void wrk_mark_seen(wrk_t *w, const uint8_t *hash)
{
    if (wrk_seen(w, hash))
        return;
    memcpy(w->seen[w->seen_next], hash, FMT_HASH_LEN);
    w->seen_next = (w->seen_next + 1) % WRK_SEEN;
    if (w->nseen < WRK_SEEN)
        w->nseen++;
}

static void wrk_forget(wrk_t *w, const uint8_t *hash)
{
    for (unsigned i = 0; i < w->nseen; i++)
        if (memcmp(w->seen[i], hash, FMT_HASH_LEN) == 0)
            memset(w->seen[i], 0, FMT_HASH_LEN);
}

typedef struct wreq {
    uv_write_t req;
    uint8_t data[];
} wreq_t;

static void wrk_write_done(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows as the worker's exit */
    free(req);
}

static void wrk_kill(wrk_t *w)
{
    if (w->alive)
        uv_process_kill(&w->proc, SIGKILL);
}

static void wrk_timeout(uv_timer_t *t)
{
    wrk_t *w = t->data;
    if (w->fhead == NULL)
        return;
    w->killed_for_timeout = true;
    wrk_kill(w);
}

/* The head call's backstop: its time limit plus a grace, from when it started. */
static void wrk_arm(wrk_t *w)
{
    fmt_pool_t *p = w->pool;
    if (w->fhead == NULL) {
        uv_timer_stop(&w->timer);
        w->exclusive = false;
        w->owner = NULL;
        return;
    }
    /* Wall time: on a loaded machine a worker that is merely waiting for a CPU must not
     * reach it, so at least POOL_GRACE_MIN_MS beyond the limit (the worker's JavaScriptCore
     * limit answers first otherwise). */
    uint64_t grace =
        p->cfg.timeout_ms / 4 > POOL_GRACE_MIN_MS ? p->cfg.timeout_ms / 4 : POOL_GRACE_MIN_MS;
    uv_timer_start(&w->timer, wrk_timeout, p->cfg.timeout_ms + grace, 0);
}

static void flight_push(wrk_t *w, call_t *c)
{
    c->next = NULL;
    if (w->ftail != NULL)
        w->ftail->next = c;
    else
        w->fhead = c;
    w->ftail = c;
    w->nflight++;
}

static call_t *flight_pop(wrk_t *w)
{
    call_t *c = w->fhead;
    if (c == NULL)
        return NULL;
    w->fhead = c->next;
    if (w->fhead == NULL)
        w->ftail = NULL;
    w->nflight--;
    c->next = NULL;
    return c;
}

/* Sends c to w, at the end of its pipeline. Returns 0, or -1 when the write failed (the
 * worker is then killed; the exit answers every call in flight). */
static int wrk_send(wrk_t *w, call_t *c, bool with_script)
{
    fmt_pool_t *p = w->pool;
    fmt_request_t r = {
        .id = c->id,
        .op = c->op,
        .timeout_ms = p->cfg.timeout_ms,
        .script = with_script ? c->script : NULL,
        .script_len = with_script ? c->script_len : 0,
        .input = c->input,
        .input_len = c->input_len,
    };
    memcpy(r.hash, c->hash, FMT_HASH_LEN);
    size_t cap = 4 + FMT_REQUEST_FIXED + r.script_len + r.input_len;
    wreq_t *wr = lw_malloc(sizeof *wr + cap);
    int n = fmt_request_encode(&r, wr->data, cap);
    bool was_idle = w->fhead == NULL;
    flight_push(w, c);
    if (was_idle)
        wrk_arm(w);
    if (with_script) {
        p->stats.scripts_sent++;
        wrk_mark_seen(w, c->hash);
    }
    uv_buf_t buf = uv_buf_init((char *)wr->data, (unsigned)(n > 0 ? n : 0));
    if (n < 0 || uv_write(&wr->req, (uv_stream_t *)&w->pipe, &buf, 1, wrk_write_done) != 0) {
        free(wr);
        wrk_kill(w);
        return -1;
    }
    return 0;
}

static void wrk_on_response(wrk_t *w, const fmt_response_t *r)
{
    fmt_pool_t *p = w->pool;
    if (!w->ready && w->fhead == NULL && r->id == 0 && r->status == FMT_ST_OK) {
        w->ready = true; /* the worker's first frame */
        return;
    }
    call_t *c = w->fhead;
    if (c == NULL || r->id != c->id) {
        lw_log(LW_LOG_WARN, "as", "formatter worker answered an unknown call", NULL);
        wrk_kill(w);
        return;
    }
    flight_pop(w);
    wrk_arm(w);
    if (r->status == FMT_ST_NEED_SCRIPT) {
        /* It evicted the script: again, with the text (after what is in flight already). */
        wrk_forget(w, c->hash);
        wrk_send(w, c, true);
        return;
    }
    app_learn(p, c->app, c,
              r->status != FMT_ST_TIMEOUT && r->run_us <= (uint64_t)p->cfg.slow_ms * 1000u);
    p->stats.timeouts += r->status == FMT_ST_TIMEOUT;
    call_finish(p, c, r->status, r->body, r->body_len);
}

static void wrk_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    wrk_t *w = h->data;
    if (w->rcap - w->rlen < 64 * 1024) {
        size_t cap = w->rcap == 0 ? 128 * 1024 : w->rcap * 2;
        if (cap > 4 + FMT_FRAME_MAX + 128 * 1024)
            cap = 4 + FMT_FRAME_MAX + 128 * 1024;
        if (cap > w->rcap) {
            w->rbuf = lw_realloc(w->rbuf, cap);
            w->rcap = cap;
        }
    }
    *buf = uv_buf_init((char *)w->rbuf + w->rlen, (unsigned)(w->rcap - w->rlen));
}

static void wrk_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    wrk_t *w = s->data;
    if (n < 0) {
        uv_read_stop(s);
        wrk_kill(w); /* the exit callback answers the calls */
        return;
    }
    w->rlen += (size_t)n;
    size_t off = 0;
    while (w->alive) {
        const uint8_t *payload;
        size_t plen, flen;
        int rc = fmt_frame_next(w->rbuf + off, w->rlen - off, &payload, &plen, &flen);
        if (rc == FMT_E_SHORT)
            break;
        fmt_response_t r;
        if (rc != 0 || fmt_response_decode(payload, plen, &r) != 0) {
            lw_log(LW_LOG_WARN, "as", "formatter worker sent a broken frame", NULL);
            uv_read_stop(s);
            wrk_kill(w);
            return;
        }
        wrk_on_response(w, &r);
        off += flen;
    }
    memmove(w->rbuf, w->rbuf + off, w->rlen - off);
    w->rlen -= off;
    pool_dispatch(w->pool);
}

static void pool_free(fmt_pool_t *p)
{
    for (unsigned i = 0; i < p->cfg.workers; i++)
        free(p->wrk[i].rbuf);
    free(p->wrk);
    for (char **a = p->argv; *a != NULL; a++)
        free(*a);
    free(p->argv);
    void (*done)(void *) = p->done;
    void *arg = p->done_arg;
    free(p);
    if (done != NULL)
        done(arg);
}

static void wrk_handle_closed(uv_handle_t *h)
{
    wrk_t *w = h->data;
    fmt_pool_t *p = w->pool;
    if (h == (uv_handle_t *)&w->proc)
        w->proc_open = false;
    else if (h == (uv_handle_t *)&w->pipe)
        w->pipe_open = false;
    p->open_handles--;
    if (p->closing) {
        if (p->open_handles == 0)
            pool_free(p);
        return;
    }
    if (h != (uv_handle_t *)&w->timer && !w->proc_open && !w->pipe_open)
        wrk_spawn(w);
}

/* The calls behind the one that killed the worker never ran: back to the front of their
 * queues, in their order. */
static void wrk_requeue(fmt_pool_t *p, call_t *list)
{
    call_t *rev = NULL;
    while (list != NULL) {
        call_t *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev != NULL) {
        call_t *c = rev;
        rev = rev->next;
        app_t *a = c->app;
        a->inflight--;
        if (a->inflight == 0)
            a->wrk = NULL;
        c->next = a->head;
        a->head = c;
        if (a->tail == NULL)
            a->tail = c;
        a->queued++;
        ring_push(p, a);
    }
}

static void wrk_exit(uv_process_t *proc, int64_t status, int sig)
{
    wrk_t *w = proc->data;
    fmt_pool_t *p = w->pool;
    w->alive = false;
    w->ready = false;
    uv_timer_stop(&w->timer);
    call_t *c = flight_pop(w);
    call_t *rest = w->fhead;
    w->fhead = w->ftail = NULL;
    w->nflight = 0;
    w->exclusive = false;
    w->owner = NULL;
    wrk_requeue(p, rest);
    if (c != NULL) {
        char msg[96];
        fmt_status_t st;
        if (status == FMT_EXIT_MEMORY) {
            st = FMT_ST_MEMORY;
            p->stats.memory_kills++;
            snprintf(msg, sizeof msg, "%llu", (unsigned long long)p->cfg.memory_limit);
        } else if (w->killed_for_timeout) {
            st = FMT_ST_TIMEOUT;
            p->stats.timeouts++;
            snprintf(msg, sizeof msg, "script timeout");
        } else {
            st = FMT_ST_KILLED;
            snprintf(msg, sizeof msg, "worker exited (status %lld, signal %d)", (long long)status,
                     sig);
        }
        if (st != FMT_ST_KILLED)
            app_learn(p, c->app, c, false);
        call_finish(p, c, st, msg, strlen(msg));
    }
    w->killed_for_timeout = false;
    p->stats.respawns++;
    uv_close((uv_handle_t *)&w->proc, wrk_handle_closed);
    if (w->pipe_open && !uv_is_closing((uv_handle_t *)&w->pipe))
        uv_close((uv_handle_t *)&w->pipe, wrk_handle_closed);
    pool_dispatch(p);
}

static void wrk_respawn_timer(uv_timer_t *t)
{
    wrk_spawn(t->data);
}

static void wrk_spawn_failed_closed(uv_handle_t *h)
{
    wrk_t *w = h->data;
    fmt_pool_t *p = w->pool;
    if (h == (uv_handle_t *)&w->proc)
        w->proc_open = false;
    else
        w->pipe_open = false;
    p->open_handles--;
    if (p->closing) {
        if (p->open_handles == 0)
            pool_free(p);
        return;
    }
    if (!w->proc_open && !w->pipe_open)
        uv_timer_start(&w->timer, wrk_respawn_timer, POOL_RESPAWN_MS, 0);
}

static void wrk_spawn(wrk_t *w)
{
    fmt_pool_t *p = w->pool;
    if (p->closing)
        return;
    w->rlen = 0;
    w->nseen = 0;
    w->seen_next = 0;
    uv_pipe_init(p->loop, &w->pipe, 0);
    w->pipe.data = w;
    w->pipe_open = true;
    p->open_handles++;
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&w->pipe;
    stdio[1].flags = UV_IGNORE;
    stdio[2].flags = UV_INHERIT_FD; /* the worker's own complaints go to our stderr */
    stdio[2].data.fd = 2;
    /* An empty environment: nothing of ours (keys in LWSTACK_* variables) reaches tenants'
     * code. */
    char *env[] = {NULL};
    uv_process_options_t o = {
        .exit_cb = wrk_exit,
        .file = p->argv[0],
        .args = p->argv,
        .env = env,
        .stdio_count = 3,
        .stdio = stdio,
    };
    w->proc.data = w;
    w->proc_open = true;
    p->open_handles++;
    int rc = uv_spawn(p->loop, &w->proc, &o);
    if (rc != 0) {
        lw_log_kv(LW_LOG_ERROR, "as", "cannot start a formatter worker",
                  LW_LOG_STR("file", p->argv[0]), LW_LOG_STR("error", uv_strerror(rc)));
        /* libuv: the process handle is closed after a failed spawn too */
        uv_close((uv_handle_t *)&w->proc, wrk_spawn_failed_closed);
        uv_close((uv_handle_t *)&w->pipe, wrk_spawn_failed_closed);
        return;
    }
    w->alive = true;
    uv_read_start((uv_stream_t *)&w->pipe, wrk_alloc, wrk_read);
}

/* Where a's next call c may go: the worker holding a's calls (their order), when c may join
 * its pipeline; else an idle worker; else, for a shareable call, the shortest shared
 * pipeline with room. NULL: not now. */
static wrk_t *pool_pick(fmt_pool_t *p, app_t *a, const call_t *c)
{
    bool share = call_shareable(p, a, c);
    if (a->wrk != NULL) {
        wrk_t *w = a->wrk;
        if (!w->alive || w->nflight >= p->cfg.depth)
            return NULL;
        return (w->exclusive ? w->owner == a : share) ? w : NULL;
    }
    wrk_t *best = NULL;
    for (unsigned i = 0; i < p->cfg.workers; i++) {
        wrk_t *w = &p->wrk[i];
        if (!w->alive || !w->ready)
            continue;
        if (w->nflight == 0)
            return w;
        if (!share || w->exclusive || w->nflight >= p->cfg.depth)
            continue;
        if (best == NULL || w->nflight < best->nflight)
            best = w;
    }
    return best;
}

static void pool_dispatch(fmt_pool_t *p)
{
    if (p->closing)
        return;
    bool progress = true;
    while (progress && p->ring != NULL) {
        progress = false;
        for (unsigned n = p->nring; n > 0 && p->ring != NULL; n--) {
            app_t *a = p->ring;
            p->ring = a->rnext; /* round robin: the next one first next time */
            call_t *c = a->head;
            wrk_t *w = pool_pick(p, a, c);
            if (w == NULL)
                continue;
            a->head = c->next;
            if (a->head == NULL)
                a->tail = NULL;
            a->queued--;
            a->inflight++;
            a->wrk = w;
            if (w->nflight == 0 && !call_shareable(p, a, c)) {
                w->exclusive = true;
                w->owner = a;
            }
            if (a->queued == 0)
                ring_remove(p, a);
            progress = true;
            if (wrk_send(w, c, !wrk_seen(w, c->hash)) != 0)
                return; /* the worker's exit answers and dispatches again */
        }
    }
}

/* ---- the interface --------------------------------------------------------------------- */

fmt_pool_t *fmt_pool_new(uv_loop_t *loop, const fmt_pool_cfg_t *cfg, lw_err_t *err)
{
    fmt_pool_t *p = lw_calloc(1, sizeof *p);
    p->loop = loop;
    p->cfg = *cfg;
    if (p->cfg.workers == 0)
        p->cfg.workers = 1;
    if (p->cfg.depth == 0)
        p->cfg.depth = 1;
    if (p->cfg.queue_per_app == 0)
        p->cfg.queue_per_app = 1;
    if (p->cfg.timeout_ms == 0)
        p->cfg.timeout_ms = 100;
    char mem[24], scripts[16];
    snprintf(mem, sizeof mem, "%llu", (unsigned long long)p->cfg.memory_limit);
    snprintf(scripts, sizeof scripts, "%u",
             p->cfg.scripts_cached > 0 ? p->cfg.scripts_cached : WRK_SEEN);
    size_t n = 0;
    const char *const def_argv[] = {"/proc/self/exe", "formatter-worker", NULL};
    const char *const *argv = cfg->argv != NULL ? cfg->argv : def_argv;
    while (argv[n] != NULL)
        n++;
    p->argv = lw_calloc(n + 5, sizeof *p->argv);
    for (size_t i = 0; i < n; i++)
        p->argv[i] = lw_strdup(argv[i]);
    p->argv[n] = lw_strdup("--memory-limit");
    p->argv[n + 1] = lw_strdup(mem);
    p->argv[n + 2] = lw_strdup("--scripts");
    p->argv[n + 3] = lw_strdup(scripts);
    p->wrk = lw_calloc(p->cfg.workers, sizeof *p->wrk);
    for (unsigned i = 0; i < p->cfg.workers; i++) {
        wrk_t *w = &p->wrk[i];
        w->pool = p;
        uv_timer_init(loop, &w->timer);
        w->timer.data = w;
        p->open_handles++;
    }
    for (unsigned i = 0; i < p->cfg.workers; i++)
        wrk_spawn(&p->wrk[i]);
    if (!p->wrk[0].alive) {
        lw_err_set(err, &fmt_err_formatter_unavailable,
                   "formatter worker unavailable: cannot start %s", p->argv[0]);
        lw_err_attr(err, "message", "cannot start the worker");
        fmt_pool_close(p, NULL, NULL);
        return NULL;
    }
    return p;
}

int fmt_pool_call(fmt_pool_t *p, const char *app_key, fmt_op_t op, const uint8_t hash[32],
                  const char *script, size_t script_len, const char *input, size_t input_len,
                  fmt_pool_cb cb, void *arg)
{
    if (p->closing)
        return -1;
    app_t *a = app_get(p, app_key);
    if (a->queued >= p->cfg.queue_per_app) {
        p->stats.queue_full++;
        app_release(p, a);
        return -1;
    }
    call_t *c = lw_calloc(1, sizeof *c);
    c->app = a;
    c->id = ++p->next_id;
    c->op = op;
    memcpy(c->hash, hash, FMT_HASH_LEN);
    c->script = lw_malloc(script_len + 1);
    memcpy(c->script, script, script_len);
    c->script[script_len] = '\0';
    c->script_len = script_len;
    c->input = lw_malloc(input_len + 1);
    memcpy(c->input, input, input_len);
    c->input[input_len] = '\0';
    c->input_len = input_len;
    c->cb = cb;
    c->arg = arg;
    if (a->tail != NULL)
        a->tail->next = c;
    else
        a->head = c;
    a->tail = c;
    a->queued++;
    p->stats.calls++;
    ring_push(p, a);
    pool_dispatch(p);
    return 0;
}

void fmt_pool_stats(const fmt_pool_t *p, fmt_pool_stats_t *out)
{
    *out = p->stats;
}

unsigned fmt_pool_ready(const fmt_pool_t *p)
{
    unsigned n = 0;
    for (unsigned i = 0; i < p->cfg.workers; i++)
        n += p->wrk[i].alive && p->wrk[i].ready;
    return n;
}

static void pool_close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, wrk_handle_closed);
}

void fmt_pool_close(fmt_pool_t *p, void (*done)(void *arg), void *arg)
{
    p->closing = true;
    p->done = done;
    p->done_arg = arg;
    /* Fail what is in flight, then what is queued; the applications go with them. */
    for (unsigned i = 0; i < p->cfg.workers; i++) {
        wrk_t *w = &p->wrk[i];
        call_t *c;
        while ((c = flight_pop(w)) != NULL)
            call_fail_stopped(c);
    }
    for (unsigned b = 0; b < POOL_APP_BUCKETS; b++) {
        app_t *a = p->buckets[b];
        p->buckets[b] = NULL;
        while (a != NULL) {
            app_t *next = a->hnext;
            while (a->head != NULL) {
                call_t *c = a->head;
                a->head = c->next;
                call_fail_stopped(c);
            }
            free(a);
            a = next;
        }
    }
    p->ring = NULL;
    p->nring = 0;
    for (unsigned i = 0; i < p->cfg.workers; i++) {
        wrk_t *w = &p->wrk[i];
        wrk_kill(w);
        uv_timer_stop(&w->timer);
        pool_close_handle((uv_handle_t *)&w->timer);
        if (w->pipe_open)
            pool_close_handle((uv_handle_t *)&w->pipe);
        if (w->proc_open)
            pool_close_handle((uv_handle_t *)&w->proc);
    }
}
