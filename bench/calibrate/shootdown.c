/*
 * shootdown.c: measure this host kernel's own TLB flush paths, for `shootdown calibrate`.
 *
 * The probe makes the kernel flush by changing a present PTE's RW bit with mprotect(): on x86,
 * pte_needs_flush() reports any RW change of a present PTE, so change_protection() ends in
 * flush_tlb_mm_range() over the changed range. That function picks the flush:
 *   - k <= tlb_single_page_flush_ceiling (33) pages: one INVLPG per page;
 *   - more pages: one full flush (CR3 reload), which also drops every other entry of the mm;
 *   - and, when another CPU is running the mm (and is not lazy), flush_tlb_multi() sends it a
 *     flush IPI and waits for its acknowledgement before mprotect returns.
 *
 * What is timed (CLOCK_MONOTONIC, median of many iterations) is always one mprotect(RW -> RO),
 * or a walk over a working set just after one; everything else (restoring RW, warming the TLB)
 * happens outside the timed part. All pages are first written, so they are exclusive, dirty
 * anonymous pages: the RO -> RW restore sets the write bit again in change_pte_range()
 * (can_change_pte_writable), and the probe only ever loads afterwards, so nothing it times can
 * take a page fault. Every mapping sits between two PROT_NONE guard pages so that toggling its
 * protection never splits or merges VMAs.
 *
 * Measurements, on the first two CPUs this process may use (the initiator pinned to the first):
 *   (a) local_write_protect_ns: one page, no other thread of the mm exists: a local INVLPG only
 *       (the same figure as ranged[0]);
 *   (b) remote_write_protect_ns: one page while a thread pinned to the second CPU keeps loading
 *       from it; each flush waits until that thread is seen running, so that it must get an IPI
 *       (null when only one CPU is usable). remote_ipis_per_flush, from the CPU's TLB line of
 *       /proc/interrupts, checks that the IPIs really went out;
 *   (c) ranged / full: k = 1..32 and 36..64 pages, local only, interleaved; refill_after_*: a dependent walk
 *       over a separate 64-page working set right after a ranged or a full flush.
 *
 * Output: one JSON object on stdout with the raw medians; the fit is done by the caller
 * (src/cost/calibrate.ts). Usage: shootdown [iterations]   (default 2000)
 *
 * Build: cc -O2 -pthread -o shootdown shootdown.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define WORKING_SET_PAGES 64 /* entries a full flush drops and the walk must refill (an L1 dTLB's worth) */

#define CEILING 33 /* tlb_single_page_flush_ceiling: above it, flush_tlb_mm_range flushes all */
#define WARMUP 20

/* mprotect sizes: per-page INVLPG up to CEILING, one full flush beyond */
static const int PAGES[] = {1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48, 56, 64};
#define NPAGES (sizeof PAGES / sizeof PAGES[0])

