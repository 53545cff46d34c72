/*
 * shim.c -- lifecycle: initialization (lazy or from the constructor), per-thread attach and
 * exit, fork, and the final flush. See shim.h.
 */
#include <config.h>

#include "shim.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "bootstrap.h"
#include "crash.h"
#include "locktab.h"
#include "log.h"
#include "perfshim/errors.h"
#include "modmap.h"
#include "writer.h"

int shim_state;
PS_TLS shim_tls_t shim_tls;

static pid_t init_tid;
static pid_t owner_pid; /* the process whose trace this is */
static pthread_key_t exit_key;
static char exe_path[PERFSHIM_MAX_PATH];
static char cmdline[16384];
static char out_path[PS_OUTPUT_MAX];
static uint32_t cmdline_len;

static const char *env_get(const char *name)
{
    return getenv(name);
}

static void thread_exit_dtor(void *arg);
static void atfork_child(void);

static void shim_set_state(int s)
{
    __atomic_store_n(&shim_state, s, __ATOMIC_RELEASE);
}

/* Expands the output template for this process and opens its trace (writer_init). */
static int shim_open_trace(uint64_t mono, uint64_t real, uint32_t flags)
{
    if (options_expand_output(options.output, (int)getpid(), program_invocation_short_name,
                              out_path, sizeof out_path) != 0) {
        PS_WARN("output path template \"%s\" does not expand; not recording", options.output);
        return -PS_E_INVAL;
    }
    writer_header_t h = {.path = out_path,
                         .exe = exe_path,
                         .cmdline = cmdline,
                         .cmdline_len = cmdline_len,
                         .start_mono_ns = mono,
                         .start_realtime_ns = real,
                         .flags = flags};
    return writer_init(&h);
}

/* Runs with the caller's guard set. */
void shim_init(void)
{
    int expect = SHIM_UNINIT;
    if (!__atomic_compare_exchange_n(&shim_state, &expect, SHIM_INITIALIZING, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        /* Someone else is initializing: wait for them (never for ourselves). */
        while (__atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) == SHIM_INITIALIZING &&
               __atomic_load_n(&init_tid, __ATOMIC_RELAXED) != prim_gettid())
            sched_yield();
        return;
    }
    __atomic_store_n(&init_tid, prim_gettid(), __ATOMIC_RELAXED);
    uint64_t mono = prim_now_ns(), real = prim_realtime_ns();
    if (bootstrap_resolve() != 0) {
        /* No real allocator to call: nothing can work. The one fatal error of the shim. */
        static const char msg[] = "perfshim: fatal: the real malloc family was not found\n";
        (void)prim_write_all(2, msg, sizeof msg - 1);
        abort();
    }
    options_load(&options, env_get);
    log_level = options.log;
    if (!options.enable || getauxval(AT_SECURE)) {
        shim_set_state(SHIM_DISABLED);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = 0;
    ssize_t c = prim_read_file("/proc/self/cmdline", cmdline, sizeof cmdline);
    cmdline_len = c > 0 ? (uint32_t)c : 0;
    if (stacktab_init(0, 0) != 0) {
        PS_WARN("cannot map memory for the stack table (address-space limit?); not recording");
        shim_set_state(SHIM_DISABLED);
        return;
    }
    if (shim_open_trace(mono, real, 0) != 0) { /* writer_init said why */
        shim_set_state(SHIM_DISABLED);
        return;
    }
    if (pthread_key_create(&exit_key, thread_exit_dtor) != 0) {
        PS_WARN("no thread-specific key left; not recording");
        shim_set_state(SHIM_DISABLED);
        return;
    }
    owner_pid = getpid();
    locktab_init();
    modmap_set_exe(exe_path);
    unwind_init();
    leakscan_init();
    pthread_atfork(NULL, NULL, atfork_child);
    PS_LOG(2, "recording to %s", out_path);
    shim_set_state(SHIM_ACTIVE);
}

static void put_thread_rec(tstate_t *st, uint8_t type)
{
    char name[16];
    prim_thread_name(name);
    uint32_t nlen = (uint32_t)strnlen(name, 15);
    unsigned char rec[sizeof(ps_rec_thread_t) + 15];
    ps_rec_thread_t r = {.h = {type, 0, (uint16_t)(sizeof r + nlen)},
                         .tid = (uint32_t)st->tid,
                         .ts = prim_now_ns()};
    memcpy(rec, &r, sizeof r);
    memcpy(rec + sizeof r, name, nlen);
    shim_put(st, rec, r.h.len);
}

/* First event of a thread: its state, its THREAD_START, and the module map if none yet. */
static tstate_t *thread_attach(void)
{
    tstate_t *st = tstate_create(prim_gettid(), 0);
    if (!st)
        return NULL;
    shim_tls.st = st;
    pthread_setspecific(exit_key, st);
    leakscan_thread_attach(st);
    put_thread_rec(st, PS_REC_THREAD_START);
    modmap_refresh(st);
    return st;
}

tstate_t *hook_enter_slow(void)
{
    int s = __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE);
    if (s == SHIM_UNINIT || s == SHIM_INITIALIZING) {
        shim_tls.guard = 1;
        shim_init();
        shim_tls.guard = 0;
        s = __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE);
    }
    if (s != SHIM_ACTIVE)
        return NULL;
    shim_tls.guard = 1;
    if (shim_tls.st)
        return shim_tls.st;
    tstate_t *st = thread_attach();
    if (!st) {
        shim_tls.guard = 0;
        PS_WARN_ONCE("out of memory for a thread's state; its events are dropped");
        shim_count_dropped();
    }
    return st;
}

