import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimCluster, type SimCluster } from '../sim/sim-cluster.js';
import type { AmberProcess } from './run-amber.js';

/**
 * A simulated cluster in a temp dir for tests that run amber as real processes: push each spawned
 * process onto `procs`; at teardown they are killed, the sim closed and the dir removed.
 */
export async function simForProcesses(
  t: { teardown(fn: () => unknown): void },
  name: string,
): Promise<{ root: string; sim: SimCluster; procs: AmberProcess[] }> {
  const root = await mkdtemp(join(tmpdir(), `amber-${name}-`));
  const sim = await startSimCluster({ nodes: ['node-a'], root: join(root, 'sim') });
  const procs: AmberProcess[] = [];
  t.teardown(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await sim.close();
    await rm(root, { recursive: true, force: true });
  });
  return { root, sim, procs };
}
