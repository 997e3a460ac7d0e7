/*
 * lost-dirty-early-rmap (DESIGN 4, seed 003)
 *
 * Question: can a store to a shared file mapping be lost when MADV_DONTNEED removes the rmap at
 * zap time and defers the TLB flush, while writeback cleans the page?
 *
 *   CPU 0 (zapper)            CPU 1 (writeback)          CPUs 2.. (writers)
 *   loop:                     loop:                      loop:
 *     madvise(file range,       writeback the whole        store to random words of
 *             MADV_DONTNEED)      file (write_cache_pages)   the file mapping
 *
 * The race, as it happens: CPU 0 clears a dirty PTE, marks the page dirty and (buggy) removes its
 * rmap, then flushes; before the flush reaches a writer, writeback's folio_mkclean finds the page
 * unmapped, clears PG_dirty and writes it out; the writer stores once more through its cached
 * dirty entry. That store lands on a clean page that no dirty PTE maps.
 *
 * Forbidden: lost-write (check/oracle.ts checkFileStore, on the writer's store).
 *
 * Presets and expected results:
 *   buggy  delayedRmap=off   sometimes
 *   fixed  (mainline)        never: the rmap goes after the flush, under the PTL, so writeback
 *                            either finds the mapping (and waits for the PTL) or a page no TLB
 *                            can still write
 *
 * Race windows stretched by noise: after each PTE clear (zap.ts) and before the gather's flush
 * (mmu-gather.ts tlbFlushMmuTlbonly).
 *
 * At the end of each trial every CPU stops, writeback syncs the file, and the data check
 * (check/data.ts) judges every word the writers stored: on the disk and in the page cache it must
 * be one of the values last stored to it. It is the ground truth behind the lost-write warning,
 * and rarely fires here (a later store to the same page usually redirties it and carries the lost
 * value to the disk after all); under `fixed` it must stay silent like every other oracle.
 *
 * The lost-write oracle reports a store only through an entry filled before the page's last
 * writeback (check/oracle.ts checkFileStore), so a store while a dirty bit is in flight (cleared
 * from a PTE, not yet carried to PG_dirty) is not reported: nothing is lost there.
 */
import type { Cpu } from '../../cpu/cpu.ts';
import type { MachineViews } from '../../machine/memory.ts';
import { CONTROL_CPU } from '../../machine/frames.ts';
import { PAGE_SIZE } from '../../machine/phys-layout.ts';
import { switchMm } from '../../arch/mmu-context.ts';
import { smpBarrier } from '../../cpu/smp.ts';
import { mmAlloc } from '../../kernel/mm.ts';
import { PROT_READ, PROT_WRITE, sysMmap } from '../../kernel/mmap.ts';
import { MADV_DONTNEED, sysMadvise } from '../../kernel/madvise.ts';
import { createFile } from '../../kernel/filemap.ts';
import { writebackFile } from '../../kernel/writeback.ts';
import { defineScenario } from '../scenario.ts';
import { SCENARIO_BASE, driverGoesOn, followerGoesOn, type RoundsOptions } from './lib.ts';
import { checkFileData, dataShadow, dataStoreBurst, type DataShadow } from '../../check/data.ts';

/** Pages of the file, all mapped: few, so that writers and the zapper meet often. */
const PAGES = 4;
const STORES_PER_BURST = 64;

interface Params {
  mm: number;
  file: number;
  rounds: number;
  data: DataShadow;
}

export default defineScenario<Params, RoundsOptions>({
  name: 'lost-dirty-early-rmap',
  question: 'Can a store through a stale dirty TLB entry land after writeback cleaned the page, when zap removed the rmap before its flush?',
  source: 'seed 003; mainline 5df397dec7c4 "mm: delay page_remove_rmap() until after the TLB has been flushed"',
  arches: ['x86', 'arm64'],
  forbidden: 'lost-write',
  cpus: 3,
  presets: { buggy: ['delayedRmap=off'], fixed: [] },
  expected: { buggy: 'sometimes', fixed: 'never' },
  trialOptions: { rounds: 200 },

  setup(v: MachineViews, { rounds }: RoundsOptions): Params {
    return { mm: mmAlloc(v, CONTROL_CPU), file: createFile(v, PAGES), rounds, data: dataShadow(PAGES, v.nrCpus) };
  },

  run(cpu: Cpu, p: Params): void {
    switchMm(cpu, p.mm);
    if (cpu.id === 0) sysMmap(cpu, p.mm, { addr: SCENARIO_BASE, length: PAGES * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, file: p.file });
    smpBarrier(cpu);
    if (cpu.id === 0) {
      for (let round = 0; driverGoesOn(cpu, round, p.rounds); round++) {
        sysMadvise(cpu, p.mm, SCENARIO_BASE, PAGES * PAGE_SIZE, MADV_DONTNEED);
        cpu.interruptPoint();
      }
    } else if (cpu.id === 1) {
      while (followerGoesOn(cpu)) {
        writebackFile(cpu, p.file);
        cpu.interruptPoint();
      }
    } else {
      for (let round = 0; followerGoesOn(cpu); round++) dataStoreBurst(cpu, p.data, SCENARIO_BASE, STORES_PER_BURST, round);
    }
    // every store has landed: sync the file and judge every word
    smpBarrier(cpu);
    if (cpu.id === 1) {
      writebackFile(cpu, p.file);
      checkFileData(cpu, p.data, SCENARIO_BASE, p.file, 0);
    }
  },
});
