import type { AnalysisWarning } from '../analysis/criu-model.js';
import type { InspectedProcess, Inspection, MemoryMatch } from '../analysis/inspection.js';
import type { Indicator } from '../analysis/triage-indicators.js';

const MAX_ARG = 120;

/** The readable tree `amber inspect` prints: container, processes, files and sockets, rootfs changes, indicators, warnings. */
export function renderInspection(name: string, i: Inspection, indicators: readonly Indicator[]): string {
  const out: string[] = [`archive    ${name}`];
  const c = i.container;
  const facts: [string, string | undefined][] = [
    ['container', [c.name, c.id ? `(${c.id.slice(0, 12)})` : undefined].filter(Boolean).join(' ') || undefined],
    ['pod', c.pod !== undefined ? `${c.namespace ?? '?'}/${c.pod}` : undefined],
    ['image', c.imageRef ?? c.image],
    ['runtime', c.runtime],
    ['created', c.createdAt],
    ['checkpoint', c.checkpointedAt],
    ['frozen', i.stats.frozenTimeUs !== undefined ? `${(i.stats.frozenTimeUs / 1000).toFixed(1)} ms` : undefined],
  ];
  for (const [k, v] of facts) if (v !== undefined) out.push(`${k.padEnd(11)}${v}`);

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
    out.push(`  + ${f.path}  ${f.type} ${f.mode} ${f.size} B${f.sha256 ? ` sha256 ${f.sha256.slice(0, 16)}…` : ''}${f.linkTarget ? ` -> ${f.linkTarget}` : ''}${tag}`);
  }
  for (const d of deleted) out.push(`  - ${d}`);

  if (indicators.length > 0) {
    out.push('', `indicators (${indicators.length})`);
    for (const x of indicators) out.push(`  [${x.severity}] ${x.id}: ${x.summary}`);
  }
  if (i.warnings.length > 0) {
    out.push('', `warnings (${i.warnings.length})`);
    for (const w of i.warnings) out.push(`  ${renderWarning(w)}`);
  }
  return `${out.join('\n')}\n`;
}

function renderProcess(p: InspectedProcess, indent: string): string[] {
  const cmd = p.cmdline.length > 0 ? p.cmdline.map(quote).join(' ') : `[${p.comm}]`;
  const lines = [`${indent}${p.pid} ${p.comm}${p.uid !== undefined ? ` uid=${p.uid}` : ''}${p.threads.length > 1 ? ` threads=${p.threads.length}` : ''}: ${clip(cmd)}`];
  const more = `${indent}    `;
  if (p.exe !== undefined) lines.push(`${more}exe ${p.exe}`);
  if (p.cwd !== undefined) lines.push(`${more}cwd ${p.cwd}`);
  for (const s of p.sockets) {
    const where = s.path ?? [s.local, s.remote].filter(Boolean).join(' -> ');
    lines.push(`${more}fd ${s.fd}: ${[s.protocol ?? s.kind, s.family, s.state].filter(Boolean).join(' ')} ${where}`.trimEnd());
  }
  for (const f of p.files) lines.push(`${more}fd ${f.fd}: ${f.kind}${f.path !== undefined ? ` ${f.path}` : ''}${f.pipeId !== undefined ? ` pipe:[${f.pipeId}]` : ''}`);
  return lines;
}

export function renderMatches(matches: readonly (MemoryMatch & { archive?: string })[], warnings: readonly AnalysisWarning[]): string {
  const out = matches.map((m) => `${m.archive !== undefined ? `${m.archive} ` : ''}pid ${m.pid} ${m.address}  ${m.context}`);
  out.push(`${matches.length} match${matches.length === 1 ? '' : 'es'}`);
  for (const w of warnings) out.push(`warning ${renderWarning(w)}`);
  return `${out.join('\n')}\n`;
}

function renderWarning(w: AnalysisWarning): string {
  return `${w.file}${w.offset !== undefined ? `@${w.offset}` : ''}: ${w.message}`;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

function clip(s: string): string {
  return s.length > MAX_ARG ? `${s.slice(0, MAX_ARG)}…` : s;
}
