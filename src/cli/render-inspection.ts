import type { AnalysisWarning, DumpStatsInfo } from '../analysis/criu/criu-model.js';
import type { ContainerFacts, Engine, InspectedProcess, InspectedSocket, Inspection, MemoryMatch } from '../analysis/inspection.js';
import type { Indicator } from '../analysis/triage-indicators.js';
import { describeMapping, type YaraFindings } from '../analysis/yara/yara-findings.js';

const MAX_ARG = 120;

export const ENGINE_NAMES: Readonly<Record<Engine, string>> = { 'cri-o': 'CRI-O', containerd: 'containerd', podman: 'Podman' };

/** Bytes as checkpointctl prints them: `233 B`, `2.5 KiB`, `169.8 KiB`, `1.2 GiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024,
    u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** CRIU's microseconds: `714 µs`, `70.7 ms`. */
export function formatUs(us: number): string {
  return us < 1000 ? `${us} µs` : `${(us / 1000).toFixed(1)} ms`;
}

const line = (k: string, v: string) => `${k.padEnd(11)}${v}`;
const present = (pairs: [string, number | undefined][]) => pairs.filter((p): p is [string, number] => p[1] !== undefined);

export function containerLines(c: ContainerFacts): string[] {
  const facts: [string, string | undefined][] = [
    ['container', [c.name, c.id ? `(${c.id.slice(0, 12)})` : undefined].filter(Boolean).join(' ') || undefined],
    ['pod', c.pod !== undefined ? `${c.namespace ?? '?'}/${c.pod}` : undefined],
    ['engine', c.engine ? ENGINE_NAMES[c.engine] : undefined],
    ['runtime', c.ociRuntime],
    ['image', c.image],
    ['image id', c.imageRef && c.imageRef !== c.image ? c.imageRef : undefined],
    ['created', c.createdAt],
    ['checkpoint', c.checkpointedAt],
    ['ip', c.ip],
    ['mac', c.mac],
    ['criu', c.criuVersion],
  ];
  const out = facts.filter((f): f is [string, string] => f[1] !== undefined).map(([k, v]) => line(k, v));
  for (const n of c.networks ?? []) {
    out.push(line('network', [n.network, n.interface, ...n.addresses, n.mac && `mac ${n.mac}`, n.gateway && `gateway ${n.gateway}`].filter(Boolean).join(' ')));
  }
  return out;
}

function statsLines(s: DumpStatsInfo): string[] {
  const out: string[] = [];
  if (s.frozenTimeUs !== undefined) {
    const parts = present([
      ['freezing', s.freezingTimeUs],
      ['memdump', s.memdumpTimeUs],
      ['memwrite', s.memwriteTimeUs],
    ]).map(([k, v]) => `${k} ${formatUs(v)}`);
    out.push(line('frozen', `${formatUs(s.frozenTimeUs)}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`));
  }
  if (s.pagesScanned !== undefined || s.pagesWritten !== undefined) {
    const parts = present([
      ['scanned', s.pagesScanned],
      ['written', s.pagesWritten],
      ['skipped (in parent)', s.pagesSkippedParent || undefined],
      ['lazy', s.pagesLazy || undefined],
    ]).map(([k, v]) => `${v} ${k}`);
    out.push(line('pages', parts.join(', ')));
  }
  return out;
}

/** The readable tree `amber inspect` prints: container, processes, files and sockets, rootfs changes, mounts, indicators, warnings. */
export function renderInspection(name: string, i: Inspection, indicators: readonly Indicator[], yara?: YaraFindings): string {
  const out: string[] = [`archive    ${name}${i.compression && i.compression !== 'none' ? ` (${i.compression})` : ''}`];
  out.push(...containerLines(i.container));
  if (i.checkpointSize) {
    const s = i.checkpointSize;
    out.push(
      line(
        'size',
        `${formatBytes(s.totalBytes)} of CRIU images, ${formatBytes(s.memoryPagesBytes)} of them memory pages; rootfs diff ${formatBytes(s.rootfsDiffBytes)}`,
      ),
    );
  }
  out.push(...statsLines(i.stats));

  out.push('', `processes (${i.processes.length})`);
  const children = new Map<number, InspectedProcess[]>();
  const pids = new Set(i.processes.map((p) => p.pid));
  for (const p of i.processes) {
    const parent = pids.has(p.ppid) && p.ppid !== p.pid ? p.ppid : 0;
    children.set(parent, [...(children.get(parent) ?? []), p]);
  }
  const walk = (parent: number, indent: string, seen: Set<number>) => {
    for (const p of children.get(parent) ?? []) {
      if (seen.has(p.pid)) continue; // a cycle in a damaged pstree: print each process once
      seen.add(p.pid);
      out.push(...renderProcess(p, indent));
      walk(p.pid, `${indent}  `, seen);
    }
  };
  walk(0, '  ', new Set());

  const { added, deleted } = i.rootfsDiff;
  out.push('', `filesystem changes (${added.length} added or changed, ${deleted.length} deleted)`);
  for (const f of added) {
    const tag = f.executable && f.type === 'file' ? ' EXECUTABLE' : '';
    out.push(
      `  + ${f.path}  ${f.type} ${f.mode} ${f.size} B${f.sha256 ? ` sha256 ${f.sha256.slice(0, 16)}…` : ''}${f.linkTarget ? ` -> ${f.linkTarget}` : ''}${tag}`,
    );
  }
  for (const d of deleted) out.push(`  - ${d}`);

  if (i.mounts && i.mounts.length > 0) {
    out.push('', `mounts (${i.mounts.length})`);
    for (const m of i.mounts) out.push(`  ${m.destination}  ${m.type ?? '?'}  ${m.source ?? ''}${m.options ? `  (${m.options.join(',')})` : ''}`.trimEnd());
  }
  const annotations = Object.entries(i.container.annotations ?? {});
  if (annotations.length > 0) {
    out.push('', `annotations (${annotations.length})`);
    for (const [k, v] of annotations) out.push(`  ${k}: ${clip(v)}`);
  }
  if (indicators.length > 0) {
    out.push('', `indicators (${indicators.length})`);
    for (const x of indicators) out.push(`  [${x.severity}] ${x.id}: ${x.summary}`);
  }
  if (yara) out.push('', ...yaraLines(yara));
  if (i.warnings.length > 0) {
    out.push('', `warnings (${i.warnings.length})`);
    for (const w of i.warnings) out.push(`  ${renderWarning(w)}`);
  }
  return `${out.join('\n')}\n`;
}

