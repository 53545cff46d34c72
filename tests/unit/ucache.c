/* Unit tests of the per-thread stack cache's lookup (preload/unwind.h: ucache_seal, ucache_find)
 * on a stack made by hand: an entry answers (its stack id) if and only if its key (ra, CFA)
 * matches and every slot the walk read still holds the value it read. In particular a stack
 * whose frames nearest the hook match but whose deepest frame differs (the same caller reached
 * from another call site further up, the frames in between of the same sizes) is a miss: every
 * checked slot is compared, the deepest as much as the nearest, whatever its position in the
 * sealed layout (a window or a single slot, a group's first or last, a padded group). Slots
 * that were not read (a frame's locals) may change. No libunwind here: the walk that fills an
 * entry is tests/integration/unwind_same.sh's (the same stacks with the cache and without). */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tstate.h"
#include "unwind.h"

#define SLOTS 512 /* the fake stack, 8-byte slots; the CFA at slot CFA_AT */
#define CFA_AT 16
#define RA 0x401234u

static uint64_t stk[SLOTS] __attribute__((aligned(16)));
static ucache_t cache;
static ucache_scratch_t scratch;
static tstate_t st;

static void cache_reset(void)
{
    memset(&cache, 0, sizeof cache);
    cache.mru = &cache.ent[0]; /* as unwind.c allocates it */
    st.ucache = &cache;
}

/* A new entry for key (RA, the fake CFA) in an empty cache, unsealed. */
static ucache_ent_t *entry_new(void)
{
    cache_reset();
    return ucache_claim(&cache, RA, (uintptr_t)&stk[CFA_AT]);
}

/* A check of stack slot i (its value now). */
static void check_slot(ucache_ent_t *e, int i)
{
    e->off[e->n] = (int32_t)((i - CFA_AT) * 8);
    e->val[e->n] = stk[i];
    e->n++;
}

static const ucache_ent_t *find(void)
{
    return ucache_find(&st, RA, (uintptr_t)&stk[CFA_AT]);
}

static void fill_stack(uint64_t seed)
{
    for (int i = 0; i < SLOTS; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        stk[i] = seed ^ (seed >> 29);
    }
}

/* A frame-pointer chain of `frames` frames of `size` slots each above the CFA (each frame's
 * saved rbp and return address: one window), then `singles` frames without frame pointers
 * (their return address: a single slot), `ssize` slots each. Returns the slots checked. */
static int chain(ucache_ent_t *e, int frames, int size, int singles, int ssize, int *slots)
{
    int n = 0, at = CFA_AT + size - 2; /* a frame's rbp and ra at its top */
    for (int f = 0; f < frames; f++, at += size) {
        check_slot(e, at);
        check_slot(e, at + 1);
        slots[n++] = at;
        slots[n++] = at + 1;
    }
    at += ssize - size + 1;
    for (int f = 0; f < singles; f++, at += ssize) {
        check_slot(e, at);
        slots[n++] = at;
    }
    ucache_seal(&scratch, e);
    ucache_publish(e, RA, 77);
    return n;
}

/* Every checked slot, changed alone (one bit, or the whole word), makes the lookup miss, and
 * restored makes it hit again; a slot no check covers changes nothing. */
static void every_slot_counts(int frames, int size, int singles, int ssize)
{
    fill_stack((uint64_t)(frames * 1000 + size * 100 + singles * 10 + ssize));
    ucache_ent_t *e = entry_new();
    int slots[2 * 64 + 64];
    int n = chain(e, frames, size, singles, ssize, slots);
    assert_true(find() == e);
    expect_u64_eq(find()->id, 77);
    char checked[SLOTS] = {0};
    for (int k = 0; k < n; k++) {
        int i = slots[k];
        checked[i] = 1;
        uint64_t keep = stk[i];
        stk[i] ^= 1ull << (k % 64);
        expect_true(find() == NULL);
        stk[i] = ~keep;
        expect_true(find() == NULL);
        stk[i] = keep;
        expect_true(find() == e);
    }
    for (int i = 0; i < SLOTS; i++)
        if (!checked[i]) {
            stk[i] ^= 0xdeadbeefull;
            expect_true(find() == e);
        }
}

TEST(frame_pointer_chains)
{
    for (int frames = 1; frames <= 40; frames++)
        every_slot_counts(frames, 4, 0, 0);
    every_slot_counts(31, 6, 3, 5); /* churn_bench at depth 30: thread_main, start_thread, clone */
}

TEST(no_frame_pointers)
{
    for (int singles = 1; singles <= 40; singles++)
        every_slot_counts(0, 0, singles, 3);
    every_slot_counts(0, 0, 34, 7);
}

TEST(mixed_and_odd_counts)
{
    for (int frames = 1; frames <= 9; frames++)
        for (int singles = 1; singles <= 9; singles++)
            every_slot_counts(frames, 5, singles, 4);
}

