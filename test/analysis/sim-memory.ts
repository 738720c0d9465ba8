/** Test helpers: CRIU process models from the simulator's dump generator, and pages streamed in chunks. */
import type { CriuProcess } from '../../src/analysis/criu/criu-model.js';
import type { PagesConsumer } from '../../src/analysis/criu/process-memory.js';
import { buildCriuDump, type CriuDump, type DumpedProcess, type PagesFile } from '../sim/criu-dump.js';

export const PAGE = 4096;

export function simDump(pagesBytes = 64 * 1024, env: string[] = ['APP_ENV=production']): CriuDump {
  return buildCriuDump({ seed: 'f'.repeat(64), pagesBytes, podName: 'web', podIP: '10.244.1.7', env, now: Date.UTC(2025, 0, 2, 3, 4, 5) });
}

/** What read-criu-dump.ts would make of the generator's pstree/mm/pagemap: only the memory part. */
export function modelOf(processes: readonly DumpedProcess[]): CriuProcess[] {
  return processes.map((d) => ({
    pid: d.pid,
    ppid: 0,
    pgid: 0,
    sid: 0,
    threads: [d.pid],
    comm: d.comm,
    fds: [],
    mm: { argStart: d.argStart, argEnd: d.argEnd, envStart: d.envStart, envEnd: d.envEnd, startCode: 0, endCode: 0, startBrk: 0, brk: 0, vmas: [] },
    pagemap: { pagesId: Number(/pages-(\d+)\.img/.exec(d.pagesFile)?.[1]), runs: d.pagemap.map((r) => ({ ...r, inParent: false, lazy: false, inFile: true })) },
  }));
}

export async function pagesBytes(pf: PagesFile): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pf.write({
    write: (c) => {
      chunks.push(Buffer.from(c));
      return true;
    },
    once: () => undefined,
  });
  return Buffer.concat(chunks);
}

/** Feeds `data` as `file` to the consumer in chunks of `size` bytes (or of the sizes `sizes` cycles through), then ends it. */
export function feed(consumer: PagesConsumer, file: string, data: Buffer, size: number | readonly number[]): void {
  const sizes = typeof size === 'number' ? [size] : size;
  let i = 0;
  for (let off = 0; off < data.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length] ?? 1);
    if (consumer.wants(file)) consumer.feed(file, off, data.subarray(off, off + n));
    off += n;
  }
  consumer.end(file, data.length);
}

/** The virtual address of a byte of a process's pages file, by the generator's own pagemap. */
export function vaddrAt(d: DumpedProcess, fileOffset: number): number {
  const run = d.pagemap.find((r) => fileOffset >= r.offset && fileOffset < r.offset + r.nrPages * PAGE);
  if (!run) throw new Error(`offset ${fileOffset} is in no run of pid ${d.pid}`);
  return run.vaddr + (fileOffset - run.offset);
}

/** Every offset of `needle` in `hay` (non-overlapping, left to right): the plain answer a streaming search must agree with. */
export function offsetsOf(hay: Buffer, needle: Buffer | RegExp): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  if (Buffer.isBuffer(needle)) {
    for (let i = hay.indexOf(needle); i !== -1; i = hay.indexOf(needle, i + needle.length)) out.push({ start: i, end: i + needle.length });
  } else {
    const re = new RegExp(needle.source, needle.flags.includes('g') ? needle.flags : needle.flags + 'g');
    for (const m of hay.toString('latin1').matchAll(re)) if (m[0].length > 0) out.push({ start: m.index, end: m.index + m[0].length });
  }
  return out;
}