static void die(const char *what) {
  fprintf(stderr, "shootdown probe: %s failed: %s\n", what, strerror(errno));
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static double median(uint64_t *v, int n) {
  qsort(v, (size_t)n, sizeof v[0], cmp_u64);
  return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
}

/* k writable pages between two PROT_NONE guards, each page written once (exclusive anon). */
static char *map_region(int k) {
  char *base = mmap(NULL, (size_t)(k + 2) * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) die("mmap");
  char *p = base + PAGE;
  madvise(base, (size_t)(k + 2) * PAGE, MADV_NOHUGEPAGE);
  if (mprotect(p, (size_t)k * PAGE, PROT_READ | PROT_WRITE)) die("mprotect");
  for (int i = 0; i < k; i++) memset(p + (size_t)i * PAGE, 1, PAGE);
  return p;
}

/* One load per page: fills the TLB entries (or, after a flush, refills them). */
static unsigned touch(const char *p, int k) {
  unsigned sum = 0;
  for (int i = 0; i < k; i++) sum += *(volatile const char *)(p + (size_t)i * PAGE);
  return sum;
}

static void set_prot(char *p, int k, int prot) {
  if (mprotect(p, (size_t)k * PAGE, prot)) die("mprotect");
}

/*
 * The working set is a pointer chain, one link per page, so each load's address depends on the
 * previous load: after a full flush every step pays one page walk, one after the other, and
 * out-of-order execution cannot overlap them. That is the refill a full flush leaves behind.
 */
static char *make_working_set(void) {
  char *ws = map_region(WORKING_SET_PAGES);
  for (int i = 0; i < WORKING_SET_PAGES; i++)
    *(char **)(ws + (size_t)i * PAGE) = i + 1 < WORKING_SET_PAGES ? ws + (size_t)(i + 1) * PAGE : NULL;
  return ws;
}

static uintptr_t chase(char *ws) {
  char *volatile p = ws;
  while (*(char **)p) p = *(char **)p;
  return (uintptr_t)p;
}

/* One timed mprotect(RW -> RO) of k present, TLB-hot pages; the restore is not timed. */
static uint64_t write_protect_once(char *p, int k) {
  touch(p, k);
  uint64_t t0 = now_ns();
  set_prot(p, k, PROT_READ);
  uint64_t t = now_ns() - t0;
  set_prot(p, k, PROT_READ | PROT_WRITE);
  return t;
}

/* One timed walk of the working set right after a flush of k pages of another mapping. */
static uint64_t refill_once(char *p, int k, char *ws) {
  touch(p, k);
  chase(ws);
  set_prot(p, k, PROT_READ);
  uint64_t t0 = now_ns();
  chase(ws);
  uint64_t t = now_ns() - t0;
  set_prot(p, k, PROT_READ | PROT_WRITE);
  return t;
}

/*
 * Medians of every local measurement. Each iteration takes every mapping in turn, so a change
 * in the host's load during the run shifts all the series alike instead of tilting the slopes
 * and intercepts the caller fits; a few untimed rounds first warm caches and page tables.
 */
static void time_local(char *const *maps, char *ws, int iters, uint64_t *samples, double *wp, double refill[2]) {
  char *ranged = maps[0], *full = maps[0];
  int kr = 0, kf = 0;
  for (size_t m = 0; m < NPAGES; m++) {
    if (PAGES[m] <= CEILING) ranged = maps[m], kr = PAGES[m];
    else full = maps[m], kf = PAGES[m];
  }
  for (int i = -WARMUP; i < iters; i++) {
    for (size_t m = 0; m < NPAGES; m++) {
      uint64_t t = write_protect_once(maps[m], PAGES[m]);
      if (i >= 0) samples[m * (size_t)iters + (size_t)i] = t;
    }
    uint64_t r = refill_once(ranged, kr, ws), f = refill_once(full, kf, ws);
    if (i >= 0) samples[NPAGES * (size_t)iters + (size_t)i] = r, samples[(NPAGES + 1) * (size_t)iters + (size_t)i] = f;
  }
  for (size_t m = 0; m < NPAGES; m++) wp[m] = median(samples + m * (size_t)iters, iters);
  refill[0] = median(samples + NPAGES * (size_t)iters, iters);
  refill[1] = median(samples + (NPAGES + 1) * (size_t)iters, iters);
}

static int pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set);
}

/* The first two CPUs this process may run on; *remote is -1 when there is only one. */
static void pick_cpus(int *initiator, int *remote) {
  cpu_set_t set;
  *initiator = 0;
  *remote = -1;
  if (sched_getaffinity(0, sizeof set, &set)) return;
  int found = 0;
  for (int c = 0; c < CPU_SETSIZE && found < 2; c++) {
    if (!CPU_ISSET(c, &set)) continue;
    if (found++ == 0) *initiator = c;
    else *remote = c;
  }
}

/* The remote CPU's line of /proc/interrupts "TLB:" (flush IPIs taken), or -1 if unreadable. */
static long long tlb_ipis_taken(int cpu) {
  FILE *f = fopen("/proc/interrupts", "r");
  if (!f) return -1;
  char line[8192];
  long long result = -1;
  while (fgets(line, sizeof line, f)) {
    char *s = line;
    while (*s == ' ') s++;
    if (strncmp(s, "TLB:", 4) != 0) continue;
    s += 4;
    for (int c = 0; c <= cpu; c++) {
      char *end;
      long long v = strtoll(s, &end, 10);
      if (end == s) break;
      if (c == cpu) result = v;
      s = end;
    }
  }
  fclose(f);
  return result;
}

struct remote {
  int cpu;
  const char *page;
  atomic_int running;   /* set by the remote thread once pinned and loading */
  atomic_int stop;      /* set by the initiator when the measurement is over */
  atomic_ulong beats;   /* the remote thread's loop count: it moves only while the thread runs */
  int pinned;
};

/* Keeps the mm loaded and non-lazy on its CPU, and the page's translation in its TLB. */
static void *remote_loop(void *arg) {
  struct remote *r = arg;
  r->pinned = pin_to(r->cpu) == 0;
  atomic_store_explicit(&r->running, 1, memory_order_release); /* pairs with the initiator's spin */
  for (unsigned long n = 1; !atomic_load_explicit(&r->stop, memory_order_relaxed); n++) {
    touch(r->page, 1);
    atomic_store_explicit(&r->beats, n, memory_order_relaxed);
  }
  return NULL;
}

/*
 * Waits until the remote thread is seen making progress, so that it is on its CPU with the mm
 * loaded and not lazy, and the next flush must send it an IPI. On a loaded host the thread
 * shares its CPU with others; without this wait, most flushes would find it descheduled and
 * send nothing. Gives up after 20 ms (returns 0) so that a starved thread cannot hang the probe.
 */
