/*
 * The simulated CPU: one per worker thread. It runs a program of user loads and stores and of
 * kernel work (system calls, kernel threads) on its own thread, against the shared machine.
 *
 * Interrupts: the CPU has an IRQ-enabled flag and takes IPIs only at interrupt points: every
 * INTERRUPT_INTERVAL user operations, at localIrqEnable / localIrqRestore (and so at
 * spin_unlock_irq in kernel code), at an explicit interruptPoint(), and while it waits for IPI
 * acknowledgements or sleeps idle. Never while IRQs are off, and never inside a page walk.
 *
 * The hot path, a load or store that hits the TLB, is a set lookup with plain reads, the oracles'
 * two compares (the frame's generation, the mm's promise count: one plain read each), a read or
 * write of physical memory and a counter increment: no allocation, no Atomics. It reads all of
 * them through one typed array over the whole machine (machine/memory.ts `words`): V8 then keeps
 * one array's bounds and base in registers instead of four. Entry indices it hands to the slow
 * paths are back in v.tlb's numbering. Stores to page-cache pages also take the lost-write check
 * (check/oracle.ts).
 *
 * A miss probes the 2 MiB TLB before it walks (machine/walker.ts: lookupHugeTlb), and on arm64
 * the contiguous TLB next (machine/walker-arm64.ts: lookupContTlb). The walker is the run's
 * architecture's (walker.ts or walker-arm64.ts, with or without FEAT_HAFDBS), chosen in configure
 * and called through fields on the miss path only; a TLB hit never looks at the architecture.
 *
 * The host: in a KVM guest that flushes paravirtually (arch/x86/kvm.ts installs a HostVcpu), the
 * hypervisor may deschedule the CPU at a race window or an interrupt point, IRQs off included:
 * in a free run half of the race windows' noise naps (1 to 8 ms, where a noise nap is 0.02 to
 * 0.37 ms), and one interrupt point in 2^(noise + 8); in a controlled run one race window in 8
 * and one interrupt point in 1024, drawn from the CPU's own stream, the vCPU then blocking in the
 * baton for a drawn number of steps. Nothing of it runs on bare metal, and none of it on the hot
 * path.
 *
 * Faults: a walk that fails drops the TLB entry for the address (as x86 does on a page fault) and
 * calls the page-fault handler, the kernel's handle_mm_fault; when it resolves the fault the access
 * is retried, otherwise the access fails (load returns FAULTED, store returns false) and
 * cpu.lastSignal says which signal the kernel would deliver: SIGSEGV (no VMA, no permission, the
 * default), or SIGBUS when the kernel said so with forceSig (do_sigbus: a file page past i_size).
 * It stays until the next fault that fails; a fault the kernel resolves sets it to 0. The retries
 * of one access are watched for a livelock (the fault-loop oracle, check/oracle.ts): a handler
 * that keeps reporting the fault resolved while the PTE it faults on stays the same; after the
 * report the access fails as an unresolved fault does (SIGSEGV).
 *
 * What a scenario's program may use besides loads, stores and system calls (the public API):
 *   expect(condition, message)     the program's own check: a false condition files a report of
 *                                  kind 'assertion' with the message (check/oracle.ts)
 *   mark(label, a0, a1, a2)        an event of the program's in the trace, named mark:<label>
 *   scenarioSwitch(name)           the value of one of the scenario's own switches this run
 *                                  (ScenarioSpec.switches); the kernel's switches stay the
 *                                  kernel's (cpu.config is for kernel and arch code only)
 *   pointCount / waitPoint         how often a named kernel point was passed (kernel/points.ts),
 *                                  and a wait for it that keeps taking IPIs
 *   idleUntil(done)                a wait for the program's own condition that keeps taking IPIs
 * Every wait here sleeps in the idle loop, IRQs on: no program can stall another CPU's flush.
 * Test fixtures that force an interleaving also have holdInWindow(name, flags, i): the CPU stays
 * in its next pass of a race window until a flag is set, and a flush that waits for it waits, as
 * it would for a window that long.
 */
