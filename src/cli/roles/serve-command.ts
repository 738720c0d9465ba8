import { resolve } from 'node:path';
import type { Settings } from '../../config/settings.js';
import type { Capture } from '../../core/capture.js';
import { hasNodeBudgets } from '../../core/capture-budget.js';
import { kubeApi, loadKubeConfig } from '../../kube/kube-api.js';
import { placeTarget } from '../../kube/place-target.js';
import { FileQueue } from '../../queue/file/file-queue.js';
import type { RunningServer } from '../../http/start-server.js';
import { version, type Io } from '../cli-support.js';
import { loadRolePolicies, loadRoleSettings, loadRoleYara } from './role-settings.js';
import { closeStarted, runUntilSignalled, stopInOrder, type CapturingServing } from './serving.js';
import { configuredKubeletAddress, setUpEvidence, startCaptureSide, type CaptureSide } from './start-capture.js';
import { publishedJwks, setUpIntake, startAdmission, startIntake } from './start-intake.js';
import { setUpUi } from './ui-setup.js';
import { uiRestorer } from './ui-restorer.js';

/**
 * `amber serve`, the all-in-one composition root: intake, policies, the embedded file journal as
 * the queue, and the capture worker, in one process. Builds every part from settings and starts
 * listening; throws (with a code) when it cannot; undefined after --help.
 */
export async function startServe(args: readonly string[], io: Io): Promise<CapturingServing | undefined> {
  const started = await loadRoleSettings(args, io, 'serve');
  if (!started) return undefined;
  const { settings, log } = started;
  const policies = await loadRolePolicies(settings, log, 'serve');
  const yara = await loadRoleYara(settings, log);
  const evidence = await setUpEvidence(settings, io.env, policies, log);
  const intake = await setUpIntake(settings, log, policies);
  const jwks = publishedJwks({ signingKey: evidence.signingKey, setup: intake });
  const ui = await setUpUi(settings, log, { store: evidence.store.store, jwks });
  const queue = await FileQueue.open({ dir: resolve(settings.dataDir, 'journal'), budgets: settings.budgets, nodeOf: nodeOfTargets(settings, io.env) });
  const browser = { ...ui, restorer: uiRestorer({ settings, queue, signingKey: evidence.signingKey, jwks, log, env: io.env }) };
  let capture: CaptureSide | undefined;
  let server: RunningServer | undefined;
  let admission: RunningServer | undefined;
  try {
    // the targets may be on any node: the Node's addresses, unless --kubelet-address says otherwise
    capture = await startCaptureSide({
      settings,
      evidence,
      queue,
      log,
      kubeletAddress: configuredKubeletAddress(settings, undefined),
      env: io.env,
      policies,
      yara,
      registry: intake.metrics.registry,
    });
    server = await startIntake({ settings, log, queue, policies, setup: intake, signingKey: evidence.signingKey, browser });
    admission = await startAdmission({ settings, log, queue, policies, setup: intake });
    log.info({ url: server.url, dataDir: resolve(settings.dataDir), store: settings.store, version: version() }, 'amber is serving');
    return { role: 'serve', server, settings, log, capture, stop: stopInOrder(log, { server, admission, capture, queue }) };
  } catch (e) {
    await server?.close();
    await closeStarted({ capture, queue });
    throw e;
  }
}

/**
 * For the node budgets: the target pod's node, read at intake (best-effort: a pod that cannot be
 * read leaves the node unknown, and the node budgets do not apply to that capture). None without
 * node budgets or a Kubernetes configuration.
 */
function nodeOfTargets(settings: Settings, env: Io['env']): ((target: Capture['spec']['target']) => Promise<string | undefined>) | undefined {
  if (!hasNodeBudgets(settings.budgets)) return undefined;
  let api: ReturnType<typeof kubeApi>;
  try {
    api = kubeApi(loadKubeConfig(settings.kubeconfig, env));
  } catch {
    return undefined; // start-capture.ts says so in its warning
  }
  return async (target) => {
    const placed = await placeTarget(api, target);
    return 'node' in placed ? placed.node : undefined;
  };
}

/** `amber serve`: runs until SIGTERM/SIGINT, then shuts down within the grace period. */
export async function serveCommand(args: readonly string[], io: Io): Promise<number> {
  return runUntilSignalled(await startServe(args, io));
}
