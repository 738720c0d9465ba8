import type { CheckpointSide, FieldChange, InspectionDiff, ProcessDiff } from '../analysis/diff-inspections.js';
import type { InspectedFile, RootfsChange } from '../analysis/inspection.js';
import { clip, describeSocket, ENGINE_NAMES, formatBytes, formatUs, quote, renderWarning } from './render-inspection.js';

const VERDICTS: Readonly<Record<InspectionDiff['kinship']['verdict'], string>> = {
  'same-container': 'the same container',
  'same-name': 'the same container name',
  'same-processes': 'the same processes',
  'different-containers': 'DIFFERENT CONTAINERS',
};

const show = (v: unknown): string => (v === undefined ? '(none)' : Array.isArray(v) ? clip(v.map((x) => quote(String(x))).join(' ')) : clip(String(v)));

function sideLine(label: string, name: string, s: CheckpointSide): string {
  const c = s.container;
  const who = [
    c.name,
    c.id ? `(${c.id.slice(0, 12)})` : undefined,
    c.pod !== undefined ? `in ${c.namespace ?? '?'}/${c.pod}` : undefined,
    c.engine ? ENGINE_NAMES[c.engine] : undefined,
  ]
    .filter(Boolean)
    .join(' ');
  return `${label.padEnd(11)}${name}: ${who || 'unnamed container'}, ${s.processes} processes`;
}

const fieldLine = (indent: string, f: FieldChange) => `${indent}~ ${f.field.padEnd(12)}${show(f.a)} -> ${show(f.b)}`;

const fileText = (f: Omit<InspectedFile, 'pipeId'>) => `${f.kind}${f.path !== undefined ? ` ${f.path}` : ''}`;

function processLines(p: ProcessDiff): string[] {
  const out = [`  ~ ${p.pid} ${p.comm}`];
  for (const f of p.fields) out.push(fieldLine('      ', f));
  for (const e of p.env.added) out.push(`      + env ${clip(e)}`);
  for (const e of p.env.removed) out.push(`      - env ${clip(e)}`);
  for (const e of p.env.changed) out.push(`      ~ env ${clip(e.a)} -> ${clip(e.b.slice(e.b.indexOf('=') + 1))}`);
  for (const f of p.files.added) out.push(`      + fd ${f.fd}: ${fileText(f)}`);
  for (const f of p.files.removed) out.push(`      - fd ${f.fd}: ${fileText(f)}`);
  for (const f of p.files.changed) {
    const flags = (x: typeof f.a) => (f.a.flags !== f.b.flags && x.flags !== undefined ? ` (flags 0o${x.flags.toString(8)})` : '');
    out.push(`      ~ fd ${f.key}: ${fileText(f.a)}${flags(f.a)} -> ${fileText(f.b)}${flags(f.b)}`);
  }
  for (const s of p.sockets.added) out.push(`      + fd ${s.fd}: ${describeSocket({ ...s, inode: 0 })}`);
  for (const s of p.sockets.removed) out.push(`      - fd ${s.fd}: ${describeSocket({ ...s, inode: 0 })}`);
  for (const s of p.sockets.changed) out.push(`      ~ fd ${s.key}: ${describeSocket({ ...s.a, inode: 0 })} -> ${describeSocket({ ...s.b, inode: 0 })}`);
  return out;
}

const rootfsText = (f: RootfsChange) =>
  `${f.type} ${f.mode} ${f.size} B${f.sha256 ? ` sha256 ${f.sha256.slice(0, 16)}…` : ''}${f.linkTarget ? ` -> ${f.linkTarget}` : ''}${f.executable && f.type === 'file' ? ' EXECUTABLE' : ''}`;

function checkpointValue(field: string, v: unknown): string {
  if (typeof v !== 'number') return show(v);
  if (field.endsWith('Us')) return formatUs(v);
  if (field.endsWith('Bytes')) return formatBytes(v);
  return String(v);
}