import { Arch, DEFAULT_HARDWARE, type Hardware } from '../arch/arch.ts';
import { archOpsFor, type ArchOps } from '../arch/ops.ts';
import { wordIndexOf, type MachineViews } from '../machine/memory.ts';
import { FRAME_META_WORDS, META_GEN, PAGE_SIZE, WORDS_PER_FRAME } from '../machine/phys-layout.ts';
import { TLBE_EPOCH, TLBE_FILL_SEQ, TLBE_FLAGS, TLBE_GEN, TLBE_PFN, TLBF_DIRTY, TLBF_FILE, TLBF_WRITE } from '../machine/tlb-layout.ts';
import { FAULT_LOOP_ROUNDS, ViolationKind, checkFileStore, reportViolation } from '../check/oracle.ts';
import { checkPromises, foreignEpochMm } from '../check/promises.ts';
import { tlbBase, tlbInvalidateOnFault, tlbLookup, tlbLookupStore } from '../machine/tlb.ts';
import { fillHugePiece, lookupHugeTlb, walkForRead, walkForWrite, walkSpeculative } from '../machine/walker.ts';
import { ARM64_WALKER_HAFDBS, ARM64_WALKER_NO_HAFDBS, fillContPiece, lookupContTlb } from '../machine/walker-arm64.ts';
import { bindPteCpu, pteOffset, ptepGetNoSideEffects } from '../machine/pagetable.ts';
import { bindPteArch } from '../machine/pte.ts';
import { G_ABORT, G_ABORT_CPU, G_POINT_WAITERS, G_STOP } from '../machine/globals-layout.ts';
import {
  Activity, IPI_PENDING, IPI_SLEEPING, IPI_WAKE, PERCPU_WORDS, POINTS_BASE, ST_ACTIVITY, ST_BEAT, ST_IPI_FN, ST_IRQ_OFF_SINCE, ST_IRQS_ON, ST_OPS, ST_WAIT, ST_WAIT_ARG, Wait,
} from './percpu-layout.ts';
import { kernelPoint, type KernelPoint } from '../kernel/points.ts';
import { internText } from '../check/user-text.ts';
import { IpiFabric, kickCpu, type IpiCpu } from '../ipi/fabric.ts';
import type { IpiMessage } from '../ipi/protocol.ts';
import { COUNTER_STRIDE, Counter } from '../trace/counters.ts';
import { Ev, traceEvent } from '../trace/events.ts';
import { RunAbortedError } from '../errors.ts';
import { defaultKernelConfig, type KernelConfig } from '../config/kernel-config.ts';
import { currentBaton, schedPoint } from '../schedule/baton.ts';
import { xorshift32 } from './xorshift.ts';
import { H_STEP, Point } from '../schedule/layout.ts';

/** What a failed load returns. */
export const FAULTED = NaN;
/** The signals of a failed access (cpu.lastSignal): x86's numbers. */
export const SIGBUS = 7;
export const SIGSEGV = 11;
export const INTERRUPT_INTERVAL = 16;

/** The kernel's page-fault entry: returns true when the fault was resolved and the access may retry. */
export type PageFaultHandler = (cpu: Cpu, va: number, write: boolean, code: number) => boolean;
/** A page walk of walker.ts's or walker-arm64.ts's: the TLB entry's word index, or a fault code. */
type Walk = (v: MachineViews, cpu: number, cr3: number, pcid: number, vpn: number, victim: number, epoch?: number) => number;
/** Runs an IPI's function on `cpu` (ipi/dispatch.ts). */
export type IpiDispatcher = (cpu: Cpu, from: number, msg: IpiMessage) => void;

/**
 * The hypervisor under a vCPU (arch/x86/kvm.ts): what it does when it deschedules the vCPU's
 * thread (put) and before it runs guest code on it again (load). Both run on the vCPU's thread.
 */
export interface HostVcpu {
  put(cpu: Cpu): void;
  load(cpu: Cpu): void;
}

export interface CpuOptions {
  csdLockTimeoutMs: number;
  /** race windows are stretched at about one in 2^noiseShift visits; -1 for none (campaign/noise.ts) */
  noiseShift: number;
  /** a speculative walk at about one interrupt point in 2^speculationShift; -1 for none */
  speculationShift: number;
  seed: number;
  config: KernelConfig;
  /** the scenario's own switches this run (scenario/scenario.ts), read by its programs */
  scenarioSwitches?: Readonly<Record<string, string>>;
  /** a controlled run (schedule/baton.ts): every interrupt point is a scheduling point, no noise */
  controlled?: boolean;
  /** the architecture this run's machine implements, and its CPU features (arch/arch.ts); x86 when absent */
  arch?: Arch;
  hardware?: Readonly<Hardware>;
}

const RECENT = 8;

export class Cpu implements IpiCpu {
  readonly base: number;
  readonly tlbBase: number;
  readonly counterBase: number;
  readonly fabric: IpiFabric;
  readonly counters: Float64Array;

  irqsOn = true;
  /** the loaded page-table root (CR3's PFN) and PCID; written by switchMmIrqsOff */
  cr3 = 0;
  pcid = 0;
  /** the loaded mm, and the index in v.mm of its promise count (check/promises.ts) */
  mm = 0;
  promiseIdx = 0;
  ops = 0;
  csdLockTimeoutMs = 5000;
  pageFaultHandler: PageFaultHandler | null = null;
  /** the signal of the last fault: SIGSEGV or SIGBUS if it failed, 0 if the kernel resolved it */
  lastSignal = 0;
  /** the kernel variant this run executes (config/kernel-config.ts) */
  config: KernelConfig = defaultKernelConfig();
  /** the architecture this run implements and its CPU features: read by arch and kernel code only */
  arch: Arch = Arch.X86;
  hw: Readonly<Hardware> = DEFAULT_HARDWARE;
  /** the arch code of `arch` (arch/ops.ts), reached by the kernel through arch/tlbflush.ts, pgtable.ts, mmu-context.ts */
  archOps: ArchOps = archOpsFor(Arch.X86);
  /** the walker of this run's architecture (configure), for the miss path */
  private walkRead: Walk = walkForRead;
  private walkWrite: Walk = walkForWrite;
  private walkSpec: Walk = walkSpeculative;
  /** whether a miss probes the contiguous TLB (arm64) */
  private contTlb = false;
  /**
   * The fault-loop oracle's state for the access being translated: -1 before its first fault is
   * resolved, then the rounds in a row whose handler left the PTE at loopPtep as loopPte, the
   * retry faulting on it again with loopCode.
   */
  private loopRounds = -1;
  private loopPtep = -1;
  private loopPte = 0;
  private loopCode = 0;

