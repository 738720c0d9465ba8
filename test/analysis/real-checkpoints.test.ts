/**
 * `inspectCheckpoint` on every archive real engines wrote with CRIU 4.2 (test/fixtures/real-checkpoints),
 * against what was read from /proc just before each checkpoint (`ground-truth.json`): the processes
 * (pid, parent, comm, command line, environment, exe, cwd, root, threads), their open files and
 * sockets, the filesystem changes, where the canary strings are in memory, and the indicators.
 */
import t from 'tap';
import { inspectCheckpoint } from '../../src/analysis/inspect-checkpoint.js';
import { readFileChunks } from '../../src/analysis/archive/read-file-chunks.js';
import { triageIndicators } from '../../src/analysis/triage-indicators.js';
import type { InspectedProcess, Inspection } from '../../src/analysis/inspection.js';
import { groundTruth, REAL_ARCHIVES, realPath, type Json, type RealArchive } from '../helpers/real-checkpoints.js';

const inspect = (a: RealArchive, search?: string) =>
  inspectCheckpoint(() => readFileChunks(realPath(a)), search === undefined ? {} : { search, maxMatches: 100 });

/** One `ss -tanup` line of the ground truth: `tcp ESTAB 0 0 127.0.0.1:50758 127.0.0.1:4444 users:(("sh",pid=27918,fd=1),…)`. */
function ssLines(gt: Json): { state: string; recvQ: number; sendQ: number; local: string; peer: string; users: { pid: number; fd: number }[] }[] {
  const lines: string[] = gt['sockets_ss_tanuwp'] ?? gt['sockets_ss_tanuwxp'] ?? [];
  return lines.slice(1).map((l) => {
    const [, state, recvQ, sendQ, local, peer, users = ''] = l.trim().split(/\s+/) as string[];
    return {
      state: state!,
      recvQ: Number(recvQ),
      sendQ: Number(sendQ),
      local: local!,
      peer: peer!,
      users: [...users.matchAll(/pid=(\d+),fd=(\d+)/g)].map((m) => ({ pid: Number(m[1]), fd: Number(m[2]) })),
    };
  });
}

/** What /proc/<pid>/fd/<n> links to, as our reading says it: a path, `pipe:[ino]` or `socket:[ino]`. */
function fdLinks(p: InspectedProcess): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of p.files) out[String(f.fd)] = f.kind === 'pipe' ? `pipe:[${f.pipeId}]` : (f.path ?? `?${f.kind}`);
  for (const s of p.sockets) out[String(s.fd)] = `socket:[${s.inode}]`;
  return out;
}

const expectedIndicators: Record<string, string[]> = {
  // a busybox shell loop and a sleep; the dropper written to /tmp/.x is an added executable
  shell: ['executable-added', 'frozen-time'],
  'shell-gzip': ['executable-added', 'frozen-time'],
  'crio-shell': ['executable-added', 'frozen-time'],
  // sh (pid 10) has stdin/stdout on a TCP connection to port 4444; pid 1's command line runs `nc … -e /bin/sh`
  revshell: ['reverse-shell', 'reverse-shell-cmdline', 'reverse-shell-port', 'frozen-time'],
  'crio-revshell': ['reverse-shell', 'reverse-shell-cmdline', 'reverse-shell-port', 'frozen-time'],
  // the stratum URL in pid 1's argv, and kdevtmpfsi (a known miner's name) added under /tmp/.x
  'ctrd-app': ['mining-cmdline', 'executable-added', 'frozen-time'],
};

