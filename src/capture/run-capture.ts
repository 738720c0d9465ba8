import { statfs, unlink } from 'node:fs/promises';
import { AmberError, isAmberError, isTransient } from '../core/amber-error.js';
import type { Capture, CaptureStatus, CaptureTrigger, Phase } from '../core/capture.js';
import { ARTIFACT_NAMES } from '../evidence/bundle-layout.js';
import { CustodyChain } from '../evidence/custody-chain.js';
import { resolveTarget, type ResolvedTarget } from '../kube/resolve-target.js';
import { checkCheckpointDir } from './archive-access.js';
import type { CaptureDeps } from './capture-context.js';
import { produceReport } from './produce-report.js';
import { layoutOf, localArchive, uploadArtifacts, type Save } from './upload-artifacts.js';
import { sealBundle } from './seal-bundle.js';

const RESPONDER = { component: 'responder' } as const;

/** `DISK_PRESSURE` → `DiskPressure`: Kubernetes-style reasons for status.reason. */
export function reasonOf(code: string): string {
  return code
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

/**
 * Runs one capture as far as it can go: checkpoint → store → seal. Progress is written to the
 * queue after every step, so a restart resumes where it stopped (an archive already written is
 * reused, never taken twice). Returns the capture as it ends this attempt: Sealed, Failed, or
 * back in its phase with `retryAt` for a transient failure.
 */
export async function runCapture(deps: CaptureDeps, id: string, prepared: { target?: Promise<ResolvedTarget> } = {}): Promise<Capture> {
  const now = deps.now ?? (() => new Date());
  let capture = await deps.queue.get(id);
  if (!capture) throw new AmberError('CAPTURE_NOT_FOUND', { id });
  const log = deps.log.child({ capture: id });
  if (capture.status.phase === 'Sealed' && capture.status.report?.state === 'Pending') {
    const done = await reportStep(deps, capture, log);
    await abortLeftoverUploads(deps, done, log); // the report's retried uploads too
    if (deps.settings.deleteNodeCopy) await deleteNodeCopies(deps, done, log);
    return done;
  }
  if (capture.status.phase === 'Sealed' || capture.status.phase === 'Failed') return capture;
  const chain = new CustodyChain(deps.actor, now, capture.status.custody ?? []);
  // Saves run one after another, in call order, so one may be started without waiting for it.
  let saving: Promise<void> = Promise.resolve();
  const save = (patch: Partial<CaptureStatus>, phase?: Phase): Promise<void> => {
    const custody = [...chain.entries];
    const at = now().toISOString();
    saving = saving
      .catch(() => undefined)
      .then(async () => {
        const current = capture as Capture;
        const status: CaptureStatus = { ...current.status, ...patch, custody };
        if (phase && phase !== current.status.phase) {
          status.phase = phase;
          status.phaseTimes = { ...current.status.phaseTimes, [phase]: at };
        }
        capture = await deps.queue.updateStatus(id, status);
      });
    return saving;
  };

  if (chain.entries.length === 0) {
    const t = capture.spec.trigger;
    chain.append('signal.received', signalDetails(t), RESPONDER, capture.createdAt);
    chain.append('policy.matched', { policy: t.policy }, RESPONDER, capture.createdAt);
    chain.append('capture.queued', { captureId: id, target: capture.spec.target }, RESPONDER, capture.createdAt);
  }
  const attempts = capture.status.attempts + 1;
  if (capture.status.attempts >= deps.settings.maxAttempts) {
    // The last attempt never finished (the process died in it): stop rather than crash-loop.
    await abortLeftoverUploads(deps, capture, log);
    await save({ reason: capture.status.reason ?? 'AttemptsExhausted', message: capture.status.message ?? 'the last attempt did not finish' }, 'Failed');
    return capture;
  }
  try {
    const { retryAt: _r, reason: _reason, message: _m, ...rest } = capture.status;
    capture = { ...capture, status: rest };
    let resolved: ResolvedTarget | undefined;
    const current = capture;
    const takeCheckpoints = async (): Promise<ResolvedTarget> => {
      // The attempt is recorded while the API and the kubelet answer: the container runs on while
      // we wait, so no fsync stands between the alert and the checkpoint request. (A crash before
      // the record lands costs only the attempt count; the save chain keeps later saves in order.)
      const recorded = save({ attempts }, 'Checkpointing');
      recorded.catch(() => undefined); // awaited below; a failure surfaces there
      // the pod may have been read while the intake's journal was flushed (see the capture worker)
      const [target] = await Promise.all([
        prepared.target ?? resolveTarget(deps.api, current.spec, deps.settings.kubeletAddress),
        checkFreeSpace(deps.settings.checkpointDir, deps.settings.minFreeBytes),
      ]);
      const pinned = current.status.resolved;
      if (pinned && pinned.podUID !== target.podUID) {
        throw new AmberError('POD_REPLACED', { pod: target.pod, expected: pinned.podUID, found: target.podUID });
      }
      const done = [...(current.status.checkpoints ?? [])];
      for (const c of target.containers) {
        if (done.some((d) => d.container === c.name)) continue;
        const result = await deps.kubelet.checkpoint(target.kubelet, target.namespace, target.pod, c.name, current.spec.timeoutSeconds);
        chain.append(
          'checkpoint.requested',
          { node: target.node, container: c.name, containerID: c.containerID, timeoutSeconds: current.spec.timeoutSeconds },
          deps.actor,
          result.requestedAt,
        );
        chain.append('checkpoint.written', { container: c.name, path: result.path }, deps.actor, result.writtenAt);
        done.push({ container: c.name, ...result });
        await recorded;
        await save({
          checkpoints: done,
          resolved: { podUID: target.podUID, node: target.node, containers: target.containers.map(({ runtime: _rt, ...k }) => k) },
        });
        log.info({ container: c.name, path: result.path }, 'checkpoint written');
      }
      return target;
    };
    if (!checkpointsComplete(capture)) {
      // bounded on its own: a new capture's checkpoint never waits behind older captures' uploads
      resolved = await (deps.checkpoints ? deps.checkpoints.run(takeCheckpoints) : takeCheckpoints());
    } else {
      await save({ attempts });
    }
    // From here no signal joins: the ones that did (while Pending or Checkpointing) are in `capture` now.
    await save({}, 'Uploading');
    if (recordJoins(chain, capture)) await save({});
    const layout = layoutOf(deps, capture);
    const upload = async () => {
      // Once the chain says sealed, the artifact list is closed: a retry only finishes the seal.
      const sealed = chain.entries.some((e) => e.action === 'bundle.sealed');
      if (!sealed) await uploadArtifacts(deps, capture as Capture, chain, save, resolved);
      if (chain.entries[chain.entries.length - 1]?.action !== 'bundle.sealed') {
        chain.append('bundle.sealed', { artifacts: (capture?.status.artifacts ?? []).length + 1, signingKeyId: deps.signingKey.kid });
        await save({});
      }
      await sealBundle({
        capture: capture as Capture,
        chain,
        layout,
        store: deps.store,
        signingKey: deps.signingKey,
        cluster: deps.settings.cluster,
        version: deps.version,
      });
    };
    await (deps.uploads ? deps.uploads.run(upload) : upload());
    const archives = (capture.status.checkpoints ?? []).map((c) => {
      const a = capture?.status.artifacts?.find((x) => (x.plaintext?.name ?? x.name) === ARTIFACT_NAMES.archive(c.container));
      // the evidence's identity: for an encrypted archive, the hash of what is inside
      const identity = a?.plaintext ?? a;
      return { container: c.container, size: identity?.size ?? 0, sha256: identity?.sha256 ?? '' };
    });
    await save(
      {
        bundle: { uri: deps.store.uri(`${layout.dir}/`), archives, signingKeyId: deps.signingKey.kid },
        ...(deps.settings.report ? { report: { state: 'Pending' as const } } : {}),
      },
      'Sealed',
    );
    log.info({ bundle: capture.status.bundle?.uri }, 'capture sealed');
    await abortLeftoverUploads(deps, capture, log);
    // The report reads the node copy when it is still there (an encrypted archive can be read nowhere else).
    if (deps.settings.report) {
      capture = await reportStep(deps, capture, log);
      await abortLeftoverUploads(deps, capture, log); // the report's retried uploads too
    }
    // Node copies go only after the stored copies are hashed and sealed; best-effort cleanup.
    if (deps.settings.deleteNodeCopy) await deleteNodeCopies(deps, capture, log);
    return capture;
  } catch (e) {
    return await fail(deps, capture, e, attempts, save, log);
  }
}

function signalDetails(t: CaptureTrigger): Record<string, unknown> {
  return {
    source: t.source,
    rule: t.rule,
    priority: t.priority,
    signalDigest: t.signalDigest,
    ...(t.user !== undefined ? { user: t.user } : {}),
    ...(t.groups !== undefined ? { groups: t.groups } : {}),
    ...(t.command !== undefined ? { command: t.command } : {}),
  };
}

/**
 * The signals that joined the capture (core/join-capture.ts) enter its custody log, each with the
 * time it joined: its signal, its policy, and that it joined this capture instead of freezing the
 * container again. Once per join, across restarts. True when anything was added.
 */
function recordJoins(chain: CustodyChain, capture: Capture): boolean {
  const done = chain.entries.filter((e) => e.action === 'capture.joined').length;
  const fresh = (capture.joined ?? []).slice(done);
  for (const j of fresh) {
    chain.append('signal.received', signalDetails(j.trigger), RESPONDER, j.at);
    chain.append('policy.matched', { policy: j.trigger.policy }, RESPONDER, j.at);
    chain.append('capture.joined', { captureId: capture.id, policy: j.trigger.policy, phase: j.phase }, RESPONDER, j.at);
  }
  return fresh.length > 0;
}

/**
 * The triage report of a sealed capture. Best-effort: the evidence is sealed already, so a report
 * that cannot be made is recorded (report.state Failed, with the reason) and logged, never fatal.
 */
async function reportStep(deps: CaptureDeps, capture: Capture, log: CaptureDeps['log']): Promise<Capture> {
  const chain = new CustodyChain(deps.actor, deps.now, capture.status.custody ?? []);
  const run = () =>
    produceReport({
      capture,
      chain,
      layout: layoutOf(deps, capture),
      store: deps.store,
      signingKey: deps.signingKey,
      version: deps.version,
      localArchive: (c) => localArchive(deps, c),
      recordPlaintext: async (name, p) => {
        status = { ...status, plaintexts: { ...(status.plaintexts ?? {}), [name]: p } };
        await deps.queue.updateStatus(capture.id, status);
      },
      ...(deps.now ? { now: deps.now } : {}),
    });
  let report: CaptureStatus['report'];
  let status = capture.status;
  let custody = capture.status.custody ?? [];
  try {
    const made = await (deps.uploads ? deps.uploads.run(run) : run());
    report = { state: 'Written', sha256: made.sha256, indicators: made.indicators };
    const from = made.custody[0]?.seq ?? custody.length;
    custody = [...custody.filter((e) => e.seq < from), ...made.custody];
    log.info({ indicators: made.indicators }, 'triage report written');
  } catch (e) {
    const code = isAmberError(e) ? e.code : 'INTERNAL';
    report = { state: 'Failed', reason: reasonOf(code), message: e instanceof Error ? e.message : String(e) };
    log.warn({ err: e, code }, 'triage report not written; the sealed evidence is unaffected');
  }
  return await deps.queue.updateStatus(capture.id, { ...status, custody, report });
}

async function deleteNodeCopies(deps: CaptureDeps, capture: Capture, log: CaptureDeps['log']): Promise<void> {
  for (const c of capture.status.checkpoints ?? []) {
    await unlink(localArchive(deps, c)).catch((e: unknown) => {
      // ENOENT: the store took the file when it stored it
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err: e, path: c.path }, 'could not delete the node copy');
    });
  }
}

