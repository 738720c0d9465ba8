/** A 1 GiB checkpoint through the kubelet: generated as a stream, memory flat. */
import t from 'tap';
import { closeSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { startSimCluster } from '../sim/sim-cluster.js';
import { criuImage, decode, https, listTarUntilEnd, num } from './helpers.js';

const GiB = 1024 ** 3;

t.test('1 GiB of pages: peak RSS growth under 100 MiB, argv still at the pagemap offset', async (t) => {
  const sim = await startSimCluster();
  t.teardown(() => sim.close());
  sim.addPod({ namespace: 'batch', name: 'big', node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.4.2' }] });
  sim.archive.pagesBytes = GiB;

  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const started = Date.now();
  const r = await https(`https://127.0.0.1:${sim.kubeletPort('node-a')}/checkpoint/batch/big/app`, { method: 'POST', ca: sim.caCert, token: sim.token });
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  const seconds = (Date.now() - started) / 1000;
  t.equal(r.status, 200, r.text);
  const path = r.json<{ items: string[] }>().items[0] ?? '';
  t.teardown(() => rmSync(path, { force: true }));
  const growth = (peak - baseline) / 2 ** 20;
  t.comment(
    `1 GiB archive in ${seconds.toFixed(1)} s; RSS ${Math.round(baseline / 2 ** 20)} → peak ${Math.round(peak / 2 ** 20)} MiB (+${growth.toFixed(1)} MiB)`,
  );
  t.ok(growth < 100, `peak RSS growth ${growth.toFixed(1)} MiB < 100 MiB`);
  t.ok(statSync(path).size > GiB);

  const entries = listTarUntilEnd(path);
  const pages1 = entries.find((e) => e.name === 'checkpoint/pages-1.img');
  t.equal(pages1?.size, GiB);
  const fd = openSync(path, 'r');
  t.teardown(() => closeSync(fd));
  const read = (offset: number, length: number) => {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  };
  const image = (name: string) => {
    const e = entries.find((x) => x.name === `checkpoint/${name}`);
    return criuImage(read(e?.offset ?? 0, e?.size ?? 0)).records.map(decode);
  };
  const mm = image('mm-1.img')[0];
  const [, ...runs] = image('pagemap-1.img');
  const argStart = num(mm ?? new Map(), 8),
    argEnd = num(mm ?? new Map(), 9);
  let off = 0;
  let argv = '';
  t.ok(
    runs.every((r) => num(r, 2) === 0),
    'CRIU 4.2 form: compat_nr_pages = 0',
  );
  for (const run of runs) {
    const vaddr = num(run, 1),
      n = num(run, 5); // nr_pages
    if (argStart >= vaddr && argEnd <= vaddr + n * 4096) argv = read((pages1?.offset ?? 0) + off + argStart - vaddr, argEnd - argStart).toString();
    off += n * 4096;
  }
  t.ok(runs.length > 500, `${runs.length} pagemap runs`);
  t.equal(off, GiB, 'the runs cover pages-1.img exactly');
  t.equal(argv, '/bin/sh\0/app/entrypoint.sh\0', 'argv at the top of the stack, in the last 12 KiB of the 1 GiB file');
  t.not(read((pages1?.offset ?? 0) + GiB / 2, 4096).toString('hex'), '00'.repeat(4096), 'page data is there, not a hole');
});
