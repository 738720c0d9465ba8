import { resolve } from 'node:path';
import { AmberError } from '../../core/amber-error.js';
import { IntakeMetrics } from '../../http/intake-metrics.js';
import { startHealthServer } from '../../http/start-health-server.js';
import { loadKubeConfig } from '../../kube/kube-api.js';
import type { KubeletAddress } from '../../kube/resolve-target.js';
import { KubeQueue } from '../../queue/kube/kube-queue.js';
import type { Settings } from '../../config/settings.js';
import { version, type Io } from '../cli-support.js';
import { loadRolePolicies, loadRoleSettings, loadRoleYara } from './role-settings.js';
import { captureNamespace, closeStarted, runUntilSignalled, stopInOrder, type CapturingServing } from './serving.js';
import { configuredKubeletAddress, setUpEvidence, startCaptureSide, type CaptureSide } from './start-capture.js';

/**
 * `amber agent`, one per node: takes the Captures of its node from the API server, checkpoints
 * through its own kubelet, seals and stores the evidence. It takes no alerts: it serves only
 * /healthz, /readyz and /metrics.
 */
export async function startAgent(args: readonly string[], io: Io): Promise<CapturingServing | undefined> {
  const started = await loadRoleSettings(args, io, 'agent');
  if (!started) return undefined;
  const { settings, log } = started;
  // the policies say whether evidence must be locked: the store is checked against them
  const policies = await loadRolePolicies(settings, log, 'agent');
  const yara = await loadRoleYara(settings, log);
  const evidence = await setUpEvidence(settings, io.env, policies, log);
  const node = settings.kube.node ?? io.env['NODE_NAME'];
  if (node === undefined || node === '') {
    throw new AmberError('CONFIG_INVALID', {
      setting: 'kube.node',
      problem: 'an agent needs its node name (--node, AMBER_NODE, or NODE_NAME from the downward API)',
    });
  }
  const namespace = captureNamespace(settings, io.env);
  const backoff = { baseMs: settings.kube.apiBackoffBaseMs, maxMs: settings.kube.apiBackoffMaxMs };
  log.info({ namespace, node }, 'agent: taking the Captures of this node');
  const queue = KubeQueue.forAgent({ kc: loadKubeConfig(settings.kubeconfig, io.env), namespace, node, log, backoff });
  // lists and watches, retrying with backoff until the API answers: /readyz says 503 until then
  queue.start();
  let capture: CaptureSide | undefined;
  try {
    const metrics = new IntakeMetrics({ processMetrics: true });
    capture = await startCaptureSide({
      settings,
      evidence,
      queue,
      log,
      kubeletAddress: agentKubeletAddress(settings, node, io.env),
      env: io.env,
      policies,
      yara,
      registry: metrics.registry,
      captureNamespace: namespace,
    });
    const server = await startHealthServer({ queue, log, metrics }, { listen: settings.listen, tls: settings.tls });
    log.info({ url: server.url, dataDir: resolve(settings.dataDir), store: settings.store, version: version() }, 'amber is serving');
    return { role: 'agent', server, settings, log, capture, stop: stopInOrder(log, { server, capture, queue }) };
  } catch (e) {
    await closeStarted({ capture, queue });
    throw e;
  }
}

/**
 * Where the agent reaches its kubelet: `--kubelet-address`, else its node's IP from the downward
 * API (NODE_IP = status.hostIP, the chart sets it), which is the address its kubelet serves on
 * whatever order the Node lists its addresses in; else the Node's addresses.
 */
function agentKubeletAddress(settings: Settings, node: string, env: Io['env']): KubeletAddress | undefined {
  const configured = configuredKubeletAddress(settings, node);
  if (configured !== undefined) return configured;
  const nodeIP = env['NODE_IP']?.trim();
  return nodeIP ? { host: nodeIP, node } : undefined;
}

/** `amber agent`: runs until SIGTERM/SIGINT, then shuts down within the grace period. */
export async function agentCommand(args: readonly string[], io: Io): Promise<number> {
  return runUntilSignalled(await startAgent(args, io));
}