  private readonly t: Int32Array;
  /** the hot path's one view of memory (machine/memory.ts words), and where its regions start */
  private readonly w: Int32Array;
  private readonly tlbAt: number;
  private readonly tlbWords: number;
  private readonly genAt: number;
  private readonly mmAt: number;
  private readonly physAt: number;
  private readonly percpu: Int32Array;
  private readonly frameMeta: Int32Array;
  private readonly mmWords: Int32Array;
  private rng = 1;
  private speculationMask = -1;
  private noiseMask = -1;
  /** whether an interrupt point always takes the slow half: speculation on, a controlled run, or a host that preempts */
  private slowInterrupts = false;
  private controlled = false;
  /** the host preempting this vCPU (setHostVcpu), or null on bare metal and in a guest it never preempts */
  private hostVcpu: HostVcpu | null = null;
  /** a host preemption at about one interrupt point in 2^(noiseShift + 8) of a free run */
  private hostMask = -1;
  /** VPNs of recent misses: where a speculative walk may wander */
  private readonly recent = new Int32Array(RECENT);
  private recentHead = 0;
  private scenarioSwitches: Readonly<Record<string, string>> = {};
  /** holdInWindow's requests, in order: the race window to stay in, and the flag word that ends the stay */
  private holds: { point: KernelPoint; flags: Int32Array; index: number }[] = [];
  /** the strings this CPU put in the run's table (check/user-text.ts), by text: each once a run */
  private readonly texts = new Map<string, number>();

  constructor(
    readonly v: MachineViews,
    readonly id: number,
    tx: (import('node:worker_threads').MessagePort | null)[],
    rx: (import('node:worker_threads').MessagePort | null)[],
    private readonly dispatch: IpiDispatcher,
  ) {
    this.base = id * PERCPU_WORDS;
    this.tlbBase = tlbBase(id);
    this.counterBase = id * COUNTER_STRIDE;
    this.t = v.tlb;
    this.w = v.words;
    this.tlbAt = wordIndexOf(v.tlb);
    this.tlbWords = this.tlbAt + this.tlbBase;
    this.genAt = wordIndexOf(v.frameMeta) + META_GEN;
    this.mmAt = wordIndexOf(v.mm);
    this.physAt = wordIndexOf(v.phys);
    this.percpu = v.percpu;
    this.frameMeta = v.frameMeta;
    this.mmWords = v.mm;
    this.counters = v.counters;
    this.fabric = new IpiFabric(v, id, tx, rx);
    // the PTE primitives report what they see on the CPU this thread runs (check/lost-bits.ts)
    bindPteCpu(id);
  }

  /** Prepares for a run: options, a fresh random stream, IRQs on, user mode. */
  configure(opts: CpuOptions): void {
    this.csdLockTimeoutMs = opts.csdLockTimeoutMs;
    this.config = opts.config;
    this.arch = opts.arch ?? Arch.X86;
    this.hw = opts.hardware ?? DEFAULT_HARDWARE;
    this.archOps = archOpsFor(this.arch);
    const arm64 = this.arch === Arch.Arm64 ? (this.hw.hafdbs ? ARM64_WALKER_HAFDBS : ARM64_WALKER_NO_HAFDBS) : null;
    this.walkRead = arm64?.walkForRead ?? walkForRead;
    this.walkWrite = arm64?.walkForWrite ?? walkForWrite;
    this.walkSpec = arm64?.walkSpeculative ?? walkSpeculative;
    this.contTlb = arm64 !== null;
    this.scenarioSwitches = opts.scenarioSwitches ?? {};
    this.holds = [];
    this.texts.clear();
    this.speculationMask = opts.speculationShift < 0 ? -1 : (1 << opts.speculationShift) - 1;
    // a controlled run's scheduler is its noise: race windows are scheduling points instead
    this.noiseMask = opts.noiseShift < 0 || opts.controlled ? -1 : (1 << opts.noiseShift) - 1;
    this.controlled = opts.controlled === true;
    this.hostMask = opts.noiseShift < 0 || this.controlled ? -1 : (1 << (opts.noiseShift + 8)) - 1;
    this.hostVcpu = null;
    this.slowInterrupts = this.speculationMask >= 0 || this.controlled;
    this.rng = (opts.seed ^ Math.imul(this.id + 1, 0x9e3779b1)) | 1;
    this.ops = 0;
    this.cr3 = 0;
    this.pcid = 0;
    this.mm = 0;
    this.promiseIdx = 0;
    // a fresh machine: forget this thread's last look at a PTE (check/lost-bits.ts)
    bindPteCpu(this.id);
    // this run's page-table codec (machine/pte.ts), before any kernel code reads an entry
    bindPteArch(this.arch);
    this.recent.fill(0);
    this.recentHead = 0;
    this.pageFaultHandler = null;
    this.lastSignal = 0;
    this.irqsOn = true;
    this.percpu[this.base + ST_IRQS_ON] = 1;
    this.setActivity(Activity.User);
  }

