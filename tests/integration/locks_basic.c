/*
 * locks_basic -- the acceptance workload of lock contention: one hot mutex held long by all
 * threads, one rarely taken static mutex, an rwlock with readers and a writer, a spinlock.
 * Read with `perfshim locks --format=json`: exact acquisitions per lock, the hot mutex first with >= 95% of all wait,
 * the rare one last, sites and holder named by function, allocations while held counted,
 * init stack of the initialized mutex and none for the static one, threads' waits adding up
 * to the locks' total.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "locks_check.h"
#include "report.h"

#define NT 4
#define N_HOT 60
#define HOLD_US 300
#define N_RARE 3
#define N_READ 100
#define N_WRITE 20
#define N_SPIN 1000
#define ALLOCS_IN_HOT 2

static pthread_mutex_t hot;
static pthread_mutex_t rare = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_spinlock_t spin;
static volatile unsigned long counter;
static void *volatile sink;

__attribute__((noinline)) void init_locks(void)
{
    pthread_mutex_init(&hot, NULL);
    pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
}

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

__attribute__((noinline)) void hot_section(void)
{
    pthread_mutex_lock(&hot);
    for (int i = 0; i < ALLOCS_IN_HOT; i++) {
        sink = malloc(32);
        free(sink);
    }
    sleep_us(HOLD_US); /* the long critical section everyone waits for */
    counter++;
    pthread_mutex_unlock(&hot);
}

__attribute__((noinline)) void rare_section(void)
{
    pthread_mutex_lock(&rare);
    counter++;
    pthread_mutex_unlock(&rare);
}

__attribute__((noinline)) void read_section(void)
{
    pthread_rwlock_rdlock(&rw);
    counter++;
    pthread_rwlock_unlock(&rw);
}

__attribute__((noinline)) void write_section(void)
{
    pthread_rwlock_wrlock(&rw);
    counter++;
    pthread_rwlock_unlock(&rw);
}

__attribute__((noinline)) void spin_section(void)
{
    pthread_spin_lock(&spin);
    counter++;
    pthread_spin_unlock(&spin);
}

void *worker(void *arg);
void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < N_HOT; i++)
        hot_section();
    for (int i = 0; i < N_READ; i++)
        read_section();
    for (int i = 0; i < N_SPIN; i++)
        spin_section();
    return NULL;
}

