/**
 * What a YARA scan of one checkpoint found: the matches, where each is, and what could not be
 * scanned whole (its warnings join the inspection's). `amber inspect --yara` prints it; the triage
 * report turns it into indicators.
 */
import type { Vma } from '../criu/criu-model.js';

/** The VMA a memory match lies in, as /proc/<pid>/maps would show it. */
export interface YaraMapping {
  /** `0x…` */
  start: string;
  end: string;
  /** `r-x`, `rw-`, … */
  prot: string;
  /** `file`: the file mapped (path when the files table names it); `anonymous`: no file (heap, stack, anonymous mmap). */
  kind: 'file' | 'anonymous' | 'unknown';
  path?: string;
  /** `[heap]`, `[stack]`, `[vdso]`, `[vvar]`, `[vsyscall]`, `[shm]` */
  name?: string;
}

export type YaraWhere = { in: 'memory'; pid: number; address: string; mapping: YaraMapping } | { in: 'file'; path: string; offset: number };

export interface YaraMatch {
  rule: string;
  namespace: string;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  /** the pattern whose match is reported (absent for a rule whose condition uses none) */
  pattern?: string;
  where: YaraWhere;
  /** the bytes around the match, printable ASCII kept and the rest as `.` */
  context: string;
}

/** A region (a process's VMA or a file) the rules did not finish: its matches may be missing. */
export interface YaraIncomplete {
  where: string;
  reason: string;
}

export interface YaraFindings {
  /** the rule files scanned with */
  ruleFiles: string[];
  matches: YaraMatch[];
  incomplete: YaraIncomplete[];
}

// criu/include/image.h VMA_* status bits, and the kernel's MAP_GROWSDOWN
const VMA_AREA_STACK = 1 << 1,
  VMA_AREA_VSYSCALL = 1 << 2,
  VMA_AREA_VDSO = 1 << 3,
  VMA_AREA_HEAP = 1 << 5,
  VMA_FILE_PRIVATE = 1 << 6,
  VMA_FILE_SHARED = 1 << 7,
  VMA_ANON_SHARED = 1 << 8,
  VMA_AREA_SYSVIPC = 1 << 10,
  VMA_AREA_VVAR = 1 << 12,
  VMA_AREA_MEMFD = 1 << 14;
const MAP_GROWSDOWN = 0x0100;
const PROT_READ = 1,
  PROT_WRITE = 2,
  PROT_EXEC = 4;

const hex = (n: number) => `0x${n.toString(16)}`;

/** What a VMA maps, with the path of the file when `pathOf` (the dump's files table) knows its `shmid`. */
export function mappingOf(vma: Vma | undefined, pathOf: (id: number) => string | undefined): YaraMapping {
  if (!vma) return { start: '', end: '', prot: '---', kind: 'unknown' };
  const prot = `${vma.prot & PROT_READ ? 'r' : '-'}${vma.prot & PROT_WRITE ? 'w' : '-'}${vma.prot & PROT_EXEC ? 'x' : '-'}`;
  const base = { start: hex(vma.start), end: hex(vma.end), prot };
  if (vma.status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED | VMA_AREA_MEMFD)) {
    const path = pathOf(vma.shmid);
    return { ...base, kind: 'file', ...(path !== undefined && { path }) };
  }
  const name =
    vma.status & VMA_AREA_HEAP
      ? '[heap]'
      : vma.status & VMA_AREA_STACK || vma.flags & MAP_GROWSDOWN
        ? '[stack]'
        : vma.status & VMA_AREA_VDSO
          ? '[vdso]'
          : vma.status & VMA_AREA_VVAR
            ? '[vvar]'
            : vma.status & VMA_AREA_VSYSCALL
              ? '[vsyscall]'
              : vma.status & (VMA_ANON_SHARED | VMA_AREA_SYSVIPC)
                ? '[shm]'
                : undefined;
  return { ...base, kind: 'anonymous', ...(name !== undefined && { name }) };
}

/** One line's worth of a mapping: `/bin/busybox`, `[heap]`, `anonymous`. */
export function describeMapping(m: YaraMapping): string {
  return m.path ?? m.name ?? (m.kind === 'file' ? 'a file (not in the files table)' : m.kind);
}