function checkpointsComplete(capture: Capture): boolean {
  const resolved = capture.status.resolved;
  const done = capture.status.checkpoints ?? [];
  return resolved !== undefined && resolved.containers.length > 0 && resolved.containers.every((c) => done.some((d) => d.container === c.name));
}

async function checkFreeSpace(dir: string, minFreeBytes: number): Promise<void> {
  await checkCheckpointDir(dir);
  const fs = await statfs(dir).catch((cause: unknown) => {
    throw new AmberError('CHECKPOINT_ARCHIVE_MISSING', { dir, problem: 'the checkpoint directory is not readable' }, { cause });
  });
  const free = fs.bavail * fs.bsize;
  if (free < minFreeBytes) throw new AmberError('DISK_PRESSURE', { dir, freeBytes: free, minFreeBytes });
}

/**
 * A capture that ends (Sealed or Failed) leaves no unfinished multipart upload under its bundle:
 * a create whose answer was lost and was retried, or an attempt killed mid-upload, leaves one
 * nobody would ever complete. Best-effort: they only cost storage.
 */
async function abortLeftoverUploads(deps: CaptureDeps, capture: Capture, log: CaptureDeps['log']): Promise<void> {
  if (!deps.store.abortUploads) return;
  await deps.store
    .abortUploads(`${layoutOf(deps, capture).dir}/`)
    .catch((err: unknown) => log.warn({ err }, 'could not abort unfinished uploads of the capture'));
}