static int wait_remote_running(struct remote *r) {
  unsigned long seen = atomic_load_explicit(&r->beats, memory_order_relaxed);
  uint64_t deadline = now_ns() + 20000000u;
  while (atomic_load_explicit(&r->beats, memory_order_relaxed) == seen)
    if (now_ns() > deadline) return 0;
  return 1;
}

struct remote_result {
  double write_protect_ns;
  double confirmed;      /* fraction of flushes made while the remote thread was seen running */
  double ipis_per_flush; /* < 0: /proc/interrupts unreadable */
  int pinned;
};

/* Like write_protect_once on one page, iters times, each flush made while the remote thread runs the mm. */
static struct remote_result measure_remote(int cpu, char *page, int iters, uint64_t *buf) {
  struct remote r = {.cpu = cpu, .page = page};
  pthread_t t;
  if (pthread_create(&t, NULL, remote_loop, &r)) die("pthread_create");
  while (!atomic_load_explicit(&r.running, memory_order_acquire)) sched_yield();
  long long before = tlb_ipis_taken(cpu);
  int confirmed = 0;
  for (int i = 0; i < iters; i++) {
    touch(page, 1);
    confirmed += wait_remote_running(&r);
    uint64_t t0 = now_ns();
    set_prot(page, 1, PROT_READ);
    buf[i] = now_ns() - t0;
    confirmed += wait_remote_running(&r);
    set_prot(page, 1, PROT_READ | PROT_WRITE);
  }
  long long after = tlb_ipis_taken(cpu);
  atomic_store_explicit(&r.stop, 1, memory_order_relaxed);
  pthread_join(t, NULL);
  /* each iteration makes two flushes: the timed RW -> RO and the untimed restore */
  return (struct remote_result){
      .write_protect_ns = median(buf, iters),
      .confirmed = confirmed / (2.0 * iters),
      .ipis_per_flush = before < 0 || after < 0 ? -1 : (double)(after - before) / (2.0 * iters),
      .pinned = r.pinned,
  };
}

/* The sizes on one side of the ceiling, as [{"pages":k,"ns":median},...]. */
static void print_series(const char *name, const double *ns, int above_ceiling) {
  printf("\"%s\":[", name);
  const char *sep = "";
  for (size_t i = 0; i < NPAGES; i++) {
    if ((PAGES[i] > CEILING) != above_ceiling) continue;
    printf("%s{\"pages\":%d,\"ns\":%.1f}", sep, PAGES[i], ns[i]);
    sep = ",";
  }
  printf("],");
}

int main(int argc, char **argv) {
  int iters = argc > 1 ? atoi(argv[1]) : 2000;
  if (iters < 5) iters = 5;
  uint64_t *samples = malloc(sizeof(uint64_t) * (NPAGES + 2) * (size_t)iters);
  if (!samples) die("malloc");

  int initiator, remote;
  pick_cpus(&initiator, &remote);
  int pinned = pin_to(initiator) == 0;

  char *maps[NPAGES];
  for (size_t m = 0; m < NPAGES; m++) maps[m] = map_region(PAGES[m]);
  char *ws = make_working_set();

  /* (a) and (c): no other thread of this mm exists yet, so every flush is local */
  double wp[NPAGES], refill[2];
  time_local(maps, ws, iters, samples, wp, refill);
  /* (b) one remote CPU running the mm: every flush now includes a flush IPI to it */
  struct remote_result rr = {0};
  if (remote >= 0) rr = measure_remote(remote, maps[0], iters, samples);

  printf("{\"probe\":\"shootdown\",\"version\":1,\"iterations\":%d,", iters);
  printf("\"online_cpus\":%ld,\"initiator_cpu\":%d,\"initiator_pinned\":%s,", sysconf(_SC_NPROCESSORS_ONLN), initiator,
         pinned ? "true" : "false");
  if (remote >= 0) printf("\"remote_cpu\":%d,\"remote_pinned\":%s,", remote, rr.pinned ? "true" : "false");
  else printf("\"remote_cpu\":null,\"remote_pinned\":null,");
  printf("\"local_write_protect_ns\":%.1f,", wp[0]);
  if (remote >= 0) printf("\"remote_write_protect_ns\":%.1f,\"remote_confirmed\":%.3f,", rr.write_protect_ns, rr.confirmed);
  else printf("\"remote_write_protect_ns\":null,\"remote_confirmed\":null,");
  if (remote >= 0 && rr.ipis_per_flush >= 0) printf("\"remote_ipis_per_flush\":%.3f,", rr.ipis_per_flush);
  else printf("\"remote_ipis_per_flush\":null,");
  print_series("ranged", wp, 0);
  print_series("full", wp, 1);
  printf("\"working_set_pages\":%d,\"refill_after_ranged_ns\":%.1f,\"refill_after_full_ns\":%.1f}\n", WORKING_SET_PAGES,
         refill[0], refill[1]);
  return 0;
}
