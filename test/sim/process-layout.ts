/**
 * The address space of a simulated process and the runs of it CRIU dumps: VMAs as mm-<pid>.img
 * lists them (an x86-64 PIE executable's five segments and its bss, the heap, libc's and ld.so's
 * segments for a dynamically linked program, vvar, vdso, the stack, vsyscall), and the pagemap runs
 * with CRIU 4.2's flags — written pages of file-backed private mappings and the vdso PE_PRESENT,
 * pages of private anonymous mappings (bss, heap, stack) PE_LAZY | PE_PRESENT (criu/mem.c:
 * vma_entry_can_be_lazy). Runs are in address order; `offset` is where each one starts in
 * pages-<id>.img. The heap is split into runs of HEAP_RUN pages with one untouched page between them.
 */
import { PAGE_SIZE, PE } from './criu-images.js';
import type { Int } from './protobuf.js';

const HEAP_RUN = 512;
const STACK_PAGES = 3;
const PROT = { R: 1, W: 2, X: 4 } as const;
const MAP_PRIVATE = 0x2,
  MAP_ANON = 0x20,
  MAP_GROWSDOWN = 0x100;
const VMA = { REGULAR: 1, VSYSCALL: 4, VDSO: 8, HEAP: 32, FILE_PRIVATE: 64, ANON_PRIVATE: 512, VVAR: 4096 } as const;
const LAZY = PE.LAZY | PE.PRESENT;

export interface VmaValue {
  start: Int;
  end: Int;
  pgoff: number;
  prot: number;
  flags: number;
  status: number;
  fd: number;
  madv?: number;
  fdflags?: number;
  /** the mapped file's path (its file id becomes shmid) */
  file?: string;
}
export interface Run {
  vaddr: number;
  nrPages: number;
  flags: number;
  offset: number;
}
export interface Layout {
  vmas: VmaValue[];
  runs: Run[];
  patches: { offset: number; bytes: Buffer }[];
  size: number;
  /** pages dumped besides the heap */
  fixedPages: number;
  argStart: number;
  argEnd: number;
  envStart: number;
  envEnd: number;
  exeBase: number;
  ldBase: number;
  vdso: number;
  startCode: number;
  endCode: number;
  startData: number;
  endData: number;
  startBrk: number;
  brk: number;
  sp: number;
  syscallIp: number;
  tlsBase: number;
  handler: number;
  restorer: number;
}

export interface LayoutInput {
  comm: string;
  exe: string;
  libs: string[];
  argv: string[];
  env: string[];
  heapPages: number;
  heapStrings: string[];
}

/** ELF segments: [start, end, pgoff, prot] relative to the load base, then the writable pages CRIU dumps. */
const EXE_SEGMENTS: [number, number, number, number][] = [
  [0, 0x4000, 0, PROT.R],
  [0x4000, 0x1d000, 0x4000, PROT.R | PROT.X],
  [0x1d000, 0x23000, 0x1d000, PROT.R],
  [0x23000, 0x24000, 0x22000, PROT.R],
  [0x24000, 0x25000, 0x23000, PROT.R | PROT.W],
];
const LIBC_SEGMENTS: [number, number, number, number][] = [
  [0, 0x28000, 0, PROT.R],
  [0x28000, 0x1bd000, 0x28000, PROT.R | PROT.X],
  [0x1bd000, 0x215000, 0x1bd000, PROT.R],
  [0x215000, 0x219000, 0x214000, PROT.R],
  [0x219000, 0x21b000, 0x218000, PROT.R | PROT.W],
];
const LD_SEGMENTS: [number, number, number, number][] = [
  [0, 0x1000, 0, PROT.R],
  [0x1000, 0x26000, 0x1000, PROT.R | PROT.X],
  [0x26000, 0x30000, 0x26000, PROT.R],
  [0x31000, 0x33000, 0x30000, PROT.R],
  [0x33000, 0x35000, 0x32000, PROT.R | PROT.W],
];
const VSYSCALL = 0xffffffffff600000n;