tstate_t *shim_self_state(void)
{
    return shim_tls.st ? shim_tls.st : thread_attach();
}

void shim_count_dropped(void)
{
    writer_count_dropped(1);
}

void shim_enter_internal_thread(void)
{
    shim_tls.guard = 1;
    leakscan_internal_thread();
}

static void thread_exit_dtor(void *arg)
{
    tstate_t *st = arg;
    if (__atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) != SHIM_ACTIVE || !st)
        return;
    int g = shim_tls.guard;
    shim_tls.guard = 1;
    locktab_thread_exit(st);
    put_thread_rec(st, PS_REC_THREAD_EXIT);
    tstate_refill(st, 0);
    __atomic_store_n(&st->exited, 1, __ATOMIC_RELEASE);
    shim_tls.guard = g;
}

static void atfork_child(void)
{
    /* The child has one thread (this one) and none of the writer's. It writes its own,
     * self-contained trace: the output template expanded with its pid, a fresh writer, no
     * thread state, no interned stack and a full module map (the parent's are in the parent's
     * file). The header says "fork child": its inherited heap is not in the trace. */
    int was = __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE);
    int g = shim_tls.guard;
    shim_tls.guard = 1;
    writer_after_fork_child();
    tstate_after_fork_child();
    liveset_after_fork_child();
    locktab_after_fork_child();
    shim_tls.st = NULL;
    if (was != SHIM_ACTIVE) {
        shim_tls.guard = g;
        return;
    }
    shim_set_state(SHIM_DISABLED);
    pthread_setspecific(exit_key, NULL);
    modmap_after_fork_child();
    owner_pid = getpid();
    if (stacktab_reset() != 0 ||
        shim_open_trace(prim_now_ns(), prim_realtime_ns(), PS_FILE_F_FORK_CHILD) != 0) {
        shim_tls.guard = g;
        return;
    }
    shim_set_state(SHIM_ACTIVE);
    if (writer_start() != 0)
        PS_WARN("cannot start the writer thread; threads will write their own chunks");
    shim_tls.guard = g;
}

/* Before exec (hooks_exec.c): the trace gets its END now, as the image is about to go. Not in
 * a vfork child, which shares the parent's memory and trace. */
void shim_before_exec(void)
{
    if (getpid() != owner_pid || __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) != SHIM_ACTIVE)
        return;
    int g = shim_tls.guard;
    shim_tls.guard = 1;
    /* the lock totals so far (then zeroed: after a failed exec the counts go on from 0) */
    locktab_fini(shim_self_state());
    writer_checkpoint();
    shim_tls.guard = g;
}

void shim_after_exec_failed(void)
{
    if (getpid() != owner_pid || __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) != SHIM_ACTIVE)
        return;
    int g = shim_tls.guard;
    shim_tls.guard = 1;
    writer_resume();
    shim_tls.guard = g;
}

/* Unless PERFSHIM_FOLLOW_EXEC=1, programs this one executes are not traced: libperfshim is
 * taken out of LD_PRELOAD (other preloaded libraries stay). Runs from the constructor, when
 * environ is the process's own and no other thread of the app exists yet. */
static void shim_env_unpreload(void)
{
    const char *v = getenv("LD_PRELOAD");
    if (!v || !strstr(v, "libperfshim"))
        return;
    char keep[4096];
    size_t n = 0;
    for (const char *p = v; *p;) {
        size_t len = strcspn(p, ": ");
        if (len && !(memmem(p, len, "libperfshim", 11)) && n + len + 1 < sizeof keep) {
            if (n)
                keep[n++] = ':';
            memcpy(keep + n, p, len);
            n += len;
        }
        p += len;
        if (*p)
            p++;
    }
    keep[n] = 0;
    if (n)
        setenv("LD_PRELOAD", keep, 1);
    else
        unsetenv("LD_PRELOAD");
}

/* The leak scan runs while the shim is still active, so frees racing it wait in the live set
 * instead of releasing blocks it reads; a second exiting thread waits for the first scan. */
static void fini_leak_scan(void)
{
    static int scan_once;
    if (!options.leak_check || __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) != SHIM_ACTIVE)
        return;
    int g = shim_tls.guard, expect = 0;
    shim_tls.guard = 1;
    if (__atomic_compare_exchange_n(&scan_once, &expect, 1, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        leakscan_run();
        __atomic_store_n(&scan_once, 2, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&scan_once, __ATOMIC_ACQUIRE) == 1)
            sched_yield();
    }
    shim_tls.guard = g;
}

void shim_fini(void)
{
    /* A vfork child shares our memory: its _exit must not end the parent's trace. */
    if (getpid() != owner_pid)
        return;
    fini_leak_scan();
    int expect = SHIM_ACTIVE;
    if (!__atomic_compare_exchange_n(&shim_state, &expect, SHIM_FINISHED, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    int g = shim_tls.guard;
    shim_tls.guard = 1;
    locktab_fini(shim_tls.st);
    if (shim_tls.st)
        put_thread_rec(shim_tls.st, PS_REC_THREAD_EXIT);
    writer_finish();
    shim_tls.guard = g;
}

__attribute__((constructor)) static void shim_ctor(void)
{
    shim_tls.guard = 1;
    shim_init();
    if (!getauxval(AT_SECURE) && !options.follow_exec)
        shim_env_unpreload();
    if (__atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) == SHIM_ACTIVE && writer_start() != 0)
        PS_WARN("cannot start the writer thread; threads will write their own chunks");
    if (__atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) == SHIM_ACTIVE && options.signals)
        crash_install();
    shim_tls.guard = 0;
}

__attribute__((destructor)) static void shim_dtor(void)
{
    shim_fini();
}
