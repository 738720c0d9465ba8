import { join } from 'node:path';
import t from 'tap';
import { spawnAmber } from '../helpers/run-amber.js';
import { simForProcesses } from '../helpers/sim-processes.js';

t.test('serve, responder and agent start and stop without a warning on stderr (no DeprecationWarning, no FSTDEP…)', async (t) => {
  const { root, sim, procs } = await simForProcesses(t, 'warnings');
  const kube = ['--kubeconfig', sim.kubeconfigPath, '--namespace', 'amber-system', '--cluster', 'sim', '--listen', '127.0.0.1:0'];
  const roles: Record<string, string[]> = {
    serve: [
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      join(root, 'serve'),
      '--store',
      `file://${join(root, 'serve-evidence')}`,
      '--kubeconfig',
      sim.kubeconfigPath,
    ],
    responder: ['responder', ...kube, '--data-dir', join(root, 'responder')],
    agent: [
      'agent',
      ...kube,
      '--node',
      'node-a',
      '--data-dir',
      join(root, 'agent'),
      '--store',
      `file://${join(root, 'evidence')}`,
      '--kubelet-ca',
      sim.caFile,
      '--checkpoint-dir',
      sim.checkpointDir('node-a'),
      '--min-free-bytes',
      '0',
    ],
  };
  const started = Object.entries(roles).map(([role, args]) => {
    const p = spawnAmber(args);
    procs.push(p);
    return { role, p };
  });
  for (const { role, p } of started) {
    const { url } = (await p.waitForLog('amber is serving', 60_000)) as { url: string };
    // a request through each server: fastify warns about some options only when they are used
    t.equal((await fetch(`${url}/healthz`)).status, 200, `${role} answers`);
  }
  for (const { role, p } of started) {
    p.child.kill('SIGTERM');
    t.equal(await p.exited(), 0, `${role} stops cleanly`);
    t.equal(p.stderr.join(''), '', `${role}: nothing on stderr`);
    t.notMatch(p.stdout.join('\n'), /DeprecationWarning|FSTDEP/, `${role}: no deprecation in the log either`);
  }
});