/* The case a key of the nearest frames alone would get wrong: the caller g reached from f at
 * call site A, then at call site B, every frame at the same address (equal frame sizes), the
 * frames nearest the hook identical: only the return address into f differs, 30 frames up
 * (or the outermost frame's). */
TEST(deep_frame_differs)
{
    fill_stack(42);
    ucache_ent_t *e = entry_new();
    int slots[128];
    int n = chain(e, 30, 6, 2, 4, slots);
    assert_true(find() == e);
    /* the stack of the other path: the same but for the return address of frame 29 (the
     * window's second slot) and, separately, of the outermost frame (the last single) */
    int deep_ra = slots[2 * 29 + 1], outer = slots[n - 1];
    uint64_t a = stk[deep_ra], b = stk[outer];
    stk[deep_ra] = a + 5; /* call site B: 5 bytes further */
    expect_true(find() == NULL);
    stk[deep_ra] = a;
    stk[outer] = b + 5;
    expect_true(find() == NULL);
    stk[outer] = b;
    expect_true(find() == e);
    /* a frame further up than the walk went (past the outermost frame) changes nothing */
    stk[outer + 3] ^= 1;
    expect_true(find() == e);
}

/* A slot given twice (a walk reads a saved register's slot for two frames) is checked once;
 * the key selects: another ra or CFA is not this entry. */
TEST(duplicates_and_key)
{
    fill_stack(7);
    ucache_ent_t *e = entry_new();
    check_slot(e, CFA_AT + 3);
    check_slot(e, CFA_AT + 3);
    check_slot(e, CFA_AT + 9);
    check_slot(e, CFA_AT + 10);
    check_slot(e, CFA_AT + 9);
    ucache_seal(&scratch, e);
    ucache_publish(e, RA, 5);
    assert_true(find() == e);
    expect_true(ucache_find(&st, RA + 1, (uintptr_t)&stk[CFA_AT]) == NULL);
    expect_true(ucache_find(&st, RA, (uintptr_t)&stk[CFA_AT + 2]) == NULL);
    stk[CFA_AT + 3]++;
    expect_true(find() == NULL);
    stk[CFA_AT + 3]--;
    stk[CFA_AT + 10]++;
    expect_true(find() == NULL);
    stk[CFA_AT + 10]--;
    expect_true(find() == e);
    /* an entry not yet published (ra 0) is never found */
    e->ra = 0;
    expect_true(find() == NULL);
}

/* Random layouts (slots below the CFA's caller frame included: the hook's CFA - 16 is the
 * caller's own return-address window), random changes: a hit exactly when every checked slot
 * is unchanged. */
TEST(random_layouts)
{
    uint64_t r = 12345;
    for (int round = 0; round < 3000; round++) {
        fill_stack((uint64_t)round);
        ucache_ent_t *e = entry_new();
        char checked[SLOTS] = {0};
        int n = 1 + (int)((r = r * 6364136223846793005ull + 1) >> 58) % 100;
        for (int k = 0; k < n && e->n < UCACHE_CHECKS; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            int i = CFA_AT - 2 + (int)((r >> 33) % (SLOTS - CFA_AT));
            check_slot(e, i);
            checked[i] = 1;
            if ((r >> 20) & 1 && i + 1 < SLOTS && e->n < UCACHE_CHECKS) { /* a window */
                check_slot(e, i + 1);
                checked[i + 1] = 1;
            }
        }
        ucache_seal(&scratch, e);
        ucache_publish(e, RA, 9);
        assert_true(find() == e);
        static uint64_t before[SLOTS];
        memcpy(before, stk, sizeof stk);
        int changes = (int)((r >> 40) % 3), hit = 1;
        for (int c = 0; c < changes; c++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            int i = CFA_AT - 2 + (int)((r >> 33) % (SLOTS - CFA_AT));
            stk[i] ^= 1ull << ((r >> 10) % 64);
        }
        for (int i = 0; i < SLOTS; i++)
            if (checked[i] && stk[i] != before[i])
                hit = 0;
        expect_true((find() == e) == hit);
    }
}

/* The entry found last is tried first (ucache_find's MRU), the others by their chain: two
 * stacks from the same key (the same caller at the same depth, reached along two paths that
 * differ 20 frames up) on one chain, looked up alternately, each found exactly when its
 * slots hold its values; an MRU entry whose key matches but whose slots do not is passed
 * over for the right one; a key not cached, or an MRU entry refilled with another key, is
 * not found. */
