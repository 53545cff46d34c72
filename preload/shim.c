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
#include <sys/resource.h>
#include <unistd.h>

#include "announce.h"
#include "bootstrap.h"
#include "crash.h"
#include "envclean.h"
#include "locktab.h"
#include "log.h"
#include "perfshim/errors.h"
#include "modmap.h"
#include "sampled.h"
#include "stacktab.h"
#include "unwind.h"
#include "writer.h"

int shim_state;
PS_TLS shim_tls_t shim_tls;

static pid_t init_tid;
static const int forkword_const = 1;
const volatile int *shim_forkword = &forkword_const;
static volatile int *forkword_page; /* the MADV_WIPEONFORK page, NULL if none */
/* shim.h's shim_go: word 1 of that page, else go_fallback; written by shim_set_state */
static volatile int go_fallback;
static volatile int *go_word = &go_fallback;
const volatile int *shim_go = &go_fallback;
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
static void fork_child_start(void);

/* tstate.h: full buffers go to the writer */
static const tstate_sink_t writer_sink = {.buf_new = writer_buf_new,
                                          .buf_get = writer_buf_get,
                                          .buf_put = writer_buf_put,
                                          .buf_cap = writer_buf_cap,
                                          .enqueue = writer_enqueue,
                                          .write_now = writer_write_now};

/* writer.h: the writer thread marks itself internal; snapshots are the leak scan's (when
 * asked for) and the lock tables' (every few flush periods) */
static int snapshot_due(void)
{
    return leakscan_snapshot_due() || locktab_snapshot_due();
}

static void snapshot(writer_append_fn put)
{
    if (leakscan_snapshot_due())
        leakscan_snapshot(put);
    if (locktab_snapshot_due())
        locktab_snapshot(put);
}

static const writer_hooks_t writer_hooks = {.thread_enter = shim_enter_internal_thread,
                                            .snapshot_due = snapshot_due,
                                            .snapshot = snapshot};

static void shim_set_state(int s)
{
    __atomic_store_n(&shim_state, s, __ATOMIC_RELEASE);
    __atomic_store_n(go_word, s == SHIM_ACTIVE, __ATOMIC_RELEASE);
}

/* Expands the output template for this process and opens its trace (writer_init). */
static int shim_open_trace(uint64_t mono, uint64_t real, uint32_t flags)
{
    /* %e: the program this process runs. AT_EXECFN is the file given to execve: for a #!
     * script the script, where argv[0] and /proc/self/exe name its interpreter. */
    const char *prog = (const char *)getauxval(AT_EXECFN);
    const char *slash = prog ? strrchr(prog, '/') : NULL;
    prog = slash ? slash + 1 : prog;
    if (!prog || !*prog)
        prog = program_invocation_short_name;
    if (options_expand_output(options.output, (int)getpid(), prog, out_path, sizeof out_path) !=
        0) {
        PS_WARN("output path template \"%s\" does not expand; not recording", options.output);
        return -PS_E_INVAL;
    }
    writer_header_t h = {.path = out_path,
                         .exe = exe_path,
                         .cmdline = cmdline,
                         .cmdline_len = cmdline_len,
                         .start_mono_ns = mono,
                         .start_realtime_ns = real,
                         /* (no PS_FILE_F_CROSS_FREES: the live set keeps no thread per
                          * block since issue 18's recorder memory; the analyzer tells) */
                         .flags = flags,
                         .sample_bytes = (uint64_t)options.sample_bytes,
                         .sample_seed = (uint64_t)options.sample_seed};
    return writer_init(&h);
}

/* Under an address-space limit (RLIMIT_AS) the stack table, 160 MiB of address space by
 * default (NORESERVE: it counts against the limit though little of it is ever touched), gets
 * at most an eighth of the limit, so the app keeps the room it has natively: 1/5 of that for
 * slots, the rest for addresses. No limit: the defaults (0, 0). */