export function layout(p: LayoutInput, index: number): Layout {
  const exeBase = 0x5581f3a00000 + index * 0x1000000000;
  const libcBase = 0x7f3c1e400000 - index * 0x200000000;
  const ldBase = libcBase + 0x230000;
  const vdso = libcBase + 0x404000;
  const stackEnd = 0x7ffe1a2b3000 - index * 0x100000000;
  const heapStart = exeBase + 0x2a54000;
  const dynamic = p.libs.length > 0;
  const vmas: VmaValue[] = [];
  const pending: Omit<Run, 'offset'>[] = [];
  const file = (path: string, base: number, segs: [number, number, number, number][]) => {
    for (const [s, e, pgoff, prot] of segs)
      vmas.push({ start: base + s, end: base + e, pgoff, prot, flags: MAP_PRIVATE, status: VMA.REGULAR | VMA.FILE_PRIVATE, fd: -1, fdflags: 0, file: path });
  };
  const anon = (start: Int, end: Int, prot: number, status: number, more: Partial<VmaValue> = {}) =>
    vmas.push({ start, end, pgoff: 0, prot, flags: MAP_PRIVATE | MAP_ANON, status: VMA.REGULAR | VMA.ANON_PRIVATE | status, fd: -1, ...more });

  file(p.exe, exeBase, EXE_SEGMENTS);
  pending.push({ vaddr: exeBase + 0x23000, nrPages: 2, flags: PE.PRESENT }); // relro + data, written: copies of file pages
  anon(exeBase + 0x25000, exeBase + 0x27000, PROT.R | PROT.W, 0);
  pending.push({ vaddr: exeBase + 0x25000, nrPages: 1, flags: LAZY });
  const holes = p.heapPages > 0 ? Math.floor((p.heapPages - 1) / HEAP_RUN) : 0;
  const heapEnd = heapStart + (p.heapPages + holes + 1) * PAGE_SIZE;
  anon(heapStart, heapEnd, PROT.R | PROT.W, VMA.HEAP);
  for (let done = 0, vaddr = heapStart; done < p.heapPages;) {
    const n = Math.min(HEAP_RUN, p.heapPages - done);
    pending.push({ vaddr, nrPages: n, flags: LAZY });
    done += n;
    vaddr += (n + 1) * PAGE_SIZE; // one-page hole: never touched, not dumped
  }
  if (dynamic) {
    file(p.libs[0]!, libcBase, LIBC_SEGMENTS);
    pending.push({ vaddr: libcBase + 0x219000, nrPages: 2, flags: PE.PRESENT });
    anon(libcBase + 0x21b000, libcBase + 0x228000, PROT.R | PROT.W, 0);
    pending.push({ vaddr: libcBase + 0x21b000, nrPages: 1, flags: LAZY });
    file(p.libs[1]!, ldBase, LD_SEGMENTS);
    pending.push({ vaddr: ldBase + 0x33000, nrPages: 2, flags: PE.PRESENT });
  }
  anon(vdso - 0x4000, vdso, PROT.R, VMA.VVAR, { madv: 0x10000 });
  anon(vdso, vdso + 0x2000, PROT.R | PROT.X, VMA.VDSO);
  pending.push({ vaddr: vdso, nrPages: 2, flags: PE.PRESENT }); // the vdso is never lazy
  anon(stackEnd - 0x21000, stackEnd, PROT.R | PROT.W, 0, { flags: MAP_PRIVATE | MAP_ANON | MAP_GROWSDOWN });
  pending.push({ vaddr: stackEnd - STACK_PAGES * PAGE_SIZE, nrPages: STACK_PAGES, flags: LAZY });
  vmas.push({
    start: VSYSCALL,
    end: VSYSCALL + 0x1000n,
    pgoff: 0,
    prot: PROT.X,
    flags: MAP_PRIVATE | MAP_ANON,
    status: VMA.VSYSCALL | VMA.ANON_PRIVATE,
    fd: -1,
  });

  let offset = 0;
  const runs = pending.map((r) => {
    const run = { ...r, offset };
    offset += r.nrPages * PAGE_SIZE;
    return run;
  });
  const size = offset;
  const stackRun = runs[runs.length - 1]!;
  // Top of the stack, as execve leaves it: argv strings, env strings, the exec filename, 8 zero bytes.
  const args = Buffer.from(p.argv.map((a) => a + '\0').join(''));
  const envs = Buffer.from(p.env.map((e) => e + '\0').join(''));
  const execfn = Buffer.from((p.argv[0] ?? p.comm) + '\0');
  const top = Buffer.concat([args, envs, execfn, Buffer.alloc(8)]);
  if (top.length > STACK_PAGES * PAGE_SIZE - 512) throw new Error('sim: argv/env do not fit the dumped stack pages');
  const argStart = stackEnd - top.length;
  const patches = [{ offset: stackRun.offset + (argStart - stackRun.vaddr), bytes: top }];
  const heapRun = runs.find((r) => r.vaddr === heapStart);
  let heapOff = (heapRun?.offset ?? 0) + 64;
  for (const s of p.heapStrings) {
    if (!heapRun) break;
    patches.push({ offset: heapOff, bytes: Buffer.from(s + '\0') });
    heapOff += Buffer.byteLength(s) + 64;
  }
  const fixedPages = runs.filter((r) => r.vaddr < heapStart || r.vaddr >= heapEnd).reduce((n, r) => n + r.nrPages, 0);
  const textBase = dynamic ? libcBase + 0x28000 : exeBase + 0x4000;
  return {
    vmas,
    runs,
    patches,
    size,
    fixedPages,
    argStart,
    argEnd: argStart + args.length,
    envStart: argStart + args.length,
    envEnd: argStart + args.length + envs.length,
    exeBase,
    ldBase,
    vdso,
    startCode: exeBase + 0x4000,
    endCode: exeBase + 0x1c9a1,
    startData: exeBase + 0x23d10,
    endData: exeBase + 0x24f20,
    startBrk: heapStart,
    brk: heapEnd - PAGE_SIZE,
    sp: stackRun.vaddr + 0x3a0,
    syscallIp: textBase + 0xea4f1,
    tlsBase: dynamic ? libcBase + 0x21b740 : exeBase + 0x25740,
    handler: exeBase + 0x4c10,
    restorer: textBase + 0x42520,
  };
}
