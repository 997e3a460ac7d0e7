/*
 * The public API: `import { defineScenario, ... } from 'shootdown'`. What a scenario file needs,
 * and nothing it should not lean on. When the command loads a scenario file (stress, compare), the
 * specifier 'shootdown' resolves to this module of the running package (bin/hooks.mjs), so the
 * file can sit in any folder, with no package.json and no node_modules; `stress --typecheck`
 * checks it against these types (campaign/typecheck.ts).
 *
 * What a CPU program may call, by layer:
 *   the scenario         defineScenario, defineMeasurement, keepGoing, forbiddenReported; the
 *                        Cpu it runs on (cpu.load, cpu.store, cpu.random, cpu.idleUntil,
 *                        cpu.shouldStop, cpu.interruptPoint, cpu.localIrqDisable/Enable, cpu.count)
 *   system calls         sysMmap (MAP_PRIVATE files with `private`), sysMunmap, sysMadvise,
 *                        sysMprotect, sysMremap, sysFork (the child's mm; copy-on-write),
 *                        exitMmap (an mm no CPU runs any more), sysFtruncate, with the kernel's
 *                        constants; cpu.lastSignal after a failed access (SIGSEGV, or SIGBUS for
 *                        a file page past the end of the file)
 *   kernel paths         reclaimPages (shrink_folio_list), writebackFile, collapseHugePage
 *                        (khugepaged), numaScan / changeProtNuma / migratePage (NUMA balancing),
 *                        getUserPagesFast / unpinUserPages (GUP-fast), directIoRead (an O_DIRECT
 *                        read: pin, the device's DMA, completion), flushTlbMmRange
 *   devices              smmuHttuWrite (arm64: a DMA write by a device behind an SMMU with
 *                        hardware A/D update that shares the process's page table, SVA)
 *   mm and files         mmAlloc (setup, on CONTROL_CPU), createFile, switchMm, enterLazyTlb (the
 *                        run's arch, arch/mmu-context.ts), mmGlobalAsid (x86: the mm's global
 *                        ASID under INVLPGB, else 0), MAX_VMAS
 *                        (the VMAs an mm holds)
 *   run control          smpBarrier (every CPU of the machine arrives), stopAll, kickAll
 *   the data check       dataShadow, dataStore, dataStoreBurst, dataDeviceStore (a device's DMA),
 *                        dataForget, checkAnonData, checkFileData (check/data.ts: no store may
 *                        be lost)
 *   catalog helpers      SCENARIO_BASE, a 64 KiB block's pages (contPageAddress), driverGoesOn, followerGoesOn, the bursts, flag words,
 *                        the collapse races' rounds (collapseRounds, gupFastRounds), a global
 *                        ASID for the mm under INVLPGB (toggleForGlobalAsid)
 *
 * The kernel's switches are never read here: a scenario names them in its presets only.
 */

// the scenario definition
export {
  ANY_VIOLATION,
  defineMeasurement,
  defineScenario,
  forbiddenReported,
  keepGoing,
  type Expected,
  type MeasurementSpec,
  type Scenario,
  type ScenarioSpec,
  type ScenarioSwitchSpec,
} from './scenario/scenario.ts';
// ordering on the kernel's named points (cpu.waitPoint, cpu.pointCount take these names)
export { KERNEL_POINTS, KERNEL_POINT_NAMES } from './kernel/points.ts';
export type { Workload } from './scenario/workload.ts';
export type { Cpu } from './cpu/cpu.ts';
export { FAULTED, SIGBUS, SIGSEGV } from './cpu/cpu.ts';
export type { MachineViews } from './machine/memory.ts';
export { CONTROL_CPU } from './machine/frames.ts';
export { PAGE_SHIFT, PAGE_SIZE, PTRS_PER_TABLE, WORDS_PER_FRAME } from './machine/phys-layout.ts';
export { PMD_SIZE } from './machine/pagetable.ts';
export { Counter } from './trace/counters.ts';
export { VIOLATION_KIND_NAMES } from './check/oracle.ts';

// system calls and kernel paths
export { MMAP_BASE, PROT_EXEC, PROT_READ, PROT_WRITE, exitMmap, sysMmap, sysMunmap, type MmapRequest } from './kernel/mmap.ts';
export { sysFork } from './kernel/fork.ts';
export { MADV_DONTNEED, MADV_FREE, sysMadvise } from './kernel/madvise.ts';
export { sysMprotect } from './kernel/mprotect.ts';
export { sysFtruncate } from './kernel/truncate.ts';
export { MREMAP_FIXED, MREMAP_MAYMOVE, sysMremap } from './kernel/mremap.ts';
export { reclaimPages, type ReclaimStat, type ReclaimTarget } from './kernel/reclaim.ts';
export { writebackFile, writebackFilePage } from './kernel/writeback.ts';
export { collapseHugePage, type ScanResult } from './kernel/khugepaged.ts';
export { changeProtNuma, migratePage, numaScan, type NumaScanOptions } from './kernel/numa.ts';
export { getUserPagesFast, unpinUserPages, type GupFastResult } from './kernel/gup.ts';
export { directIoRead } from './kernel/direct-io.ts';
export { flushTlbMmRange } from './arch/tlbflush.ts';
export { enterLazyTlb, switchMm } from './arch/mmu-context.ts';

// mm, files and run control
export { mmAlloc, mmPgd } from './kernel/mm.ts';
export { mmGlobalAsid } from './arch/x86/broadcast.ts';
export { INIT_MM } from './kernel/mm-layout.ts';
export { MAX_VMAS } from './kernel/vma-layout.ts';
export { createFile } from './kernel/filemap.ts';
export { mapAnonPages } from './scenario/populate.ts';
export { kickAll, smpBarrier, stopAll } from './cpu/smp.ts';
export { pteAtNoSideEffects } from './machine/pagetable.ts';
export { smmuHttuWrite } from './machine/smmu.ts';
export { ptePfn, ptePresent } from './machine/pte.ts';

// the data check
export { checkAnonData, checkFileData, dataDeviceStore, dataForget, dataShadow, dataStore, dataStoreBurst, type DataShadow } from './check/data.ts';

// what the catalog's scenarios share
export {
  CONT_PAGES,
  CONT_SPAN,
  PMD_SPAN,
  SCENARIO_BASE,
  contPageAddress,
  bumpFlag,
  dither,
  driverGoesOn,
  collapseRounds,
  flagParams,
  followerGoesOn,
  gupFastRounds,
  loadBurst,
  mapAndTouch,
  mappedFrames,
  randomWord,
  roundStarted,
  setFlag,
  storeBurst,
  toggleForGlobalAsid,
  waitFor,
  type FlagParams,
  type RoundsOptions,
} from './scenario/catalog/lib.ts';