/** The text `amber diff` prints: who A and B are, then what changed from A to B. */
export function renderDiff(names: [string, string], d: InspectionDiff): string {
  const out = [sideLine('a', names[0], d.a), sideLine('b', names[1], d.b)];
  out.push(`${'kinship'.padEnd(11)}${VERDICTS[d.kinship.verdict]}: ${d.kinship.reason}`);
  const count =
    d.container.length +
    d.mounts.added.length +
    d.mounts.removed.length +
    d.mounts.changed.length +
    d.processes.added.length +
    d.processes.removed.length +
    d.processes.changed.length +
    d.filesystem.added.length +
    d.filesystem.removed.length +
    d.filesystem.changed.length +
    d.filesystem.deleted.added.length +
    d.filesystem.deleted.removed.length;
  out.push(`${'result'.padEnd(11)}${d.same ? 'no changes' : `${count} change${count === 1 ? '' : 's'} from a to b`}`);

  if (d.container.length > 0) {
    out.push('', 'container');
    for (const f of d.container) out.push(fieldLine('  ', f));
  }
  const m = d.mounts;
  if (m.added.length + m.removed.length + m.changed.length > 0) {
    out.push('', `mounts (${m.added.length} added, ${m.removed.length} removed, ${m.changed.length} changed)`);
    for (const x of m.added) out.push(`  + ${x.destination}  ${x.type ?? '?'}  ${x.source ?? ''}`.trimEnd());
    for (const x of m.removed) out.push(`  - ${x.destination}  ${x.type ?? '?'}  ${x.source ?? ''}`.trimEnd());
    for (const x of m.changed)
      out.push(
        `  ~ ${x.key}  ${x.a.type ?? '?'} ${x.a.source ?? ''}${x.a.options ? ` (${x.a.options.join(',')})` : ''} -> ${x.b.type ?? '?'} ${x.b.source ?? ''}${x.b.options ? ` (${x.b.options.join(',')})` : ''}`,
      );
  }
  const p = d.processes;
  out.push('', `processes (${p.added.length} added, ${p.removed.length} removed, ${p.changed.length} changed)`);
  for (const x of p.added) out.push(`  + ${x.pid} ${x.comm} (parent ${x.ppid}): ${show(x.cmdline.length > 0 ? x.cmdline : `[${x.comm}]`)}`);
  for (const x of p.removed) out.push(`  - ${x.pid} ${x.comm} (parent ${x.ppid}): ${show(x.cmdline.length > 0 ? x.cmdline : `[${x.comm}]`)}`);
  for (const x of p.changed) out.push(...processLines(x));

  const f = d.filesystem;
  out.push(
    '',
    `filesystem changes (${f.added.length} new, ${f.removed.length} undone, ${f.changed.length} changed; ${f.deleted.added.length} newly deleted, ${f.deleted.removed.length} back)`,
  );
  for (const x of f.added) out.push(`  + ${x.path}  ${rootfsText(x)}`);
  for (const x of f.removed) out.push(`  - ${x.path}  (no longer changed from the image)`);
  for (const x of f.changed) out.push(`  ~ ${x.key}  ${rootfsText(x.a)} -> ${rootfsText(x.b)}`);
  for (const x of f.deleted.added) out.push(`  - ${x}  (deleted)`);
  for (const x of f.deleted.removed) out.push(`  + ${x}  (no longer deleted)`);

  if (d.checkpoint.length > 0) {
    out.push('', 'the checkpoints (shown, not compared)');
    for (const c of d.checkpoint) out.push(`  ${c.field.padEnd(17)}${checkpointValue(c.field, c.a)} | ${checkpointValue(c.field, c.b)}`);
  }
  const warnings = [...d.a.warnings.map((w) => `a ${renderWarning(w)}`), ...d.b.warnings.map((w) => `b ${renderWarning(w)}`)];
  if (warnings.length > 0) out.push('', `warnings (${warnings.length})`, ...warnings.map((w) => `  ${w}`));
  return `${out.join('\n')}\n`;
}