TEST(mru_and_chain)
{
    fill_stack(99);
    uintptr_t cfa = (uintptr_t)&stk[CFA_AT];
    ucache_ent_t *a = entry_new();
    int slots[64];
    chain(a, 24, 4, 0, 0, slots);
    int deep = slots[2 * 20 + 1]; /* the return address 20 frames up */
    uint64_t va = stk[deep], vb = va + 9;
    ucache_ent_t *b = ucache_claim(&cache, RA, cfa); /* the same key's chain */
    stk[deep] = vb;
    for (int k = 0; k < 48; k++)
        check_slot(b, slots[k]);
    ucache_seal(&scratch, b);
    ucache_publish(b, RA, 78);
    for (int round = 0; round < 6; round++) {
        stk[deep] = round % 2 ? va : vb;
        const ucache_ent_t *want = round % 2 ? a : b;
        expect_true(find() == want);
        expect_true(cache.mru == want);
        expect_true(find() == want); /* now through the MRU */
    }
    stk[deep] = va + 1; /* neither path: both ways' checks fail, the MRU's too */
    expect_true(find() == NULL);
    stk[deep] = va;
    expect_true(find() == a);
    expect_true(ucache_find(&st, RA + 16, cfa) == NULL); /* another caller */
    a->ra = 0; /* a refilled (unpublished while its walk runs): not found through the MRU */
    expect_true(cache.mru == a);
    expect_true(find() == NULL);
}

/* One key reached along 40 paths (a std::string's allocation from 40 callers): all 40 kept
 * (a 4-way set kept 4, and a loop over more missed every time), each found exactly when the
 * stack holds its path. */
TEST(many_paths_one_key)
{
    fill_stack(5);
    cache_reset();
    uintptr_t cfa = (uintptr_t)&stk[CFA_AT];
    int slots[64], n = 0, deep = CFA_AT + 30;
    uint64_t base = stk[deep];
    for (int p = 0; p < 40; p++) {
        stk[deep] = base + (uint64_t)p;
        ucache_ent_t *e = ucache_claim(&cache, RA, cfa);
        n = 0;
        for (int i = CFA_AT - 2; i <= deep; i += 4)
            slots[n++] = i;
        for (int k = 0; k < n; k++)
            check_slot(e, slots[k]);
        check_slot(e, deep);
        ucache_seal(&scratch, e);
        ucache_publish(e, RA, 100u + (uint32_t)p);
    }
    for (int round = 0; round < 3; round++)
        for (int p = 0; p < 40; p++) {
            stk[deep] = base + (uint64_t)p;
            const ucache_ent_t *e = find();
            assert_true(e != NULL);
            expect_u64_eq(e->id, 100u + (uint32_t)p);
        }
    stk[deep] = base + 40;
    expect_true(find() == NULL);
}

/* More keys than entries: a fill takes the least recently filled entry, off its chain; the
 * last UCACHE_ENTS stacks are found, the older ones not, and every chain stays well formed
 * (each entry on the chain its key hashes to, once). */
TEST(replacement)
{
    fill_stack(11);
    cache_reset();
    const int keys = 3 * UCACHE_ENTS + 7;
    for (int k = 0; k < keys; k++) {
        ucache_ent_t *e = ucache_claim(&cache, RA + 16u * (unsigned)k, (uintptr_t)&stk[CFA_AT]);
        check_slot(e, CFA_AT + 1 + k % 50);
        ucache_seal(&scratch, e);
        ucache_publish(e, RA + 16u * (unsigned)k, 1000u + (uint32_t)k);
        int seen = 0;
        for (unsigned h = 0; h < UCACHE_HEADS; h++)
            for (unsigned i = cache.head[h]; i; i = cache.ent[i - 1].next) {
                const ucache_ent_t *x = &cache.ent[i - 1];
                expect_u64_eq(x->chain, h + 1);
                expect_u64_eq(ucache_hash(x->ra, x->cfa), h);
                seen++;
                assert_true(seen <= (int)UCACHE_ENTS);
            }
        expect_u64_eq(seen, k + 1 < (int)UCACHE_ENTS ? k + 1 : (int)UCACHE_ENTS);
    }
    for (int k = 0; k < keys; k++) {
        const ucache_ent_t *e = ucache_find(&st, RA + 16u * (unsigned)k, (uintptr_t)&stk[CFA_AT]);
        if (k >= keys - (int)UCACHE_ENTS) {
            assert_true(e != NULL);
            expect_u64_eq(e->id, 1000u + (uint32_t)k);
        } else {
            expect_true(e == NULL);
        }
    }
}

TEST_MAIN(TEST_ENTRY(frame_pointer_chains), TEST_ENTRY(no_frame_pointers),
          TEST_ENTRY(mixed_and_odd_counts), TEST_ENTRY(deep_frame_differs),
          TEST_ENTRY(duplicates_and_key), TEST_ENTRY(random_layouts), TEST_ENTRY(mru_and_chain),
          TEST_ENTRY(many_paths_one_key), TEST_ENTRY(replacement))