  /** xorshift32: the CPU's own seeded random stream. */
  random(): number {
    const x = xorshift32(this.rng);
    this.rng = x;
    return x >>> 0;
  }

  setActivity(a: Activity): void {
    this.percpu[this.base + ST_ACTIVITY] = a;
  }

  count(c: Counter, n = 1): void {
    this.counters[this.counterBase + c] += n;
  }

  // ---- user accesses: the hot path ----

  /** A user load of the 32-bit word at `va`. Returns FAULTED when the fault was not resolved. */
  load(va: number): number {
    const vpn = (va / PAGE_SIZE) | 0;
    const w = this.w;
    let e = tlbLookup(w, this.tlbWords, vpn, this.pcid);
    if (e < 0) {
      e = this.translateSlow(va, vpn, false);
      if (e < 0) return FAULTED;
      e += this.tlbAt;
    }
    const pfn = w[e + TLBE_PFN];
    // the oracles: the frame freed since the fill, or a system call returned since the fill
    if (w[this.genAt + pfn * FRAME_META_WORDS] !== w[e + TLBE_GEN] || w[e + TLBE_EPOCH] !== w[this.mmAt + this.promiseIdx]) {
      this.checkHit(vpn, e - this.tlbAt, false);
    }
    const value = w[this.physAt + pfn * WORDS_PER_FRAME + ((va & (PAGE_SIZE - 1)) >>> 2)];
    if ((++this.ops & (INTERRUPT_INTERVAL - 1)) === 0) this.interruptPoint();
    return value;
  }

  /** A user store of a 32-bit word at `va`. Returns false when the fault was not resolved. */
  store(va: number, value: number): boolean {
    const vpn = (va / PAGE_SIZE) | 0;
    // the fast case: a writable entry whose cached D is set, for a page that is not a file page
    const w = this.w;
    let e = tlbLookupStore(w, this.tlbWords, vpn, this.pcid);
    if (e < 0) {
      e = this.storeSlow(va, vpn);
      if (e < 0) return false;
      e += this.tlbAt;
    }
    const pfn = w[e + TLBE_PFN];
    if (w[this.genAt + pfn * FRAME_META_WORDS] !== w[e + TLBE_GEN] || w[e + TLBE_EPOCH] !== w[this.mmAt + this.promiseIdx]) {
      this.checkHit(vpn, e - this.tlbAt, true);
    }
    w[this.physAt + pfn * WORDS_PER_FRAME + ((va & (PAGE_SIZE - 1)) >>> 2)] = value;
    if ((++this.ops & (INTERRUPT_INTERVAL - 1)) === 0) this.interruptPoint();
    return true;
  }

  /**
   * A store the fast case does not cover: a miss, or an entry without write permission or cached
   * D (the walker runs again and sets D, or faults), or a page-cache page (the lost-write oracle).
   * Kept out of store() so that store stays small enough for V8 to inline: an out-of-line store
   * boxes its address.
   */
  private storeSlow(va: number, vpn: number): number {
    let e = tlbLookup(this.t, this.tlbBase, vpn, this.pcid);
    if (e >= 0 && (this.t[e + TLBE_FLAGS] & (TLBF_WRITE | TLBF_DIRTY)) !== (TLBF_WRITE | TLBF_DIRTY)) {
      if ((this.t[e + TLBE_FLAGS] & TLBF_WRITE) !== 0) this.count(Counter.DirtyBitWalks);
      e = -1;
    }
    if (e < 0) e = this.translateSlow(va, vpn, true);
    if (e >= 0 && (this.t[e + TLBE_FLAGS] & TLBF_FILE) !== 0) checkFileStore(this.v, this.id, this.cr3, vpn, this.t[e + TLBE_PFN], this.t[e + TLBE_FILL_SEQ]);
    return e;
  }

  /**
   * The oracles' slow half, on a hit whose frame generation or promise epoch is not the current
   * one. Use after free: the translation was cached before its frame was freed; it is reported
   * once per entry (the entry is re-tagged) and the access completes, as on hardware. A foreign
   * translation: the entry's epoch carries another mm's tag, so another mm's walk filled it
   * (check/promises.ts foreignEpochMm); reported once per entry too. Promises: a system call
   * returned since the fill (check/promises.ts).
   */
  private checkHit(vpn: number, e: number, write: boolean): void {
    const pfn = this.t[e + TLBE_PFN];
    const frameGen = Atomics.load(this.frameMeta, pfn * FRAME_META_WORDS + META_GEN);
    if (frameGen !== this.t[e + TLBE_GEN]) {
      reportViolation(this.v, this.id, ViolationKind.UseAfterFree, vpn, pfn, this.t[e + TLBE_GEN], frameGen, write ? 1 : 0);
      this.t[e + TLBE_GEN] = frameGen;
    }
    const epoch = this.t[e + TLBE_EPOCH];
    const now = this.mmWords[this.promiseIdx];
    if (epoch === now) return;
    const filler = foreignEpochMm(epoch, now);
    if (filler >= 0) {
      // another mm's walk filled it: reported once, the entry then taken as this mm's
      reportViolation(this.v, this.id, ViolationKind.ForeignTranslation, vpn, pfn, filler, this.mm, this.pcid, write ? 1 : 0);
      this.t[e + TLBE_EPOCH] = now;
      return;
    }
    this.t[e + TLBE_EPOCH] = checkPromises(this.v, this.id, this.mm, vpn, pfn, write, epoch, this.t[e + TLBE_FILL_SEQ], this.t[e + TLBE_FLAGS]);
  }

