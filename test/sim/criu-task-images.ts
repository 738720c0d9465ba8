/**
 * Per-thread core_entry values as CRIU 4.2 dumps an x86-64 task (compare crit's decodes of the
 * core-N.img files in test/fixtures/real-checkpoints): thread_info with the general registers,
 * the FXSAVE area with its xsave extension (AVX, AVX-512 and CET state) and three TLS slots;
 * task_core (leaders only) with timers, 16 rlimits, the 62 sigactions and an empty signal queue;
 * thread_core with the alternate stack, credentials (with ambient caps), rseq and the cgroup set.
 */
import type { Int, ProtoMessage } from './protobuf.js';

export const RLIM_INFINITY = (1n << 64n) - 1n;
const I = RLIM_INFINITY;
/** RLIMIT_CPU … RLIMIT_RTTIME as a pod container gets them (NOFILE and NPROC from the runtime). */
const RLIMITS: readonly [Int, Int][] = [
  [I, I],
  [I, I],
  [I, I],
  [8_388_608, I],
  [0, I],
  [I, I],
  [4096, 4096],
  [1_048_576, 1_048_576],
  [8_388_608, 8_388_608],
  [I, I],
  [I, I],
  [63_421, 63_421],
  [819_200, 819_200],
  [0, 0],
  [0, 0],
  [I, I],
];
/** Signals 1…64 but SIGKILL (9) and SIGSTOP (19), the ones sigaction can change. */
const SIGNALS = Array.from({ length: 64 }, (_, i) => i + 1).filter((s) => s !== 9 && s !== 19);
const SA_RESTORER = 0x04000000;
const zeros = (n: number) => new Array<number>(n).fill(0);

export interface ThreadState {
  tid: number;
  comm: string;
  uid: number;
  /** the leader's task_core: only a thread group leader has one */
  task?: { flags: number; blkSigset: Int; oomScoreAdj: number; handlers: Readonly<Record<number, { handler: Int; mask: Int }>>; restorer: Int };
  regs: { ip: Int; sp: Int; ax: Int; origAx: Int; bp: Int; di: Int; si: Int; dx: Int; fsBase: Int };
  clearTidAddr: Int;
  futexRla: Int;
  rseqAbi: Int;
}

const itimer = () => ({ isec: 0, iusec: 0, vsec: 0, vusec: 0 });

export function coreEntry(t: ThreadState): ProtoMessage {
  const r = t.regs;
  const gpregs = {
    r15: 0,
    r14: 0,
    r13: 0,
    r12: 0,
    bp: r.bp,
    bx: 0,
    r11: 0x246,
    r10: 0,
    r9: 0,
    r8: 0,
    ax: r.ax,
    cx: r.ip,
    dx: r.dx,
    si: r.si,
    di: r.di,
    orig_ax: r.origAx,
    ip: r.ip,
    cs: 0x33,
    flags: 0x246,
    sp: r.sp,
    ss: 0x2b,
    fs_base: r.fsBase,
    gs_base: 0,
    ds: 0,
    es: 0,
    fs: 0,
    gs: 0,
    mode: 'NATIVE',
  };
  const fpregs = {
    cwd: 0x37f,
    swd: 0,
    twd: 0,
    fop: 0,
    rip: 0,
    rdp: 0,
    mxcsr: 0x1f80,
    mxcsr_mask: 0x2ffff,
    st_space: zeros(32),
    xmm_space: zeros(64),
    xsave: { xstate_bv: 0xa2, ymmh_space: zeros(64), opmask_reg: zeros(8), zmm_upper: zeros(64), hi16_zmm: zeros(128), cet: { cet: 0, ssp: 0 } },
  };
  const tls = [12, 13, 14].map((entry_number) => ({
    entry_number,
    base_addr: 0,
    limit: 0,
    seg_32bit: false,
    contents_h: false,
    contents_l: false,
    read_exec_only: true,
    limit_in_pages: false,
    seg_not_present: true,
    usable: false,
  }));
  const caps = t.uid === 0 ? [0xa80425fb, 0] : [0, 0];
  const tc = t.task && {
    task_state: 1,
    exit_code: 0,
    personality: 0,
    flags: t.task.flags,
    blk_sigset: t.task.blkSigset,
    comm: t.comm,
    timers: { real: itimer(), virt: itimer(), prof: itimer() },
    rlimits: { rlimits: RLIMITS.map(([cur, max]) => ({ cur, max })) },
    signals_s: {},
    loginuid: 0xffffffff,
    oom_score_adj: t.task.oomScoreAdj,
    sigactions: SIGNALS.map((s) => {
      const h = t.task!.handlers[s];
      return h
        ? { sigaction: h.handler, flags: SA_RESTORER, restorer: t.task!.restorer, mask: h.mask, compat_sigaction: false }
        : { sigaction: 0, flags: 0, restorer: 0, mask: 0, compat_sigaction: false };
    }),
    child_subreaper: false,
  };
  return {
    mtype: 'X86_64',
    thread_info: { clear_tid_addr: t.clearTidAddr, gpregs, fpregs, tls },
    tc,
    thread_core: {
      futex_rla: t.futexRla,
      futex_rla_len: 24,
      sched_nice: 0,
      sched_policy: 0,
      sas: { ss_sp: 0, ss_size: 0, ss_flags: 2 },
      signals_p: {},
      creds: {
        uid: t.uid,
        gid: t.uid,
        euid: t.uid,
        egid: t.uid,
        suid: t.uid,
        sgid: t.uid,
        fsuid: t.uid,
        fsgid: t.uid,
        cap_inh: [0, 0],
        cap_prm: caps,
        cap_eff: caps,
        cap_bnd: [0xa80425fb, 0],
        secbits: 0,
        groups: [t.uid],
        cap_amb: [0, 0],
      },
      comm: t.comm,
      rseq_entry: { rseq_abi_pointer: t.rseqAbi, rseq_abi_size: 32, signature: 0x53053053 },
      cg_set: 2,
    },
  };
}

/**
 * The auxiliary vector execve left, as CRIU saves it (mm_saved_auxv: type/value pairs, no AT_NULL):
 * AT_SYSINFO_EHDR, AT_MINSIGSTKSZ, AT_HWCAP, AT_PAGESZ, AT_CLKTCK, AT_PHDR, AT_PHENT, AT_PHNUM, AT_BASE,
 * AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN,
 * AT_PLATFORM, AT_RSEQ_FEATURE_SIZE, AT_RSEQ_ALIGN.
 */
export function savedAuxv(a: { vdso: Int; phdr: Int; entry: Int; base: Int; uid: number; random: Int; execfn: Int; platform: Int }): Int[] {
  return [
    33,
    a.vdso,
    51,
    3376,
    16,
    0x178bfbff,
    6,
    4096,
    17,
    100,
    3,
    a.phdr,
    4,
    56,
    5,
    13,
    7,
    a.base,
    8,
    0,
    9,
    a.entry,
    11,
    a.uid,
    12,
    a.uid,
    13,
    a.uid,
    14,
    a.uid,
    23,
    0,
    25,
    a.random,
    26,
    2,
    31,
    a.execfn,
    15,
    a.platform,
    27,
    28,
    28,
    32,
  ];
}