static void run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    init_locks();
    pthread_t th[NT];
    for (int i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < N_WRITE; i++)
        write_section();
    for (int i = 0; i < N_RARE; i++)
        rare_section();
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    char *text = NULL;
    json_t *j = locks_record_load(path, &text);
    if (!j)
        return 1;
    const json_t *locks = json_get(j, "locks");
    const json_t *h = lock_by_site_fn(locks, "hot_section");
    const json_t *r = lock_by_site_fn(locks, "rare_section");
    const json_t *w = lock_by_site_fn(locks, "read_section");
    const json_t *s = lock_by_site_fn(locks, "spin_section");
    CHECK(h && r && w && s);
    CHECK(w == lock_by_site_fn(locks, "write_section"));
    if (!h || !r || !w || !s)
        goto out;
    /* exact acquisitions per lock */
    CHECK_U64(h, "acquisitions", NT * N_HOT);
    CHECK_U64(r, "acquisitions", N_RARE);
    CHECK_U64(w, "acquisitions", NT * N_READ + N_WRITE);
    CHECK_U64(w, "read_acquisitions", NT * N_READ);
    CHECK_U64(s, "acquisitions", NT * N_SPIN);
    CHECK(!strcmp(json_str_of(h, "type"), "mutex") && !strcmp(json_str_of(w, "type"), "rwlock") &&
          !strcmp(json_str_of(s, "type"), "spinlock"));
    CHECK_U64(r, "contended", 0);
    CHECK_U64(r, "owner_changes", 0);
    CHECK(json_u64(h, "contended") > 0 && json_u64(h, "contended") <= NT * N_HOT);
    CHECK(json_u64(h, "max_waiters") >= 2 && json_u64(h, "max_waiters") <= NT);
    /* ranking: hot first with >= 95% of all wait, rare last */
    CHECK(json_at(locks, 0) == h);
    CHECK(json_at(locks, locks->n - 1) == r);
    const json_t *sum = json_get(j, "lock_summary");
    uint64_t total = json_u64(sum, "total_wait_ns");
    const json_t *hw = json_get(h, "wait_ns");
    CHECK(json_u64(hw, "total") * 100 >= total * 95);
    CHECK(json_u64(hw, "total") == sites_sum(h, "wait_ns_total"));
    CHECK_U64(hw, "count", json_u64(h, "contended"));
    CHECK(json_u64(hw, "max") <= json_u64(hw, "total"));
    /* every hold timed, and the hot ones are long */
    const json_t *hh = json_get(h, "hold_ns");
    CHECK_U64(hh, "count", NT * N_HOT);
    CHECK_U64(json_get(s, "hold_ns"), "count", NT * N_SPIN);
    CHECK(json_u64(hh, "p50") >= HOLD_US * 1000);
    CHECK(json_u64(hh, "total") >= (uint64_t)NT * N_HOT * HOLD_US * 1000);
    /* allocations inside the hot critical section, none elsewhere */
    CHECK_U64(h, "allocations_while_held", NT * N_HOT * ALLOCS_IN_HOT);
    CHECK_U64(r, "allocations_while_held", 0);
    /* the holder that made others wait is hot_section; charges add up to the wait */
    const json_t *holders = json_get(h, "holders");
    CHECK(holders && holders->n >= 1 && frame_fn(json_get(json_at(holders, 0), "stack"), 0) &&
          !strcmp(frame_fn(json_get(json_at(holders, 0), "stack"), 0), "hot_section"));
    uint64_t charged = 0;
    for (size_t i = 0; holders && i < holders->n; i++)
        charged += json_u64(json_at(holders, i), "wait_ns_charged");
    CHECK(charged == json_u64(hw, "total"));
    CHECK(json_u64(json_at(holders, 0), "wait_ns_charged") * 100 >= charged * 90);
    /* init stack: the initialized mutex names init_locks, the static one has none */
    CHECK(frame_fn(json_get(h, "init_stack"), 0) &&
          !strcmp(frame_fn(json_get(h, "init_stack"), 0), "init_locks"));
    CHECK(json_get(r, "init_stack") && json_get(r, "init_stack")->type == JSON_NULL);
    /* threads: the waits of all threads are the waits of all locks */
    const json_t *threads = json_get(j, "threads");
    uint64_t twait = 0, maxw = 0;
    for (size_t i = 0; threads && i < threads->n; i++) {
        uint64_t tw = json_u64(json_at(threads, i), "lock_wait_ns");
        twait += tw;
        maxw = tw > maxw ? tw : maxw;
        CHECK(tw <= json_u64(json_at(threads, i), "wall_ns"));
    }
    CHECK(threads && threads->n == NT + 1);
    CHECK(twait == total);
    uint64_t amdahl = json_u64(h, "amdahl_max_saving_ns");
    CHECK(amdahl > 0 && amdahl <= maxw && amdahl <= json_u64(hw, "total"));
    CHECK_U64(sum, "untracked", 0);
    CHECK(json_get(j, "lock_order_cycles") && json_get(j, "lock_order_cycles")->n == 0);
    {
        /* `perfshim report --format=json` carries the same lock keys */
        char out[4300];
        snprintf(out, sizeof out, "%s.report.json", path);
        char *argv[] = {(char *)"report", (char *)"--format=json", (char *)"-q", (char *)"-o",
                        out, (char *)path, NULL};
        CHECK(report_main(6, argv) == 0);
        FILE *f = fopen(out, "rb");
        static char buf[4 << 20];
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = 0;
        char err[256];
        json_t *rj = json_parse(buf, err, sizeof err);
        CHECK(rj != NULL);
        const json_t *rl = json_get(rj, "locks");
        CHECK(rl && rl->n == locks->n && json_get(rj, "threads") && json_get(rj, "sites"));
        CHECK(rl && json_u64(json_at(rl, 0), "acquisitions") == NT * N_HOT);
        json_free(rj);
        unlink(out);
    }
out:
    return locks_finish("locks_basic", j, text, path);
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