  /**
   * The miss path: the 2 MiB TLB, the contiguous TLB (arm64), else a walk, and on a fault the
   * kernel until it resolves or gives up.
   */
  private translateSlow(va: number, vpn: number, write: boolean): number {
    this.recent[this.recentHead++ & (RECENT - 1)] = vpn;
    const h = lookupHugeTlb(this.v, this.id, this.pcid, vpn, write);
    if (h >= 0) return fillHugePiece(this.v, this.id, h, vpn, this.random());
    if (this.contTlb) {
      const c = lookupContTlb(this.v, this.id, this.pcid, vpn, write);
      if (c >= 0) return fillContPiece(this.v, this.id, c, vpn, this.random());
    }
    // the fault-loop oracle: this access's faults since its first retry (resetFaultLoop)
    this.loopRounds = -1;
    for (;;) {
      const victim = this.random();
      const e = write
        ? this.walkWrite(this.v, this.id, this.cr3, this.pcid, vpn, victim, this.mmWords[this.promiseIdx])
        : this.walkRead(this.v, this.id, this.cr3, this.pcid, vpn, victim, this.mmWords[this.promiseIdx]);
      if (e >= 0) return e;
      this.count(Counter.PageFaults);
      traceEvent(this.v, this.id, Ev.PageFault, vpn, e, write ? 1 : 0);
      // x86 invalidates the translation a page fault was about, cached tables included; arm64
      // does the same here, a simplification (its hardware caches no translation or access-flag
      // fault, and the kernel's flush_tlb_page after a permission fault removes what it cached)
      tlbInvalidateOnFault(this.t, this.id, vpn, this.pcid);
      if (this.loopRounds >= 0 && this.faultLoopBefore(va, vpn, write, e)) {
        // reported: the access fails, so that the program (and the run) can end
        this.lastSignal = SIGSEGV;
        this.interruptPoint();
        return -1;
      }
      const handler = this.pageFaultHandler;
      this.lastSignal = 0;
      const resolved = handler !== null && handler(this, va, write, e);
      if (!resolved && this.lastSignal === 0) this.lastSignal = SIGSEGV;
      if (resolved) this.faultLoopAfter(va);
      // the return from the exception: pending IPIs are taken there, also when the fault failed,
      // so a CPU whose accesses keep faulting still answers
      this.interruptPoint();
      if (!resolved) return -1;
    }
  }

  /**
   * The fault-loop oracle (check/oracle.ts), at a fault of a retried access, before the handler:
   * reads the PTE faulted on (a checker's look), ends the run of identical rounds when it is not
   * the one the last round left, and reports when FAULT_LOOP_ROUNDS rounds in a row left it.
   * Returns true when it reported.
   */
  private faultLoopBefore(va: number, vpn: number, write: boolean, code: number): boolean {
    const ptep = pteOffset(this.v, this.cr3, va);
    const pte = ptep < 0 ? 0 : ptepGetNoSideEffects(this.v, ptep);
    if (this.loopRounds > 0 && (ptep !== this.loopPtep || pte !== this.loopPte || code !== this.loopCode)) this.loopRounds = 0;
    if (this.loopRounds === 0) {
      this.loopPtep = ptep;
      this.loopPte = pte;
      this.loopCode = code;
    }
    if (this.loopRounds < FAULT_LOOP_ROUNDS || ptep < 0) return false;
    reportViolation(this.v, this.id, ViolationKind.FaultLoop, vpn, pte, ptep, code, write ? 1 : 0, this.loopRounds);
    return true;
  }

  /**
   * After a handler resolved a fault: the first one of an access only arms the oracle (its PTE
   * was not read); after a retry's, a round counts when the PTE is still the one faulted on.
   */
  private faultLoopAfter(va: number): void {
    if (this.loopRounds < 0) {
      this.loopRounds = 0;
      return;
    }
    const ptep = pteOffset(this.v, this.cr3, va);
    const same = ptep >= 0 && ptep === this.loopPtep && ptepGetNoSideEffects(this.v, ptep) === this.loopPte;
    this.loopRounds = same ? this.loopRounds + 1 : 0;
  }

  /**
   * force_sig for the fault being handled: the kernel's fault path names the signal a failed
   * fault delivers (SIGBUS from do_sigbus); without it a failed fault is SIGSEGV.
   */
  forceSig(signal: number): void {
    this.lastSignal = signal;
  }