/** Each YARA match with where it is and the bytes around it; the regions the rules did not finish. */
function yaraLines(y: YaraFindings): string[] {
  const out = [`yara (${y.matches.length} match${y.matches.length === 1 ? '' : 'es'}; rules ${y.ruleFiles.join(', ')})`];
  for (const m of y.matches) {
    const where = m.where.in === 'memory' ? `pid ${m.where.pid} ${m.where.address} ${describeMapping(m.where.mapping)}` : `${m.where.path}@${m.where.offset}`;
    out.push(`  ${m.rule}${m.tags.length > 0 ? ` [${m.tags.join(',')}]` : ''}  ${where}  ${m.context}`);
  }
  for (const x of y.incomplete) out.push(`  incomplete: ${x.where}: ${x.reason}`);
  return out;
}

/** A socket's queues and buffers, when the reader found them: `recv-q 0 send-q 12 unsent 0, sndbuf 4.0 MiB rcvbuf 128.0 KiB`. */
export function socketQueues(s: InspectedSocket): string {
  const q = present([
    ['recv-q', s.recvQueue],
    ['send-q', s.sendQueue],
    ['unsent', s.unsentQueue],
  ])
    .map(([k, v]) => `${k} ${v}`)
    .join(' ');
  const b = present([
    ['sndbuf', s.sendBuffer],
    ['rcvbuf', s.recvBuffer],
  ])
    .map(([k, v]) => `${k} ${formatBytes(v)}`)
    .join(' ');
  return [q, b].filter((x) => x !== '').join(', ');
}

export function describeSocket(s: InspectedSocket): string {
  const where = s.path ?? [s.local, s.remote].filter(Boolean).join(' -> ');
  const queues = socketQueues(s);
  return `${[s.protocol ?? s.kind, s.family, s.state].filter(Boolean).join(' ')} ${where}${queues ? `  (${queues})` : ''}`.trimEnd();
}

function renderProcess(p: InspectedProcess, indent: string): string[] {
  const cmd = p.cmdline.length > 0 ? p.cmdline.map(quote).join(' ') : `[${p.comm}]`;
  const state = p.state !== undefined && p.state !== 'alive' ? ` state=${p.state}` : '';
  const lines = [
    `${indent}${p.pid} ${p.comm}${p.uid !== undefined ? ` uid=${p.uid}` : ''}${p.threads.length > 1 ? ` threads=${p.threads.length}` : ''}${state}: ${clip(cmd)}`,
  ];
  const more = `${indent}    `;
  if (p.exe !== undefined) lines.push(`${more}exe ${p.exe}`);
  if (p.cwd !== undefined) lines.push(`${more}cwd ${p.cwd}`);
  if (p.root !== undefined && p.root !== '/') lines.push(`${more}root ${p.root}`);
  for (const e of p.env) lines.push(`${more}env ${clip(e)}`);
  const fds: [number, string][] = [
    ...p.sockets.map((s): [number, string] => [s.fd, describeSocket(s)]),
    ...p.files.map((f): [number, string] => [
      f.fd,
      `${f.kind}${f.path !== undefined ? ` ${f.path}` : ''}${f.pipeId !== undefined ? ` pipe:[${f.pipeId}]` : ''}`,
    ]),
  ];
  for (const [fd, text] of fds.sort((a, b) => a[0] - b[0])) lines.push(`${more}fd ${fd}: ${text}`);
  return lines;
}

export function renderMatches(matches: readonly (MemoryMatch & { archive?: string })[], warnings: readonly AnalysisWarning[]): string {
  const out = matches.map((m) => `${m.archive !== undefined ? `${m.archive} ` : ''}pid ${m.pid} ${m.address}  ${m.context}`);
  out.push(`${matches.length} match${matches.length === 1 ? '' : 'es'}`);
  for (const w of warnings) out.push(`warning ${renderWarning(w)}`);
  return `${out.join('\n')}\n`;
}

export function renderWarning(w: AnalysisWarning): string {
  return `${w.file}${w.offset !== undefined ? `@${w.offset}` : ''}: ${w.message}`;
}

export function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

export function clip(s: string): string {
  return s.length > MAX_ARG ? `${s.slice(0, MAX_ARG)}…` : s;
}
