/*
 * asid-rollover-active: can a rollover of the arm64 ASID generation leave two live mms with one
 * ASID, so that a CPU switching from one to the other translates through the first one's TLB
 * entries?
 *
 * Mainline a8ffaaa060b8 ("arm64: asid: Do not replace active_asids if already 0"), found by the
 * TLA+ model of the allocator (cmarinas/kernel-tla asidalloc.tla). check_and_switch_context's fast
 * path used to be `if (generation matches && atomic64_xchg_relaxed(&active_asids[cpu], asid))`:
 * when a rollover on another CPU has just zeroed active_asids[cpu] (flush_context), the xchg reads
 * the 0 and sends the CPU to the slow path, but leaves the mm's ASID of the old generation in
 * active_asids. If a second rollover comes before the CPU takes cpu_asid_lock, flush_context
 * reserves that stale ASID for the CPU, and also the same ASID number that the generation between
 * gave another mm running elsewhere: check_update_reserved_asid lets both mms keep it in the new
 * generation, and nothing flushes between them.
 *
 *   CPU 0 (switch to T1, ASID 1 of G1)      CPU 1
 *   generation matches
 *                                           rollover to G2: active_asids[0] := 0
 *                                           T2 gets ASID 1 of G2, runs
 *   xchg(active_asids[0], T1's 1|G1) -> 0
 *   slow path, before the lock
 *                                           rollover to G3: reserves 1|G1 (CPU 0) and 1|G2 (CPU 1)
 *   lock: T1 keeps ASID 1 in G3             T2 keeps ASID 1 in G3
 *   runs T1, fills its TLB under ASID 1; later switches to T2 (fast path) and hits T1's entry
 *
 * The fix reads active_asids first and cmpxchg's it: a 0 there fails the fast path and stores
 * nothing, so the second rollover reserves only what CPUs really run.
 *
 * The programs: `mms` mms with one identical anonymous mapping of `pages` pages at BASE, mapped
 * by CPU 0; every CPU then switches (switch_mm) to a random one of them and writes and reads its
 * pages, `rounds` times. With 3-bit ASIDs (7 for user mms) the generation rolls over every few
 * switches, and every mm touches the same addresses, so a CPU that runs an mm under another mm's
 * ASID hits the other's entry on its first access.
 *
 * Forbidden outcome: foreign-translation (a user access completes through a TLB entry that
 * another mm's walk filled: check/oracle.ts).
 *   buggy (arm64AsidFastPath=xchg)   sometimes
 *   fixed (mainline)                 never
 *
 * The windows are marked in arch/arm64/context.ts: the fast path between its generation check
 * and its exchange (asid:fast-path-checked), the slow path before cpu_asid_lock (asid:slow-path).
 * The race needs both stretched at once. Measured on 2 host cores, buggy preset: with noise high
 * (a quarter of the passes stretched), 3 CPUs, the first report came in trial 1 or 2 for each of
 * seeds 1-6; with the default noise, low, 3 CPUs, in 4 of 8 stress runs of 20 s (about once in
 * 900 trials), and with 2 or 4 CPUs in none of 3 runs of 20 s each; PCT (depth 3) found it in
 * none of 2 runs of 20 s. Two CPUs are enough for the interleaving; three find it most often, so
 * it prefers 3, and the main job runs it free with noise high.
 * test/scenarios/asid-rollover-active.test.ts forces the interleaving with handshakes
 * (test/fixtures/asid-workloads.ts rolloverRace) and runs these programs under both presets.
 */
import { defineScenario, keepGoing } from '../scenario.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { INIT_MM } from '../../kernel/mm-layout.ts';
import { PROT_READ, PROT_WRITE, sysMmap } from '../../kernel/mmap.ts';
import { SCENARIO_BASE } from './lib.ts';

export interface AsidRolloverActiveOptions {
  /** mms the CPUs switch among (more than the ASIDs, so that generations roll over) */
  mms?: number;
  /** pages of each mm's mapping, touched after every switch */
  pages?: number;
  /** switches each CPU makes in one trial */
  rounds?: number;
}

interface Params {
  mms: number[];
  pages: number;
  rounds: number;
}

export const BASE = SCENARIO_BASE;
const MAP_CPU = 0;

/** What a CPU stores in page `page` of `mm` after switching to it. */
export const marker = (mm: number, page: number): number => (mm << 8) | (page + 1);

export default defineScenario<Params, AsidRolloverActiveOptions>({
  name: 'asid-rollover-active',
  question: 'Can an ASID rollover during the switch fast path leave two live mms with one ASID, so that one translates through the other\'s TLB entries?',
  source: 'mainline a8ffaaa060b8 "arm64: asid: Do not replace active_asids if already 0" (the fast path of 5aec715d7d3b "arm64: mm: rewrite ASID allocator and MM context-switching code")',
  forbidden: 'foreign-translation',
  arches: ['arm64'],
  // 8 ASIDs: a rollover every few switches
  hardware: { asidBits: 3 },
  cpus: 2,
  preferredCpus: 3,
  presets: { buggy: ['arm64AsidFastPath=xchg'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  // two windows stretched at once: noise low seldom does it
  noise: 'high',
  trialOptions: { mms: 12, pages: 2, rounds: 6000 },

  setup(v, { mms = 12, pages = 2, rounds = 6000 } = {}) {
    return { mms: Array.from({ length: mms }, () => mmAlloc(v, CONTROL_CPU)), pages, rounds };
  },

  run(cpu, p) {
    if (cpu.id === MAP_CPU) {
      for (const mm of p.mms) sysMmap(cpu, mm, { addr: BASE, length: p.pages * PAGE_SIZE, prot: PROT_READ | PROT_WRITE });
    }
    smpBarrier(cpu);
    for (let round = 0; keepGoing(cpu, round, p.rounds); round++) {
      const mm = p.mms[cpu.random() % p.mms.length];
      switchMm(cpu, mm);
      for (let page = 0; page < p.pages; page++) {
        const va = BASE + page * PAGE_SIZE;
        cpu.store(va, marker(mm, page));
        cpu.load(va);
      }
    }
    switchMm(cpu, INIT_MM);
    return null;
  },
});
