/**
 * The CRIU messages of a process's images, written from the field numbers and types of
 * checkpoint-restore/criu images/*.proto (inventory, pstree, core, core-x86, core-aarch64, creds,
 * mm, vma, pagemap, fs, stats). Only what analysis needs is declared; everything else on the wire
 * is skipped as an unknown field. Decoded objects keep the .proto field names, as crit prints them.
 */
import type { MessageSchema, U64 } from './proto-reader.js';

const R = 'required' as const;
const N = 'repeated' as const;

export const TASK_KOBJ_IDS: MessageSchema = {
  name: 'task_kobj_ids_entry',
  fields: {
    1: ['vm_id', 'uint32', R],
    2: ['files_id', 'uint32', R],
    3: ['fs_id', 'uint32', R],
    4: ['sighand_id', 'uint32', R],
    5: ['pid_ns_id', 'uint32'],
    6: ['net_ns_id', 'uint32'],
    7: ['ipc_ns_id', 'uint32'],
    8: ['uts_ns_id', 'uint32'],
    9: ['mnt_ns_id', 'uint32'],
    10: ['user_ns_id', 'uint32'],
    11: ['cgroup_ns_id', 'uint32'],
  },
};
export interface TaskKobjIdsEntry {
  vm_id: number;
  files_id: number;
  fs_id: number;
  sighand_id: number;
  pid_ns_id?: number;
  net_ns_id?: number;
  ipc_ns_id?: number;
  uts_ns_id?: number;
  mnt_ns_id?: number;
  user_ns_id?: number;
  cgroup_ns_id?: number;
}

export const INVENTORY: MessageSchema = {
  name: 'inventory_entry',
  fields: {
    1: ['img_version', 'uint32', R],
    2: ['fdinfo_per_id', 'bool'],
    3: ['root_ids', TASK_KOBJ_IDS],
    4: ['ns_per_id', 'bool'],
    5: ['root_cg_set', 'uint32'],
    6: ['lsmtype', 'uint32'],
    8: ['dump_uptime', 'uint64'],
  },
};
export interface InventoryEntry {
  img_version: number;
  fdinfo_per_id?: boolean;
  root_ids?: TaskKobjIdsEntry;
  ns_per_id?: boolean;
  root_cg_set?: number;
  lsmtype?: number;
  dump_uptime?: U64;
}

export const PSTREE: MessageSchema = {
  name: 'pstree_entry',
  fields: { 1: ['pid', 'uint32', R], 2: ['ppid', 'uint32', R], 3: ['pgid', 'uint32', R], 4: ['sid', 'uint32', R], 5: ['threads', 'uint32', N] },
};
export interface PstreeEntry {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  threads?: number[];
}

export const CREDS: MessageSchema = {
  name: 'creds_entry',
  fields: {
    1: ['uid', 'uint32', R],
    2: ['gid', 'uint32', R],
    3: ['euid', 'uint32', R],
    4: ['egid', 'uint32', R],
    5: ['suid', 'uint32', R],
    6: ['sgid', 'uint32', R],
    7: ['fsuid', 'uint32', R],
    8: ['fsgid', 'uint32', R],
    9: ['cap_inh', 'uint32', N],
    10: ['cap_prm', 'uint32', N],
    11: ['cap_eff', 'uint32', N],
    12: ['cap_bnd', 'uint32', N],
    13: ['secbits', 'uint32', R],
    14: ['groups', 'uint32', N],
    15: ['lsm_profile', 'string'],
    16: ['lsm_sockcreate', 'string'],
  },
};
export interface CredsEntry {
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  suid: number;
  sgid: number;
  fsuid: number;
  fsgid: number;
  cap_inh?: number[];
  cap_prm?: number[];
  cap_eff?: number[];
  cap_bnd?: number[];
  secbits: number;
  groups?: number[];
  lsm_profile?: string;
  lsm_sockcreate?: string;
}

/** core.proto task_core_entry: timers, rlimits, signals and sigactions are left undecoded. */
const TASK_CORE: MessageSchema = {
  name: 'task_core_entry',
  fields: {
    1: ['task_state', 'uint32', R],
    2: ['exit_code', 'uint32', R],
    3: ['personality', 'uint32', R],
    4: ['flags', 'uint32', R],
    5: ['blk_sigset', 'uint64', R],
    6: ['comm', 'string', R],
    9: ['cg_set', 'uint32'],
    13: ['loginuid', 'uint32'],
    14: ['oom_score_adj', 'int32'],
    18: ['child_subreaper', 'bool'],
  },
};
export interface TaskCoreEntry {
  task_state: number;
  exit_code: number;
  personality: number;
  flags: number;
  blk_sigset: U64;
  comm: string;
  cg_set?: number;
  loginuid?: number;
  oom_score_adj?: number;
  child_subreaper?: boolean;
}