async function fail(deps: CaptureDeps, capture: Capture | undefined, e: unknown, attempts: number, save: Save, log: CaptureDeps['log']): Promise<Capture> {
  // An earlier save may have failed (the queue itself is down); the failure save below will tell.
  const code = isAmberError(e) ? e.code : 'INTERNAL';
  const remedy = isAmberError(e) && typeof e.details['remedy'] === 'string' ? e.details['remedy'] : undefined;
  const said = isAmberError(e) ? String(e.details['message'] ?? e.message) : e instanceof Error ? e.message : String(e);
  // the runtime's own words first, then what the operator can do about them
  const message = remedy === undefined ? said : `${said} — remedy: ${remedy}`;
  const transient = !isAmberError(e) || isTransient(e.code);
  if (transient && attempts < deps.settings.maxAttempts) {
    const retryAt = new Date(Date.now() + deps.settings.retryBaseMs * 2 ** (attempts - 1)).toISOString();
    log.warn({ code, err: e, attempts, retryAt }, 'capture attempt failed; will retry');
    await save({ attempts, reason: reasonOf(code), message, retryAt });
  } else {
    log.error({ code, err: e, attempts }, 'capture failed');
    if (capture !== undefined) await abortLeftoverUploads(deps, capture, log);
    await save({ attempts, reason: reasonOf(code), message }, 'Failed');
  }
  return (await deps.queue.get(capture?.id ?? '')) as Capture;
}
