import { resolve } from 'node:path';
import { AmberError } from '../../core/amber-error.js';
import { IntakeMetrics } from '../../http/intake-metrics.js';
import { startHealthServer } from '../../http/start-health-server.js';
import { loadKubeConfig } from '../../kube/kube-api.js';
import type { KubeletAddress } from '../../kube/resolve-target.js';
import { KubeQueue } from '../../queue/kube/kube-queue.js';
import { addCaptureRestore } from '../../queue/kube/add-capture-restore.js';
import { captureApi, type CaptureApi } from '../../kube/capture-api.js';
import { mergeJwks } from '../../evidence/signing-key.js';
import type { Logger } from 'pino';
import { loadJwks } from '../verify-command.js';
import { runRestoreRequests } from './restore-requests.js';
import { sandboxRestore } from './ui-restorer.js';
import type { Settings } from '../../config/settings.js';
import { version, type Io } from '../cli-support.js';
import { loadRolePolicies, loadRoleSettings, loadRoleYara } from './role-settings.js';
import { captureNamespace, closeStarted, runUntilSignalled, stopInOrder, type CapturingServing } from './serving.js';
import { configuredKubeletAddress, setUpEvidence, startCaptureSide, type CaptureSide, type Evidence } from './start-capture.js';

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
  const kc = loadKubeConfig(settings.kubeconfig, io.env);
  const queue = KubeQueue.forAgent({ kc, namespace, node, log, backoff });
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
    const requests = await restoreRequestsOf({ settings, evidence, queue, api: captureApi(kc, namespace), log, env: io.env });
    const server = await startHealthServer({ queue, log, metrics }, { listen: settings.listen, tls: settings.tls });
    log.info({ url: server.url, dataDir: resolve(settings.dataDir), store: settings.store, version: version() }, 'amber is serving');
    const stopAll = stopInOrder(log, { server, capture, queue });
    return {
      role: 'agent',
      server,
      settings,
      log,
      capture,
      stop: async () => {
        requests?.stop();
        await stopAll();
      },
    };
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

/**
 * With `ui.restore`, the agent runs the restores a responder's evidence browser files on this
 * node's Captures (restore-requests.ts), verifying with its own key and `--jwks-file`'s.
 */
async function restoreRequestsOf(p: {
  settings: Settings;
  evidence: Evidence;
  queue: KubeQueue;
  api: CaptureApi;
  log: Logger;
  env: Io['env'];
}): Promise<{ stop(): void } | undefined> {
  const conf = p.settings.ui.restore;
  if (conf === undefined) return undefined;
  const published = p.settings.jwksFile !== undefined ? (await loadJwks(p.settings.jwksFile, false)).keys : [];
  const restore = sandboxRestore({
    settings: p.settings,
    conf,
    signingKey: p.evidence.signingKey,
    jwks: mergeJwks([p.evidence.signingKey.publicJwk], published),
    log: p.log,
    env: p.env,
    component: 'amber agent (evidence browser)',
    list: (id, restore) => addCaptureRestore(p.api, id, restore),
  });
  p.log.warn({ image: conf.image, namespace: conf.namespace }, "the agent restores what the evidence browser asks on this node's captures (ui.restore)");
  return runRestoreRequests({ queue: p.queue, api: p.api, restore, log: p.log });
}