const THREAD_CORE: MessageSchema = {
  name: 'thread_core_entry',
  fields: {
    1: ['futex_rla', 'uint64', R],
    2: ['futex_rla_len', 'uint32', R],
    3: ['sched_nice', 'sint32'],
    4: ['sched_policy', 'uint32'],
    5: ['sched_prio', 'uint32'],
    6: ['blk_sigset', 'uint64'],
    8: ['pdeath_sig', 'uint32'],
    10: ['creds', CREDS],
    11: ['seccomp_mode', 'uint32'],
    12: ['seccomp_filter', 'uint32'],
    13: ['comm', 'string'],
  },
};
export interface ThreadCoreEntry {
  futex_rla: U64;
  futex_rla_len: number;
  sched_nice?: number;
  sched_policy?: number;
  sched_prio?: number;
  blk_sigset?: U64;
  pdeath_sig?: number;
  creds?: CredsEntry;
  seccomp_mode?: number;
  seccomp_filter?: number;
  comm?: string;
}

/** core-x86.proto: the registers that say where the thread was (fpregs and xsave are skipped). */
const USER_X86_REGS: MessageSchema = {
  name: 'user_x86_regs_entry',
  fields: {
    5: ['bp', 'uint64', R],
    11: ['ax', 'uint64', R],
    16: ['orig_ax', 'uint64', R],
    17: ['ip', 'uint64', R],
    20: ['sp', 'uint64', R],
    22: ['fs_base', 'uint64', R],
    28: ['mode', 'uint32'],
  },
};
const THREAD_INFO_X86: MessageSchema = {
  name: 'thread_info_x86',
  fields: { 1: ['clear_tid_addr', 'uint64', R], 2: ['gpregs', USER_X86_REGS, R] },
};
/** core-aarch64.proto: regs[31], sp, pc, pstate (fpsimd and pac keys are skipped). */
const USER_AARCH64_REGS: MessageSchema = {
  name: 'user_aarch64_regs_entry',
  fields: { 1: ['regs', 'uint64', N], 2: ['sp', 'uint64', R], 3: ['pc', 'uint64', R], 4: ['pstate', 'uint64', R] },
};
const THREAD_INFO_AARCH64: MessageSchema = {
  name: 'thread_info_aarch64',
  fields: { 1: ['clear_tid_addr', 'uint64', R], 2: ['tls', 'uint64', R], 3: ['gpregs', USER_AARCH64_REGS, R] },
};

/**
 * core_entry. The per-architecture thread info sits in a different field for each architecture:
 * 2 x86, 6 arm, 8 aarch64, 9 ppc64, 10 s390 (and later ones above); we decode x86 and aarch64.
 */
export const CORE: MessageSchema = {
  name: 'core_entry',
  fields: {
    1: ['mtype', 'uint32', R],
    2: ['thread_info', THREAD_INFO_X86],
    3: ['tc', TASK_CORE],
    4: ['ids', TASK_KOBJ_IDS],
    5: ['thread_core', THREAD_CORE],
    8: ['ti_aarch64', THREAD_INFO_AARCH64],
  },
};
export interface CoreEntry {
  mtype: number;
  thread_info?: { clear_tid_addr: U64; gpregs: { bp: U64; ax: U64; orig_ax: U64; ip: U64; sp: U64; fs_base: U64; mode?: number } };
  ti_aarch64?: { clear_tid_addr: U64; tls: U64; gpregs: { regs?: U64[]; sp: U64; pc: U64; pstate: U64 } };
  tc?: TaskCoreEntry;
  ids?: TaskKobjIdsEntry;
  thread_core?: ThreadCoreEntry;
}

/** core_entry.march; MIPS, LOONGARCH64 and RISCV64 came later than the first five. */
export const MARCH_NAMES: Readonly<Record<number, 'x86_64' | 'arm' | 'aarch64' | 'ppc64' | 's390' | 'mips' | 'loongarch64' | 'riscv64'>> = {
  1: 'x86_64',
  2: 'arm',
  3: 'aarch64',
  4: 'ppc64',
  5: 's390',
  6: 'mips',
  7: 'loongarch64',
  8: 'riscv64',
};

/** criu/include/pid.h TASK_* (the values compel shares with CRIU). */
export const TASK_STATES: Readonly<Record<number, string>> = { 1: 'alive', 2: 'dead', 3: 'stopped', 4: 'helper', 5: 'thread', 6: 'zombie' };

export const VMA: MessageSchema = {
  name: 'vma_entry',
  fields: {
    1: ['start', 'uint64', R],
    2: ['end', 'uint64', R],
    3: ['pgoff', 'uint64', R],
    4: ['shmid', 'uint64', R],
    5: ['prot', 'uint32', R],
    6: ['flags', 'uint32', R],
    7: ['status', 'uint32', R],
    8: ['fd', 'sint64', R],
    9: ['madv', 'uint64'],
    10: ['fdflags', 'uint32'],
  },
};
export interface VmaEntry {
  start: U64;
  end: U64;
  pgoff: U64;
  shmid: U64;
  prot: number;
  flags: number;
  status: number;
  fd: U64;
  madv?: U64;
  fdflags?: number;
}