for (const a of REAL_ARCHIVES) {
  t.test(`${a.file} (${a.engine}): processes, command lines, environments and files are what /proc said`, async (t) => {
    const gt = groundTruth(a);
    const { inspection } = await inspect(a);
    t.same(inspection.warnings, [], 'a real archive reads without warnings');
    const ours = new Map(inspection.processes.map((p) => [p.pid, p]));
    t.same(
      [...ours.keys()].sort((x, y) => x - y),
      (gt['processes'] as Json[]).map((p) => p['container_pid']).sort((x: number, y: number) => x - y),
      'the same pids',
    );
    const hostToCtr = new Map<number, number>((gt['processes'] as Json[]).map((p) => [p['host_pid'], p['container_pid']]));
    for (const g of gt['processes'] as Json[]) {
      const p = ours.get(g['container_pid']);
      if (!p) continue;
      const at = `pid ${p.pid}`;
      t.equal(p.comm, g['comm'], `${at}: comm`);
      t.same(p.cmdline, g['cmdline'], `${at}: command line`);
      t.same(p.env, g['env'], `${at}: environment, in order`);
      t.equal(p.exe, g['exe'], `${at}: exe`);
      t.equal(p.cwd, g['cwd_in_container'], `${at}: cwd`);
      t.equal(p.root, g['root'], `${at}: root`);
      t.equal(p.threads.length, g['threads'], `${at}: threads`);
      t.equal(p.ppid, hostToCtr.get(g['host_ppid']) ?? 0, `${at}: parent`);
      t.equal(p.state, 'alive', `${at}: task state`);
      // Podman's /proc was read in the host's view of socket inodes; CRIU records the same inodes.
      t.same(fdLinks(p), g['fds'], `${at}: open files`);
    }

    const { added, deleted } = inspection.rootfsDiff;
    const addedPaths = new Set(added.map((f) => f.path));
    for (const line of gt['files_added'] as string[]) {
      const path = line.split(' ')[0]!.replace(/\/$/, '');
      t.ok(addedPaths.has(path), `${path} is among the filesystem changes`);
      const mode = /\((\d{4})/.exec(line)?.[1];
      if (mode) t.equal(added.find((f) => f.path === path)?.mode, mode, `${path}: mode ${mode}`);
    }
    t.same(
      deleted,
      (gt['files_deleted'] as string[]).map((l) => l.split(' ')[0]),
      'deleted files',
    );
  });

  t.test(`${a.file}: sockets and connections are what ss said`, async (t) => {
    const gt = groundTruth(a);
    const { inspection } = await inspect(a);
    const hostToCtr = new Map<number, number>((gt['processes'] as Json[]).map((p) => [p['host_pid'], p['container_pid']]));
    const lines = ssLines(gt);
    const sockets = inspection.processes.flatMap((p) => p.sockets.map((s) => ({ pid: p.pid, ...s })));
    t.equal(new Set(sockets.map((s) => s.inode)).size, lines.length, 'one socket per ss line');
    for (const l of lines) {
      for (const u of l.users) {
        const s = sockets.find((x) => x.pid === hostToCtr.get(u.pid) && x.fd === u.fd);
        if (!s) {
          t.fail(`no socket on pid ${hostToCtr.get(u.pid)} fd ${u.fd}`);
          continue;
        }
        t.equal(s.state, 'ESTABLISHED', `pid ${s.pid} fd ${s.fd}: state`);
        t.equal(s.local, l.local, `pid ${s.pid} fd ${s.fd}: local ${l.local}`);
        t.equal(s.remote, l.peer, `pid ${s.pid} fd ${s.fd}: peer ${l.peer}`);
      }
    }
  });

  t.test(`${a.file}: every canary is found in memory as often as it is in the pages files`, async (t) => {
    const gt = groundTruth(a);
    const raw = gt['marker_raw_occurrences_in_archive'] as Record<string, Record<string, number>> | undefined;
    if (!raw) return void t.fail('the ground truth says where each canary is');
    const { inspection } = await inspect(a);
    for (const [marker, where] of Object.entries(raw)) {
      const inPages = Object.entries(where).filter(([f]) => /^checkpoint\/pages-\d+\.img$/.test(f));
      const { matches = [] } = await inspect(a, marker);
      const want = inPages.reduce((n, [, c]) => n + c, 0);
      t.equal(matches.length, want, `${marker}: ${want} matches in ${inPages.map(([f, c]) => `${f}×${c}`).join(', ') || 'no pages file'}`);
      for (const m of matches)
        t.ok(
          inspection.processes.some((p) => p.pid === m.pid),
          `${marker} at ${m.address} belongs to a process of the dump`,
        );
    }
  });

  t.test(`${a.file}: the indicators an analyst needs`, async (t) => {
    const { inspection } = await inspect(a);
    const ids = triageIndicators(inspection as Inspection).map((i) => i.id);
    t.same([...new Set(ids)].sort(), [...(expectedIndicators[a.folder] ?? [])].sort());
  });
}

t.test('the end-of-archive block split across two chunks (decompressed streams come in any size) is not damage', async (t) => {
  const { createReadStream, statSync } = await import('node:fs');
  const a = REAL_ARCHIVES.find((x) => x.folder === 'ctrd-app')!;
  const whole = (await inspectCheckpoint(() => readFileChunks(realPath(a)))).inspection;
  // chunk sizes that put a chunk boundary inside the first zero block at several offsets
  const size = statSync(realPath(a)).size;
  for (const chunk of [65_200, 100_003, 511, 4097]) {
    const { inspection } = await inspectCheckpoint(() => createReadStream(realPath(a), { highWaterMark: chunk }));
    t.same(inspection.warnings, [], `${chunk}-byte chunks of a ${size}-byte archive`);
    t.same(inspection.processes, whole.processes);
  }
});
