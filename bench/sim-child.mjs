// The simulated cluster in a process of its own, driven over IPC, so that in benchmarks the
// kubelet's and API server's work does not share amber's event loop (as it would not in a cluster).
import { startSimCluster } from '../dist/sim/sim-cluster.js';

const sim = await startSimCluster({ nodes: ['node-a'] });
sim.archive.pagesBytes = Number(process.env.SIM_PAGES_BYTES ?? 16 * 1024);
let sent = 0;
setInterval(() => {
  while (sent < sim.receipts.length) process.send({ receipt: sim.receipts[sent++] });
}, 1).unref();
process.on('message', async (m) => {
  if (m.addPod) process.send({ id: m.id, pod: sim.addPod(m.addPod) });
  if (m.close) {
    await sim.close();
    process.exit(0);
  }
});
process.send({ ready: { kubeconfigPath: sim.kubeconfigPath, caFile: sim.caFile, token: sim.token, checkpointDir: sim.checkpointDir('node-a') } });