export const MM: MessageSchema = {
  name: 'mm_entry',
  fields: {
    1: ['mm_start_code', 'uint64', R],
    2: ['mm_end_code', 'uint64', R],
    3: ['mm_start_data', 'uint64', R],
    4: ['mm_end_data', 'uint64', R],
    5: ['mm_start_stack', 'uint64', R],
    6: ['mm_start_brk', 'uint64', R],
    7: ['mm_brk', 'uint64', R],
    8: ['mm_arg_start', 'uint64', R],
    9: ['mm_arg_end', 'uint64', R],
    10: ['mm_env_start', 'uint64', R],
    11: ['mm_env_end', 'uint64', R],
    12: ['exe_file_id', 'uint32', R],
    13: ['mm_saved_auxv', 'uint64', N],
    14: ['vmas', VMA, N],
    15: ['dumpable', 'int32'],
    17: ['thp_disabled', 'bool'],
  },
};
export interface MmEntry {
  mm_start_code: U64;
  mm_end_code: U64;
  mm_start_data: U64;
  mm_end_data: U64;
  mm_start_stack: U64;
  mm_start_brk: U64;
  mm_brk: U64;
  mm_arg_start: U64;
  mm_arg_end: U64;
  mm_env_start: U64;
  mm_env_end: U64;
  exe_file_id: number;
  mm_saved_auxv?: U64[];
  vmas?: VmaEntry[];
  dumpable?: number;
  thp_disabled?: boolean;
}

export const PAGEMAP_HEAD: MessageSchema = { name: 'pagemap_head', fields: { 1: ['pages_id', 'uint32', R] } };
export interface PagemapHead {
  pages_id: number;
}

/**
 * images/pagemap.proto. Older CRIU writes `in_parent`; newer CRIU writes `flags` (criu/include/pagemap.h
 * PE_*). Field 2 was `nr_pages` until CRIU 4.2 moved the count to the 64-bit field 5 (afb2e6c3f); it writes
 * `compat_nr_pages = 0` and `nr_pages` beside it, and reads field 2 only when field 5 is absent
 * (init_compat_pagemap_entry). `pagemapEntryPages` applies that rule.
 */
export const PAGEMAP_ENTRY: MessageSchema = {
  name: 'pagemap_entry',
  fields: { 1: ['vaddr', 'uint64', R], 2: ['compat_nr_pages', 'uint32', R], 3: ['in_parent', 'bool'], 4: ['flags', 'uint32'], 5: ['nr_pages', 'uint64'] },
};
export interface PagemapEntry {
  vaddr: U64;
  compat_nr_pages: number;
  in_parent?: boolean;
  flags?: number;
  nr_pages?: U64;
}

/** The number of pages of an entry: `nr_pages` when written (CRIU 4.2 and later), else the old 32-bit count. */
export function pagemapEntryPages(e: Pick<PagemapEntry, 'compat_nr_pages' | 'nr_pages'>): U64 | undefined {
  return e.nr_pages ?? e.compat_nr_pages;
}
export const PE = { PARENT: 1, LAZY: 2, PRESENT: 4 } as const;

export const FS: MessageSchema = { name: 'fs_entry', fields: { 1: ['cwd_id', 'uint32', R], 2: ['root_id', 'uint32', R], 3: ['umask', 'uint32'] } };
export interface FsEntry {
  cwd_id: number;
  root_id: number;
  umask?: number;
}

const DUMP_STATS: MessageSchema = {
  name: 'dump_stats_entry',
  fields: {
    1: ['freezing_time', 'uint32', R],
    2: ['frozen_time', 'uint32', R],
    3: ['memdump_time', 'uint32', R],
    4: ['memwrite_time', 'uint32', R],
    5: ['pages_scanned', 'uint64', R],
    6: ['pages_skipped_parent', 'uint64', R],
    7: ['pages_written', 'uint64', R],
    8: ['irmap_resolve', 'uint32'],
    9: ['pages_lazy', 'uint64', R],
    10: ['page_pipes', 'uint64'],
    11: ['page_pipe_bufs', 'uint64'],
    12: ['shpages_scanned', 'uint64'],
    13: ['shpages_skipped_parent', 'uint64'],
    14: ['shpages_written', 'uint64'],
  },
};
const RESTORE_STATS: MessageSchema = {
  name: 'restore_stats_entry',
  fields: {
    1: ['pages_compared', 'uint64', R],
    2: ['pages_skipped_cow', 'uint64', R],
    3: ['forking_time', 'uint32', R],
    4: ['restore_time', 'uint32', R],
    5: ['pages_restored', 'uint64'],
  },
};
export const STATS: MessageSchema = { name: 'stats_entry', fields: { 1: ['dump', DUMP_STATS], 2: ['restore', RESTORE_STATS] } };
export interface DumpStatsEntry {
  freezing_time: number;
  frozen_time: number;
  memdump_time: number;
  memwrite_time: number;
  pages_scanned: U64;
  pages_skipped_parent: U64;
  pages_written: U64;
  irmap_resolve?: number;
  pages_lazy: U64;
  page_pipes?: U64;
  page_pipe_bufs?: U64;
  shpages_scanned?: U64;
  shpages_skipped_parent?: U64;
  shpages_written?: U64;
}
export interface StatsEntry {
  dump?: DumpStatsEntry;
  restore?: Record<string, U64>;
}