  // ---- interrupts ----

  /**
   * Takes pending IPIs if IRQs are on; may also walk speculatively; stops a failed run. The common
   * case is one look at the doorbell, which abortRun also raises (cpu/smp.ts), so that the hot
   * path pays for one load every INTERRUPT_INTERVAL accesses.
   */
  interruptPoint(): void {
    this.percpu[this.base + ST_OPS] = this.ops & 0x7fffffff;
    // the run watchdog's sign of life (machine/machine.ts): an Int32 store wraps by itself
    this.percpu[this.base + ST_BEAT]++;
    if (Atomics.load(this.percpu, this.base + IPI_PENDING) !== 0 || this.slowInterrupts) this.interrupted();
  }

  private interrupted(): void {
    // in a controlled run another CPU may run here; a pending IPI is taken when this one goes on
    if (this.hostVcpu === null) schedPoint(Point.Interrupt);
    else this.hostMayPreempt(Point.Interrupt, 0, this.controlled ? 1023 : this.hostMask);
    this.checkAbort();
    // other CPUs' INVLPGBs: the hardware applies them whatever the IRQ state
    this.fabric.takeBroadcastInvalidations();
    if (this.irqsOn && !(this.fabric.hasPendingIpi() && currentBaton()?.deferInterrupt())) this.fabric.takeInterrupts(this);
    if (this.speculationMask >= 0 && this.cr3 !== 0 && (this.random() & this.speculationMask) === 0) this.speculate();
  }

  private speculate(): void {
    const vpn = this.recent[this.random() & (RECENT - 1)];
    if (vpn !== 0) this.speculateAt(vpn * PAGE_SIZE);
  }

  /** A speculative walk of `va` now, as the hardware may make at any moment (also when lazy). */
  speculateAt(va: number): void {
    if (this.cr3 !== 0) this.walkSpec(this.v, this.id, this.cr3, this.pcid, (va / PAGE_SIZE) | 0, this.random(), this.mmWords[this.promiseIdx]);
  }

  /**
   * A race window: kernel paths call this where another CPU's access could slip in (between a PTE
   * clear and its flush, between rmap removal and the flush, inside GUP-fast, ...), naming it
   * (kernel/points.ts): the window is a kernel point that programs can wait for. With noise on,
   * the seeded stream sometimes stretches the window: a short spin, or a nap that hands the host
   * core to another CPU thread, which on an oversubscribed host is where races open. In a
   * controlled run the window is a scheduling point and the scheduler decides who runs in it.
   */
  raceWindow(point: KernelPoint): void {
    this.passPoint(point);
    if (this.hostVcpu !== null && this.controlled) this.hostMayPreempt(Point.RaceWindow, point + 1, 7);
    else schedPoint(Point.RaceWindow, point + 1);
    if (this.holds.length > 0 && this.holds[0].point === point) this.stayInWindow(this.holds.shift()!);
    if (this.noiseMask < 0) return;
    const r = this.random();
    if ((r & this.noiseMask) !== 0) return;
    if ((r & 0x100000) !== 0) {
      // a guest's vCPU: half of the naps are the host's preemptions, longer ones
      if (this.hostVcpu !== null && (r & 0x80000) !== 0) this.preemptedByHost(r);
      else this.fabric.stall(((r >>> 21) & 7) * 0.05 + 0.02);
    } else {
      let spin = (r >>> 21) & 1023;
      while (spin-- > 0) this.random();
    }
  }

  /**
   * Forcing an interleaving (test fixtures): the next time this CPU enters race window `name`
   * (kernel/points.ts), it stays there until word `index` of `flags` is nonzero, as if the window
   * lasted that long: other CPUs' broadcast invalidations are applied meanwhile, as the hardware
   * does, and IPIs are taken only if IRQs are on there. Another CPU sees it there with waitPoint.
   * Several requests queue: the CPU stays in each in the order they were made, so that one kernel
   * path can be held at two windows in turn.
   */
  holdInWindow(name: string, flags: Int32Array, index: number): void {
    this.holds.push({ point: kernelPoint(name), flags, index });
  }

  private stayInWindow(hold: { flags: Int32Array; index: number }): void {
    this.fabric.idleUntil(this, () => Atomics.load(hold.flags, hold.index) !== 0 || this.shouldStop());
  }

  /**
   * Makes `host` the hypervisor under this vCPU for the run (arch/x86/kvm.ts kvmGuestInit), or
   * none. With a host, interrupt points take their slow half: the host may preempt there.
   */
  setHostVcpu(host: HostVcpu | null): void {
    this.hostVcpu = host;
    this.slowInterrupts = this.speculationMask >= 0 || this.controlled || (host !== null && this.hostMask >= 0);
  }

  /**
   * A point at which the host may preempt this vCPU, whatever its IRQ state: at one point in
   * mask + 1 (none when mask < 0), drawn from the CPU's own seeded stream. Free run: the vCPU
   * sleeps (preemptedByHost). Controlled run: the point is a scheduling point, and a preempted
   * vCPU blocks in the baton (hostOffInControlledRun).
   */
  private hostMayPreempt(point: Point, arg: number, mask: number): void {
    const preempt = mask >= 0 && (this.random() & mask) === 0;
    if (!this.controlled) {
      if (preempt) this.preemptedByHost(this.random());
      return;
    }
    schedPoint(point, arg);
    if (preempt) this.preemptedByHostWhile(() => this.hostOffInControlledRun());
  }

