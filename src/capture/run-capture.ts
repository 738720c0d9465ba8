import type { Logger } from 'pino';
import { isAmberError, isTransient } from '../core/amber-error.js';
import type { Capture } from '../core/capture.js';
import type { ResolvedTarget } from '../kube/resolve-target.js';
import type { CaptureDeps, CaptureSettings } from './capture-deps.js';
import { CaptureRecord, reasonOf } from './capture-record.js';
import { checkpointsComplete, checkpointStep } from './checkpoint-step.js';
import { abortLeftoverUploads, deleteNodeCopies } from './clean-up.js';
import { EvidenceBundle } from './evidence-bundle.js';
import { recordIntake, recordJoins } from './record-intake.js';
import { reportStep, type ReportParts } from './report-step.js';
import { sealStep } from './seal-step.js';
import { Semaphore } from './semaphore.js';
import { uploadStep } from './upload-step.js';

/**
 * Runs one capture as far as it can go: checkpoint → upload → seal → report → clean-up. Progress
 * is saved after every step (CaptureRecord), so a restart resumes where it stopped (an archive
 * already written is reused, never taken twice; an object already stored is the original).
 * Returns the capture as it ends this attempt: Sealed, Failed, or back in its phase with
 * `retryAt` for a transient failure.
 */
export async function runCapture(deps: CaptureDeps, id: string, prepared: { target?: Promise<ResolvedTarget> } = {}): Promise<Capture> {
  const { settings } = deps;
  const record = await CaptureRecord.load(deps.queue, id, deps.actor, deps.now);
  const log = deps.log.child({ capture: id });
  const bundle = new EvidenceBundle(deps.store, deps.signingKey, record, record.current, { prefix: settings.storePrefix, cluster: settings.cluster });
  // without bounds given (a test, a single run), nothing waits
  const checkpoints = deps.checkpoints ?? new Semaphore(Number.POSITIVE_INFINITY);
  const uploads = deps.uploads ?? new Semaphore(Number.POSITIVE_INFINITY);
  const report: ReportParts = { version: deps.version, checkpointDir: settings.checkpointDir, log, uploads, now: deps.now, yara: deps.yara, lists: deps.lists };
  const { phase } = record.current.status;
  if (phase === 'Sealed' && record.current.status.report?.state === 'Pending') {
    // sealed by an earlier run that stopped before its report: only the report and the clean-up are left
    await reportStep(report, record, bundle); // best-effort: a failed report is recorded, the evidence stands
    tell(deps, record.current, log);
    await cleanUp(settings, record.current, bundle, log);
    return record.current;
  }
  if (phase === 'Sealed' || phase === 'Failed') return record.current;

  recordIntake(record);
  const attempts = record.current.status.attempts + 1;
  if (record.current.status.attempts >= settings.maxAttempts) {
    // The last attempt never finished (the process died in it): stop rather than crash-loop.
    await abortLeftoverUploads(bundle, log); // best-effort: leftover uploads only cost storage
    const { reason, message } = record.current.status;
    await record.save({ reason: reason ?? 'AttemptsExhausted', message: message ?? 'the last attempt did not finish' }, 'Failed');
    tell(deps, record.current, log);
    return record.current;
  }
  record.clearOutcome();
  try {
    let resolved: ResolvedTarget | undefined;
    if (!checkpointsComplete(record.current)) {
      // hard stop: the attempt fails (or is retried) without an archive of every container.
      // Bounded on its own: a new capture's checkpoint never waits behind older captures' uploads.
      resolved = await checkpoints.run(() =>
        checkpointStep({ api: deps.api, kubelet: deps.kubelet, actor: deps.actor, log, settings }, record, attempts, prepared.target),
      );
    } else {
      await record.save({ attempts });
    }
    // From here no signal joins: the ones that did (while Pending or Checkpointing) are in the record now.
    await record.save({}, 'Uploading');
    if (recordJoins(record)) await record.save({});
    const sealed = await uploads.run(async () => {
      // hard stop: archives, pod.json and signals.json (a container's log is best-effort inside).
      // Once the chain says sealed, the artifact list is closed: a retry only finishes the seal.
      if (record.custody.count('bundle.sealed') === 0) await uploadStep({ api: deps.api, log, settings }, record, bundle, resolved);
      return await sealStep({ cluster: settings.cluster, version: deps.version }, record, bundle); // hard stop
    });
    await record.save({ bundle: sealed, ...(settings.report ? { report: { state: 'Pending' as const } } : {}) }, 'Sealed');
    log.info({ bundle: sealed.uri }, 'capture sealed');
    if (settings.report) {
      await abortLeftoverUploads(bundle, log); // best-effort, before the report: the evidence's own leftovers
      await reportStep(report, record, bundle); // best-effort: a failed report is recorded, the evidence stands
    }
    // told once the report is settled, so its indicators travel with the news; the seal itself never waited for either
    tell(deps, record.current, log);
    await cleanUp(settings, record.current, bundle, log);
    return record.current;
  } catch (e) {
    const ended = await fail(settings, record, bundle, e, attempts, log);
    tell(deps, ended, log);
    return ended;
  }
}

