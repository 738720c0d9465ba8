import { resolve } from 'node:path';
import { loadPolicies } from '../policy/load-policies.js';
import { FileQueue } from '../queue/file-queue.js';
import { version, type Io } from './cli-support.js';
import { defaultRecipients } from './encryption-setup.js';
import { loadRoleSettings } from './role-settings.js';
import { closeStarted, runUntilSignalled, stopInOrder, type CapturingServing } from './serving.js';
import { configuredKubeletAddress, openCheckedStore, setUpSigning, startCaptureSide, type CaptureSide } from './start-capture.js';
import { setUpIntake, startIntake } from './start-intake.js';

/**
 * `amber serve`, the all-in-one composition root: intake, policies, the embedded file journal as
 * the queue, and the capture worker, in one process. Builds every part from settings and starts
 * listening; throws (with a code) when it cannot; undefined after --help.
 */
export async function startServe(args: readonly string[], io: Io): Promise<CapturingServing | undefined> {
  const started = await loadRoleSettings(args, io, 'serve');
  if (!started) return undefined;
  const { settings, log } = started;
  const policies = await loadPolicies(settings.policies, { recipients: await defaultRecipients(settings) });
  log.info({ dir: resolve(settings.policies), policies: policies.map((p) => p.name) }, 'policies loaded');
  const store = await openCheckedStore(settings, io.env, policies, log);
  const intake = await setUpIntake(settings, log);
  const signingKey = await setUpSigning(settings, log);
  const queue = await FileQueue.open({ dir: resolve(settings.dataDir, 'journal') });
  let capture: CaptureSide | undefined;
  try {
    capture = await startCaptureSide({
      settings,
      store,
      queue,
      signingKey,
      log,
      version: version(),
      // the targets' nodes may be any: the Node's addresses unless --kubelet-address says otherwise
      kubeletAddress: configuredKubeletAddress(settings, undefined),
      runsOn: { node: io.env['NODE_NAME'], pod: io.env['POD_NAME'] },
      kubeEnv: io.env,
    });
    const server = await startIntake({ settings, log, queue, policies, setup: intake, signingKey });
    log.info({ url: server.url, dataDir: resolve(settings.dataDir), store: settings.store, version: version() }, 'amber is serving');
    return { role: 'serve', server, settings, log, capture, stop: stopInOrder(log, { server, capture, queue }) };
  } catch (e) {
    await closeStarted({ capture, queue });
    throw e;
  }
}

/** `amber serve`: runs until SIGTERM/SIGINT, then shuts down within the grace period. */
export async function serveCommand(args: readonly string[], io: Io): Promise<number> {
  return runUntilSignalled(await startServe(args, io));
}