  /**
   * A controlled run's host preemption: the vCPU is no candidate of the baton (it blocks, as a
   * wait does, and again each time it is chosen) until the run has made 512 to 8192 more steps,
   * drawn from its own stream, or an IPI is posted to it (KVM runs a vCPU that an interrupt was
   * kicked to), or no other CPU could run meanwhile. Every step of it is the schedule's or the
   * seeded stream's: a replay makes the same preemption.
   */
  private hostOffInControlledRun(): void {
    const p = this.percpu;
    const s = this.v.sched;
    const baton = currentBaton();
    const until = Atomics.load(s, H_STEP) + ((this.random() & 15) + 1) * 512;
    // as a sleeper (ipi/fabric.ts sleepUnless): a kick from here on bumps IPI_WAKE
    Atomics.store(p, this.base + IPI_SLEEPING, 1);
    for (;;) {
      // read before the look at the doorbell: an IPI posted after it moves IPI_WAKE past `seen`
      const seen = Atomics.load(p, this.base + IPI_WAKE);
      const step = Atomics.load(s, H_STEP);
      if (this.fabric.hasPendingIpi() || step >= until || baton === null || !baton.block(seen)) break;
      // chosen again with no CPU having made progress meanwhile: the host has nothing else to run
      if (Atomics.load(s, H_STEP) - step <= this.v.nrCpus) break;
    }
    Atomics.store(p, this.base + IPI_SLEEPING, 0);
  }

  /** The host deschedules this vCPU's thread for 1 to 8 ms (`r` draws how long), then runs it again. */
  private preemptedByHost(r: number): void {
    this.preemptedByHostWhile(() => this.fabric.stall(((r >>> 21) & 7) + 1));
  }

  /**
   * The host deschedules this vCPU while `off` runs on its thread (which must run no guest code:
   * take no IPI, touch no guest memory), whatever its IRQ state, then runs it again. Without a
   * host (bare metal, or a guest that does not flush paravirtually), just `off`. Tests force a
   * preemption with it; runs get theirs from hostMayPreempt and the race windows.
   */
  preemptedByHostWhile(off: () => void): void {
    const host = this.hostVcpu;
    host?.put(this);
    off();
    host?.load(this);
  }

  /**
   * Counts one pass of a named kernel point on this CPU (kernel/points.ts), and wakes the CPUs
   * sleeping in waitPoint if there are any. Allocation-free; one more load when nobody waits.
   */
  passPoint(point: KernelPoint): void {
    // pairs with the load in waitPoint's condition: a waiter that sees the old count is asleep
    // or about to look again, and G_POINT_WAITERS was raised before it looked (waitPoint)
    Atomics.add(this.percpu, this.base + POINTS_BASE + point, 1);
    if (Atomics.load(this.v.globals, G_POINT_WAITERS) !== 0) for (let c = 0; c < this.v.nrCpus; c++) kickCpu(this.percpu, c);
  }

  /**
   * How often kernel point `name` (kernel/points.ts, e.g. 'zap:pte-cleared') was passed in this run,
   * by CPU `onCpu`, or by every CPU together when it is not given.
   */
  pointCount(name: string, onCpu?: number): number {
    return this.pointCountOf(kernelPoint(name), onCpu);
  }

  private pointCountOf(point: KernelPoint, onCpu: number | undefined): number {
    const p = this.percpu;
    if (onCpu !== undefined) return Atomics.load(p, onCpu * PERCPU_WORDS + POINTS_BASE + point);
    let n = 0;
    for (let c = 0; c < this.v.nrCpus; c++) n += Atomics.load(p, c * PERCPU_WORDS + POINTS_BASE + point);
    return n;
  }

  /**
   * Waits until kernel point `name` was passed `count` times in this run (default 1), by CPU
   * `cpu` or, when it is not given, by all CPUs together; `pointCount(name) + 1` waits for the next
   * pass. Sleeps in the idle loop with IRQs as they are (on in a program): the CPU it waits for can
   * flush through it. Returns true when the count was reached, false when the run is winding
   * down first (shouldStop), so that a program waiting on a point that never comes still ends.
   */
  waitPoint(name: string, opts: { cpu?: number; count?: number } = {}): boolean {
    const point = kernelPoint(name);
    const count = opts.count ?? 1;
    if (opts.cpu !== undefined && !(Number.isInteger(opts.cpu) && opts.cpu >= 0 && opts.cpu < this.v.nrCpus)) {
      throw new RangeError(`waitPoint: no CPU ${opts.cpu} in this run of ${this.v.nrCpus}`);
    }
    const reached = () => this.pointCountOf(point, opts.cpu) >= count;
    if (reached()) return true;
    // before the first look inside idleUntil: a pass after it kicks us (passPoint)
    Atomics.add(this.v.globals, G_POINT_WAITERS, 1);
    try {
      this.idleUntil(() => reached() || this.shouldStop(), Wait.KernelPoint, point);
    } finally {
      Atomics.sub(this.v.globals, G_POINT_WAITERS, 1);
    }
    return reached();
  }

