import t from 'tap';
import type { Inspection } from '../../src/analysis/inspection.js';
import { formatBytes, formatUs, renderInspection } from '../../src/cli/render-inspection.js';

const inspection: Inspection = {
  container: {
    engine: 'podman',
    name: 'web',
    id: 'f'.repeat(64),
    image: 'docker.io/library/nginx:1.27',
    imageRef: 'ab'.repeat(32),
    ociRuntime: 'crun',
    createdAt: '2026-12-01T10:00:00Z',
    ip: '10.88.0.7',
    mac: '2a:6e:11:00:aa:07',
    networks: [{ network: 'podman', interface: 'eth0', addresses: ['10.88.0.7/16'], mac: '2a:6e:11:00:aa:07', gateway: '10.88.0.1' }],
    annotations: { 'io.container.manager': 'libpod' },
  },
  processes: [
    {
      pid: 1,
      ppid: 0,
      comm: 'nginx',
      threads: [1],
      state: 'alive',
      uid: 0,
      cmdline: ['nginx', '-g', 'daemon off;'],
      env: ['PATH=/usr/bin'],
      cwd: '/',
      files: [
        { fd: 0, kind: 'file', path: '/dev/null' },
        { fd: 2, kind: 'pipe', pipeId: 77 },
      ],
      sockets: [
        {
          fd: 1,
          kind: 'inet',
          family: 'ipv4',
          protocol: 'tcp',
          state: 'ESTABLISHED',
          local: '10.88.0.7:80',
          remote: '10.88.0.1:51234',
          inode: 9,
          sendBuffer: 3939840,
          recvBuffer: 131072,
          recvQueue: 0,
          sendQueue: 517,
          unsentQueue: 0,
        },
      ],
    },
    {
      pid: 7,
      ppid: 1,
      comm: 'worker',
      threads: [7, 8],
      state: 'stopped',
      cmdline: [],
      env: [],
      files: [],
      sockets: [{ fd: 3, kind: 'inet', protocol: 'udp', family: 'ipv4', local: '0.0.0.0:53', inode: 10 }],
    },
  ],
  rootfsDiff: { added: [], deleted: [] },
  mounts: [{ destination: '/etc/hosts', type: 'bind', source: '/run/x/hosts', options: ['rbind', 'ro'] }],
  checkpointSize: { totalBytes: 173843, memoryPagesBytes: 139264, rootfsDiffBytes: 233 },
  compression: 'zstd',
  stats: {
    freezingTimeUs: 4298,
    frozenTimeUs: 70728,
    memdumpTimeUs: 714,
    memwriteTimeUs: 156,
    pagesScanned: 48,
    pagesWritten: 34,
    pagesSkippedParent: 0,
    pagesLazy: 0,
  },
  warnings: [],
};

t.test('sizes and times are printed as checkpointctl prints them', async (t) => {
  t.same([0, 233, 1023, 1024, 2560, 173843, 3939840, 5 * 2 ** 30].map(formatBytes), [
    '0 B',
    '233 B',
    '1023 B',
    '1.0 KiB',
    '2.5 KiB',
    '169.8 KiB',
    '3.8 MiB',
    '5.0 GiB',
  ]);
  t.same([714, 999, 4298, 70728].map(formatUs), ['714 µs', '999 µs', '4.3 ms', '70.7 ms']);
});

t.test('the text view shows the engine, runtime, addresses, sizes, CRIU statistics, mounts and annotations', async (t) => {
  const text = renderInspection('web.tar.zst', inspection, []);
  t.match(text, /^archive {4}web\.tar\.zst \(zstd\)$/m);
  t.match(text, /^engine {5}Podman$/m);
  t.match(text, /^runtime {4}crun$/m);
  t.match(text, /^ip {9}10\.88\.0\.7$/m);
  t.match(text, /^mac {8}2a:6e:11:00:aa:07$/m);
  t.match(text, /^network {4}podman eth0 10\.88\.0\.7\/16 mac 2a:6e:11:00:aa:07 gateway 10\.88\.0\.1$/m);
  t.match(text, /^size {7}169\.8 KiB of CRIU images, 136\.0 KiB of them memory pages; rootfs diff 233 B$/m);
  t.match(text, /^frozen {5}70\.7 ms \(freezing 4\.3 ms, memdump 714 µs, memwrite 156 µs\)$/m);
  t.match(text, /^pages {6}48 scanned, 34 written$/m, 'zero skipped and lazy pages are not listed');
  t.match(text, /^ {2}\/etc\/hosts {2}bind {2}\/run\/x\/hosts {2}\(rbind,ro\)$/m);
  t.match(text, /^ {2}io\.container\.manager: libpod$/m);
});

t.test('processes show their task state when not alive, descriptors in fd order, sockets with queues and buffers', async (t) => {
  const text = renderInspection('web.tar', inspection, []);
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith('  1 nginx'));
  t.same(lines.slice(at, at + 7), [
    "  1 nginx uid=0: nginx -g 'daemon off;'",
    '      cwd /',
    '      env PATH=/usr/bin',
    '      fd 0: file /dev/null',
    '      fd 1: tcp ipv4 ESTABLISHED 10.88.0.7:80 -> 10.88.0.1:51234  (recv-q 0 send-q 517 unsent 0, sndbuf 3.8 MiB rcvbuf 128.0 KiB)',
    '      fd 2: pipe pipe:[77]',
    '    7 worker threads=2 state=stopped: [worker]',
  ]);
  t.match(text, /^ {8}fd 3: udp ipv4 0\.0\.0\.0:53$/m, 'a socket without queues prints none');
});