/**
 * Tells the listeners (notifications) of a capture that ended Sealed or Failed; a capture still
 * retrying is not news. The listener only queues: it returns at once.
 */
function tell(deps: Pick<CaptureDeps, 'events'>, capture: Capture, log: Logger): void {
  if (deps.events === undefined) return;
  try {
    // notification is best-effort: never fails the capture
    if (capture.status.phase === 'Sealed') deps.events.sealed(capture);
    else if (capture.status.phase === 'Failed') deps.events.failed(capture);
  } catch (err) {
    log.warn({ err }, 'a capture listener threw; the capture is unaffected');
  }
}

/** Best-effort: leftover uploads only cost storage; a node copy left behind is logged. */
async function cleanUp(settings: CaptureSettings, capture: Capture, bundle: EvidenceBundle, log: Logger): Promise<void> {
  await abortLeftoverUploads(bundle, log); // the report's retried uploads too
  // node copies go only after the stored copies are hashed and sealed
  if (settings.deleteNodeCopy) await deleteNodeCopies(settings.checkpointDir, capture.status.checkpoints ?? [], log);
}

/**
 * The attempt failed. A transient failure (isTransient, or one without a code) with attempts left
 * is retried with backoff (`retryAt`, doubling); any other fails the capture, with the reason and
 * the runtime's own words. An earlier save may have failed (the queue itself is down); this save
 * will tell, by rejecting.
 */
async function fail(
  settings: Pick<CaptureSettings, 'maxAttempts' | 'retryBaseMs'>,
  record: CaptureRecord,
  bundle: EvidenceBundle,
  e: unknown,
  attempts: number,
  log: Logger,
): Promise<Capture> {
  const code = isAmberError(e) ? e.code : 'INTERNAL';
  const remedy = isAmberError(e) && typeof e.details['remedy'] === 'string' ? e.details['remedy'] : undefined;
  const said = isAmberError(e) ? String(e.details['message'] ?? e.message) : e instanceof Error ? e.message : String(e);
  // the runtime's own words first, then what the operator can do about them
  const message = remedy === undefined ? said : `${said} — remedy: ${remedy}`;
  const transient = !isAmberError(e) || isTransient(e.code);
  if (transient && attempts < settings.maxAttempts) {
    const retryAt = new Date(Date.now() + settings.retryBaseMs * 2 ** (attempts - 1)).toISOString();
    log.warn({ code, err: e, attempts, retryAt }, 'capture attempt failed; will retry');
    await record.save({ attempts, reason: reasonOf(code), message, retryAt });
  } else {
    log.error({ code, err: e, attempts }, 'capture failed');
    await abortLeftoverUploads(bundle, log); // best-effort: leftover uploads only cost storage
    await record.save({ attempts, reason: reasonOf(code), message }, 'Failed');
  }
  return await record.reload();
}
