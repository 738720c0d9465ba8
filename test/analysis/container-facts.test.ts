import t from 'tap';
import { containerFacts, detectEngine } from '../../src/analysis/archive/container-facts.js';

const names = (...n: string[]) => new Set(n);
const buf = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

t.test('the engine is told by the contents: the manager annotation, then the members, then the annotation families', async (t) => {
  const crioAnnotations = { 'io.kubernetes.cri-o.Created': '2026-01-01T00:00:00Z', 'io.kubernetes.cri-o.TTY': 'false' };
  t.equal(
    detectEngine(names('checkpoint'), { 'io.container.manager': 'libpod', ...crioAnnotations }, {}),
    'podman',
    'Podman copies CRI-O annotations; its manager says libpod',
  );
  t.equal(detectEngine(names('checkpoint', 'network.status'), crioAnnotations, {}), 'podman', 'network.status without the annotation');
  t.equal(detectEngine(names('checkpoint'), crioAnnotations, { lockID: 0, CreateCommand: [] }), 'podman', "libpod's own config.dump");
  t.equal(detectEngine(names('checkpoint'), { 'io.container.manager': 'cri-o' }, {}), 'cri-o');
  t.equal(detectEngine(names('checkpoint', 'io.kubernetes.cri-o.LogPath'), {}, {}), 'cri-o', 'the log member CRI-O names after its annotation');
  t.equal(detectEngine(names('checkpoint', 'bind.mounts'), {}, {}), 'cri-o');
  t.equal(detectEngine(names('checkpoint', 'status.dump'), {}, {}), 'containerd');
  t.equal(detectEngine(names('checkpoint', 'container.log'), {}, {}), 'containerd');
  t.equal(detectEngine(names('checkpoint'), { 'io.kubernetes.cri.container-name': 'app' }, {}), 'containerd');
  t.equal(detectEngine(names('checkpoint'), crioAnnotations, {}), 'cri-o', 'CRI-O annotations and nothing else');
  t.equal(detectEngine(names('checkpoint'), {}, {}), undefined, 'a tarred CRIU folder names no engine');
  t.equal(detectEngine(names('checkpoint.tar.zst', 'checkpoint'), {}, {}), undefined, 'never the file name');
});

t.test("Podman's network.status gives IP and MAC, in Podman 4's format and in Podman 3's CNI results", async (t) => {
  const podman4 = {
    podman: { interfaces: { eth0: { subnets: [{ ipnet: '10.88.0.7/16', gateway: '10.88.0.1' }, { ipnet: 'fd00::7/64' }], mac_address: '2a:6e:11:00:aa:07' } } },
    backend: { interfaces: { eth1: { subnets: [{ ipnet: '192.168.50.3/24' }], mac_address: '2a:6e:11:00:aa:08' } } },
  };
  const a = containerFacts({
    entryNames: names('network.status'),
    spec: buf({ annotations: { 'io.container.manager': 'libpod' } }),
    networkStatus: buf(podman4),
  });
  t.match(a.facts, { engine: 'podman', ip: '10.88.0.7', mac: '2a:6e:11:00:aa:07' });
  t.same(a.facts.networks, [
    { network: 'podman', interface: 'eth0', addresses: ['10.88.0.7/16', 'fd00::7/64'], mac: '2a:6e:11:00:aa:07', gateway: '10.88.0.1' },
    { network: 'backend', interface: 'eth1', addresses: ['192.168.50.3/24'], mac: '2a:6e:11:00:aa:08' },
  ]);

  const cni = [
    {
      cniVersion: '0.4.0',
      interfaces: [
        { name: 'cni-podman0', mac: 'aa:aa:aa:aa:aa:01' },
        { name: 'veth1', mac: 'aa:aa:aa:aa:aa:02' },
        { name: 'eth0', mac: 'aa:aa:aa:aa:aa:03', sandbox: '/run/netns/x' },
      ],
      ips: [{ version: '4', interface: 2, address: '10.88.0.9/16', gateway: '10.88.0.1' }],
    },
  ];
  const b = containerFacts({ entryNames: names('network.status'), networkStatus: buf(cni) });
  t.match(b.facts, { engine: 'podman', ip: '10.88.0.9', mac: 'aa:aa:aa:aa:aa:03' });

  const none = containerFacts({ entryNames: names('network.status'), networkStatus: buf('null') });
  t.same([none.facts.ip, none.facts.mac, none.facts.networks, none.warnings], [undefined, undefined, undefined, []], '`null`: no network, and nothing wrong');
  const bad = containerFacts({ entryNames: names('network.status'), networkStatus: buf('{"podman": ') });
  t.match(bad.warnings, [{ file: 'network.status', message: /not JSON/ }]);
  const odd = containerFacts({ entryNames: names('network.status'), networkStatus: buf('42') });
  t.match(odd.warnings, [{ file: 'network.status', message: /neither a map of networks nor a list/ }]);
});

t.test('CRI-O: the IP annotation, the pod from its annotations, the name from its metadata', async (t) => {
  const spec = {
    annotations: {
      'io.container.manager': 'cri-o',
      'io.kubernetes.cri-o.IP.0': '10.244.3.4',
      'io.kubernetes.cri-o.IP.1': 'fd00::4',
      'io.kubernetes.cri-o.Metadata': '{"name":"web"}',
      'io.kubernetes.pod.name': 'shop-7d9',
      'io.kubernetes.pod.namespace': 'shop',
    },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/data', type: 'bind', source: '/var/data', options: ['rbind', 'ro'] },
      { type: 'tmpfs' },
    ],
  };
  const { facts, mounts, warnings } = containerFacts({
    entryNames: names('checkpoint'),
    spec: buf(spec),
    dumpLogHead: '(00.000000) CRIU run id = x\n(00.000034) Version: 4.1.1 (gitid v4.1.1-12-gabc)\n',
  });
  t.match(facts, { engine: 'cri-o', ip: '10.244.3.4', name: 'web', pod: 'shop-7d9', namespace: 'shop', criuVersion: '4.1.1 (v4.1.1-12-gabc)' });
  t.equal(facts.annotations?.['io.kubernetes.cri-o.IP.1'], 'fd00::4', 'further addresses stay in the annotations');
  t.same(
    mounts,
    [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/data', type: 'bind', source: '/var/data', options: ['rbind', 'ro'] },
    ],
    'a mount without a destination is left out',
  );
  t.same(warnings, []);
});
