import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Settings } from '../../config/settings.js';
import { kubeApi, loadKubeConfig } from '../../kube/kube-api.js';
import { placeTarget } from '../../kube/place-target.js';
import { failUnclaimed } from '../../queue/kube/fail-unclaimed.js';
import { KubeQueue } from '../../queue/kube/kube-queue.js';
import type { RunningServer } from '../../http/start-server.js';
import { version, type Io } from '../cli-support.js';
import { loadRolePolicies, loadRoleSettings } from './role-settings.js';
import { captureNamespace, closeStarted, runUntilSignalled, stopInOrder, type Serving } from './serving.js';
import { openStore } from '../../storage/open-store.js';
import { s3StoreSettings } from '../s3-store-settings.js';
import { publishedJwks, setUpIntake, startAdmission, startIntake } from './start-intake.js';
import { setUpUi } from './ui-setup.js';
import { requestingRestorer } from './ui-restorer.js';
import { captureApi } from '../../kube/capture-api.js';

/**
 * `amber responder`, the cluster's intake: policies decide, and each capture becomes a Capture
 * resource for the agent on the target's node. It holds no signing key and never writes evidence;
 * the evidence browser reads sealed bundles from --store (the agents' bucket), and its restore
 * button (`ui.restore`) files requests on the Capture for the agent to run.
 */
export async function startResponder(args: readonly string[], io: Io): Promise<Serving | undefined> {
  const started = await loadRoleSettings(args, io, 'responder');
  if (!started) return undefined;
  const { settings, log } = started;
  const policies = await loadRolePolicies(settings, log, 'responder');
  const intake = await setUpIntake(settings, log, policies);
  // the responder verifies nothing itself, but analysts fetch the keys from it
  if (intake.published.length === 0) log.warn('no public keys to publish at /.well-known/jwks.json: set --jwks-file (the Helm chart does)');
  // read-only: the desk only lists and reads; nothing is checked or cleaned up at start (the agents do that)
  const store = openStore(settings.store, s3StoreSettings(settings.s3, io.env)).store;
  const kc = loadKubeConfig(settings.kubeconfig, io.env);
  const api = kubeApi(kc);
  const namespace = captureNamespace(settings, io.env);
  const ui = await setUpUi(settings, log, { store, jwks: publishedJwks({ setup: intake }) });
  // the restore button files the request on the Capture: the agent of its node restores it
  const browser = { ...ui, restorer: requestingRestorer({ settings, api: captureApi(kc, namespace), log }) };
  const backoff = { baseMs: settings.kube.apiBackoffBaseMs, maxMs: settings.kube.apiBackoffMaxMs };
  log.info({ namespace }, 'responder: Captures are created as resources');
  const queue = KubeQueue.forResponder({ kc, namespace, log, backoff, place: (target) => placeTarget(api, target), budgets: settings.budgets });
  // lists, retrying with backoff until the API answers: /readyz says 503 until then, the process never exits over it
  queue.start();
  const sweeper = sweepUnclaimed(queue, settings, log);
  let server: RunningServer | undefined;
  try {
    server = await startIntake({ settings, log, queue, policies, setup: intake, browser });
    const admission = await startAdmission({ settings, log, queue, policies, setup: intake });
    log.info({ url: server.url, dataDir: resolve(settings.dataDir), store: settings.store, version: version() }, 'amber is serving');
    return { role: 'responder', server, settings, log, stop: stopInOrder(log, { server, admission, queue, timers: [sweeper] }) };
  } catch (e) {
    await server?.close();
    await closeStarted({ queue, timers: [sweeper] });
    throw e;
  }
}

/** Every minute, Captures no agent took within `kube.unclaimedSeconds` fail with NoAgent (any replica may do it). */
function sweepUnclaimed(queue: KubeQueue, settings: Settings, log: Logger): NodeJS.Timeout {
  const timer = setInterval(
    () => {
      // best-effort: the next sweep tries again
      failUnclaimed(queue, settings.kube.unclaimedSeconds * 1000).then(
        (ids) => ids.length > 0 && log.warn({ captures: ids, afterSeconds: settings.kube.unclaimedSeconds }, 'captures no agent took are failed (NoAgent)'),
        (err: unknown) => log.warn({ err }, 'could not check for unclaimed captures'),
      );
    },
    Math.min(60_000, settings.kube.unclaimedSeconds * 500),
  );
  timer.unref();
  return timer;
}

/** `amber responder`: runs until SIGTERM/SIGINT, then shuts down within the grace period. */
export async function responderCommand(args: readonly string[], io: Io): Promise<number> {
  return runUntilSignalled(await startResponder(args, io));
}