  /**
   * The program's own check: when `condition` is false, files a report of kind 'assertion' with
   * `message` (check/oracle.ts), which ends the trial when the scenario forbids 'assertion'.
   * Returns `condition`.
   */
  expect(condition: boolean, message: string): boolean {
    if (!condition) reportViolation(this.v, this.id, ViolationKind.Assertion, 0, this.text(message), 0, 0, 0);
    return condition;
  }

  /** An event of the program's in this CPU's trace ring, named mark:<label>, with up to three numbers. */
  mark(label: string, a0 = 0, a1 = 0, a2 = 0): void {
    traceEvent(this.v, this.id, Ev.Mark, this.text(label), a0, a1, a2);
  }

  /** The value of the scenario's own switch `name` in this run (its default unless a preset or --set changed it). */
  scenarioSwitch(name: string): string {
    const value = this.scenarioSwitches[name];
    if (value === undefined) {
      throw new Error(`scenarioSwitch: the scenario declares no switch '${name}'; its switches: ${Object.keys(this.scenarioSwitches).join(', ') || '(none)'}`);
    }
    return value;
  }

  private text(s: string): number {
    let at = this.texts.get(s);
    if (at === undefined) {
      at = internText(this.v, s);
      this.texts.set(s, at);
    }
    return at;
  }

  checkAbort(): void {
    if (Atomics.load(this.v.globals, G_ABORT) !== 0) {
      throw new RunAbortedError(`CPU ${this.id}: run aborted by CPU ${Atomics.load(this.v.globals, G_ABORT_CPU)}`);
    }
  }

  /** Whether the workload asked every CPU to wind down (or the run is being torn down). */
  shouldStop(): boolean {
    return Atomics.load(this.v.globals, G_STOP) !== 0 || Atomics.load(this.v.globals, G_ABORT) !== 0;
  }

  localIrqDisable(): void {
    if (!this.irqsOn) return;
    this.irqsOn = false;
    this.percpu[this.base + ST_IRQ_OFF_SINCE] = this.ops & 0x7fffffff;
    Atomics.store(this.percpu, this.base + ST_IRQS_ON, 0);
    traceEvent(this.v, this.id, Ev.IrqOff);
  }

  /** local_irq_enable: an interrupt point. */
  localIrqEnable(): void {
    if (!this.irqsOn) {
      // traced before IRQs come on, as trace_hardirqs_on precedes raw_local_irq_enable: the
      // event shows IRQs off ('d' in ftrace's flags)
      traceEvent(this.v, this.id, Ev.IrqOn);
      this.irqsOn = true;
      Atomics.store(this.percpu, this.base + ST_IRQS_ON, 1);
    }
    this.interruptPoint();
  }

  /** local_irq_save: returns whether IRQs were on. */
  localIrqSave(): boolean {
    const flags = this.irqsOn;
    this.localIrqDisable();
    return flags;
  }

  /** local_irq_restore: an interrupt point when it turns IRQs back on. */
  localIrqRestore(flags: boolean): void {
    if (flags) this.localIrqEnable();
  }

  /** Runs a function another CPU sent, as the call-function IPI handler does, then acks it. */
  runIpi(from: number, msg: IpiMessage): void {
    const wasOn = this.irqsOn;
    this.irqsOn = false;
    const prevActivity = this.percpu[this.base + ST_ACTIVITY];
    this.percpu[this.base + ST_ACTIVITY] = Activity.Irq;
    this.percpu[this.base + ST_IPI_FN] = msg;
    traceEvent(this.v, this.id, Ev.IpiTake, from, msg);
    this.count(Counter.IpisReceived);
    this.dispatch(this, from, msg);
    this.percpu[this.base + ST_IPI_FN] = 0;
    this.percpu[this.base + ST_ACTIVITY] = prevActivity;
    this.irqsOn = wasOn;
    this.fabric.ack(from);
  }

  /** The sender's own share of an smp_call_function_many, with IRQs off. */
  runLocal(msg: IpiMessage): void {
    const flags = this.localIrqSave();
    this.dispatch(this, this.id, msg);
    this.localIrqRestore(flags);
  }

  /**
   * Sleeps until `done()` holds, taking IPIs meanwhile (the idle loop). `wait` and `arg` say what
   * for, in the status the run watchdog reports (cpu/status.ts).
   */
  idleUntil(done: () => boolean, wait: Wait = Wait.Condition, arg = 0): void {
    const p = this.percpu;
    const prev = p[this.base + ST_ACTIVITY];
    this.setActivity(Activity.Idle);
    p[this.base + ST_WAIT] = wait;
    p[this.base + ST_WAIT_ARG] = arg;
    try {
      this.fabric.idleUntil(this, done);
    } finally {
      p[this.base + ST_WAIT] = Wait.None;
    }
    this.setActivity(prev);
  }
}