static void stacktab_budget(unsigned *slots_log2, uint64_t *arena_ips)
{
    *slots_log2 = 0;
    *arena_ips = 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    uint64_t budget = (uint64_t)rl.rlim_cur / 8;
    if (budget >= (160ull << 20))
        return;
    unsigned lg = 10;
    while (lg < 20 && ((uint64_t)STACKTAB_SLOT_BYTES << (lg + 1)) <= budget / 5)
        lg++;
    uint64_t rest = budget > ((uint64_t)STACKTAB_SLOT_BYTES << lg)
                        ? budget - ((uint64_t)STACKTAB_SLOT_BYTES << lg) : 0;
    *slots_log2 = lg;
    *arena_ips = rest / 8 > 65536 ? rest / 8 : 65536;
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
    if (options.sample_bytes > 0) { /* sampled mode (sampled.h): no live set, no leak scan */
        options.leak_check = 0;
        if (options.snapshot_signal)
            PS_WARN("PERFSHIM_SNAPSHOT_SIGNAL needs every live block: off with "
                    "PERFSHIM_SAMPLE_BYTES");
        options.snapshot_signal = 0;
    }
    /* a floor needs the live set's guard (stamp.h): without it, every event reads the clock */
    stamp_every = options.leak_check ? (uint32_t)options.clock_every : 1;
    stamp_guard_on = options.clock_guard;
    log_level = options.log;
    if (!options.enable || getauxval(AT_SECURE)) {
        shim_set_state(SHIM_DISABLED);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = 0;
    ssize_t c = prim_read_file("/proc/self/cmdline", cmdline, sizeof cmdline);
    cmdline_len = c > 0 ? (uint32_t)c : 0;
    unsigned st_slots;
    uint64_t st_ips;
    stacktab_budget(&st_slots, &st_ips);
    if (stacktab_init(st_slots, st_ips) != 0) {
        PS_WARN("cannot map memory for the stack table (address-space limit?); not recording");
        shim_set_state(SHIM_DISABLED);
        return;
    }
    tstate_set_sink(&writer_sink);
    writer_set_hooks(&writer_hooks);
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
    writer_arm_lazy(); /* no thread of the shim's until the app has a second one */
    forkword_page = prim_map_wipeonfork();
    if (forkword_page) {
        *forkword_page = 1;
        shim_forkword = forkword_page;
        go_word = forkword_page + 1; /* 0 until shim_set_state(SHIM_ACTIVE) below */
        shim_go = go_word;
    }
    locktab_init();
    modmap_set_exe(exe_path);
    unwind_init();
    leakscan_init();
    pthread_atfork(NULL, NULL, atfork_child);
    sampled_init(options.sample_bytes, options.sample_seed);
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
    rec_put(st, rec, r.h.len);
}

/* First event of a thread: its state, its THREAD_START, and the module map if none yet. */
static tstate_t *thread_attach(void)
{
    tstate_t *st = tstate_create(prim_gettid(), 0);
    if (!st)
        return NULL;
    shim_tls.st = st;
    if (st->tid != getpid()) /* a second thread: the writer thread may start now */
        writer_want_thread();
    pthread_setspecific(exit_key, st);
    leakscan_thread_attach(st);
    put_thread_rec(st, PS_REC_THREAD_START);
    modmap_refresh(st);
    return st;
}

static tstate_t *hook_enter_slow_body(void);

/* The app's errno is the one it had: init and thread attach make syscalls that may fail. */
tstate_t *hook_enter_slow(void)
{
    int e = errno;
    tstate_t *st = hook_enter_slow_body();
    errno = e;
    return st;
}

static tstate_t *hook_enter_slow_body(void)
{
    int s = __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE);
    if (s == SHIM_UNINIT || s == SHIM_INITIALIZING) {
        shim_tls.guard = 1;
        shim_init();
        shim_tls.guard = 0;
        s = __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE);
    }
    if (s == SHIM_ACTIVE && PS_UNLIKELY(!*shim_forkword)) {
        /* A child made without fork(): its first event. Its heap so far is its parent's and
         * the records in its buffers are the parent's, to be written by the parent. */
        shim_tls.guard = 1;
        fork_child_start();
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
        rec_count_dropped();
    }
    return st;
}

tstate_t *shim_self_state(void)
{
    return shim_tls.st ? shim_tls.st : thread_attach();
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
    acost_flush(st, st);
    put_thread_rec(st, PS_REC_THREAD_EXIT);
    tstate_refill(st, 0);
    __atomic_store_n(&st->exited, 1, __ATOMIC_RELEASE);
    shim_tls.guard = g;
}

int shim_owns_trace(void)
{
    return *shim_forkword != 0;
}

static void atfork_child(void)
{
    /* Already done if a hook ran in this child before glibc called this handler. */
    if (owner_pid != getpid())
        fork_child_start();
}

/* The child has one thread (this one) and none of the writer's. It writes its own,
 * self-contained trace: the output template expanded with its pid, a fresh writer, no thread
 * state, no interned stack and a full module map (the parent's are in the parent's file). The
 * header says "fork child": its inherited heap is not in the trace. Run by the atfork handler
 * and, for a child made without fork() (syscall, clone), by its first hook. */
static void fork_child_start(void)
{
    if (forkword_page)
        *forkword_page = 1; /* this process owns what follows */
    int was = __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE);
    int g = shim_tls.guard;
    shim_tls.guard = 1;
    prim_clock_after_fork_child();
    writer_after_fork_child();
    tstate_after_fork_child();
    liveset_after_fork_child();
    locktab_after_fork_child();
    crash_after_fork_child();
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
    writer_arm_lazy(); /* the child has one thread: no writer thread until it has two */
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
    announce_exec(options.follow_exec); /* record: this trace ends here, no leak scan */
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
    announce_exec_failed();
    writer_resume();
    shim_tls.guard = g;
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

static void fini_flush_cost(tstate_t *st, void *out)
{
    acost_flush(st, out);
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
    __atomic_store_n(go_word, 0, __ATOMIC_RELEASE); /* shim.h's shim_go: hooks pass through */
    int g = shim_tls.guard;
    shim_tls.guard = 1;
    uint64_t walks, cached;
    unwind_walk_counts(&walks, &cached);
    PS_LOG(2, "stacks walked by libunwind: %llu (%llu entered into a thread's stack cache)",
           (unsigned long long)walks, (unsigned long long)cached);
    locktab_fini(shim_tls.st);
    tstate_t *out = shim_tls.st ? shim_tls.st : tstate_create(prim_gettid(), 0);
    if (out) /* the allocator time of the threads still running, this one's included */
        tstate_foreach(fini_flush_cost, out);
    if (shim_tls.st)
        put_thread_rec(shim_tls.st, PS_REC_THREAD_EXIT);
    writer_finish();
    shim_tls.guard = g;
}

/* crash.h: the shim's side of a fatal signal (signal context). */
static int crash_enter(tstate_t **st)
{
    if (__atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) != SHIM_ACTIVE || !shim_owns_trace())
        return 0;
    shim_tls.guard = 1;
    *st = shim_tls.st;
    return 1;
}

__attribute__((constructor)) static void shim_ctor(void)
{
    shim_tls.guard = 1;
    shim_init();
    if (!getauxval(AT_SECURE) && !options.follow_exec)
        envclean_scrub_environ(); /* not through setenv: the app may own it (bash) */
    if (__atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) == SHIM_ACTIVE && options.signals)
        crash_install(crash_enter);
    shim_tls.guard = 0;
}

__attribute__((destructor)) static void shim_dtor(void)
{
    shim_fini();
}
