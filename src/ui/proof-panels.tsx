import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type CaptureSummary, type CustodyEntry, type RestoreDone, type RestoreTarget, type Verification } from './api.js';
import { renderCheck, shellWord, time } from './format.js';

/** The custody chain as a timeline: each entry's `prev` must be the hash of the one before it. */
export function CustodyTimeline({ entries }: { entries: CustodyEntry[] }) {
  return (
    <section aria-labelledby="custody-title" class="panel">
      <h2 id="custody-title">Chain of custody</h2>
      {entries.length === 0 ? (
        <p>No custody entries yet.</p>
      ) : (
        <ol class="custody">
          {entries.map((e, i) => {
            const before = entries[i - 1];
            const linked = before === undefined ? undefined : e.prev === before.hash;
            return (
              <li data-seq={e.seq} class={linked === false ? 'broken' : undefined}>
                <div>
                  <strong>
                    #{e.seq} {e.action}
                  </strong>{' '}
                  <time dateTime={e.at}>{time(e.at)}</time> by {e.actor.component}
                  {e.actor.pod !== undefined ? ` (${e.actor.pod})` : ''}
                  {e.actor.node !== undefined ? ` on ${e.actor.node}` : ''}
                </div>
                <div class="mono hash">hash {e.hash}</div>
                <div class="mono hash">
                  prev {e.prev}{' '}
                  {linked === undefined
                    ? '(the start of the chain)'
                    : linked
                      ? `= the hash of #${before!.seq}`
                      : `≠ the hash of #${before!.seq}: the chain is broken here`}
                </div>
                {Object.keys(e.details).length > 0 && (
                  <details>
                    <summary>Details</summary>
                    <pre>{JSON.stringify(e.details, null, 2)}</pre>
                  </details>
                )}
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}

/** The bundle verified by the server now, each check named as `amber verify` names it. */
export function VerificationPanel({ id, onExpired }: { id: string; onExpired: () => void }) {
  const [state, setState] = useState<
    { kind: 'idle' } | { kind: 'running' } | { kind: 'done'; v: Verification; at: string } | { kind: 'error'; message: string }
  >({ kind: 'idle' });
  const run = async () => {
    setState({ kind: 'running' });
    try {
      setState({ kind: 'done', v: await api.verification(id), at: new Date().toISOString() });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) onExpired();
      else setState({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
    }
  };
  return (
    <section aria-labelledby="verify-title" class="panel">
      <h2 id="verify-title">Verification</h2>
      <p class="muted">
        The server reads the stored bundle and checks it as `amber verify` does: the signature, every artifact's hash, the custody chain and, on S3, the
        retention locks.
      </p>
      <button type="button" onClick={() => void run()} disabled={state.kind === 'running'}>
        {state.kind === 'done' ? 'Verify again' : 'Verify now'}
      </button>
      <div role="status" aria-live="polite">
        {state.kind === 'running' && <p>Verifying…</p>}
        {state.kind === 'error' && <p class="error">Could not verify: {state.message}</p>}
        {state.kind === 'done' && (
          <>
            <p class={state.v.valid ? 'verdict valid' : 'verdict invalid'}>
              {state.v.valid
                ? `VALID: all ${state.v.checks.length} checks passed`
                : `INVALID: ${state.v.checks.filter((c) => !c.ok).length} of ${state.v.checks.length} checks failed`}{' '}
              <span class="muted">({time(state.at)})</span>
            </p>
            <ul class="checks" aria-label="Checks">
              {state.v.checks.map((c) => (
                <li class={c.ok ? 'ok' : 'fail'}>
                  <span class="mono">{renderCheck(c)}</span>
                </li>
              ))}
            </ul>
            {state.v.encryptedUnchecked > 0 && (
              <p class="muted">
                {state.v.encryptedUnchecked} artifacts are encrypted (age): their stored bytes are checked; what is inside needs the identity.
              </p>
            )}
          </>
        )}
      </div>
    </section>
  );
}

function Copyable({ label, text }: { label: string; text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="copyable">
      <pre aria-label={label}>{text}</pre>
      <button
        type="button"
        class="small"
        aria-label={`Copy: ${label}`}
        onClick={() => {
          // clipboard access may be refused (no user gesture, no secure context): the text stays selectable
          navigator.clipboard.writeText(text).then(
            () => setCopied(true),
            () => setCopied(false),
          );
        }}
      >
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

/** Download, and the commands that verify, inspect and restore the capture outside this page. */
export function RestoreCommands({ capture, onExpired }: { capture: CaptureSummary; onExpired: () => void }) {
  const uri = capture.status.bundle?.uri ?? '';
  const dir = `amber-${capture.id}`;
  const restores = capture.status.restores ?? [];
  return (
    <section aria-labelledby="download-title" class="panel">
      <h2 id="download-title">Download and restore</h2>
      <p>
        <a href={api.bundleUrl(capture.id)} download={`${dir}.tar`} class="button">
          Download the bundle (.tar with the public keys and a README)
        </a>
      </p>
      <Copyable label="Verify the download offline" text={`tar -xf ${dir}.tar\namber verify ${dir}/${shellWord(capture.id)} --jwks ${dir}/jwks.json`} />
      <Copyable label="Inspect the stored bundle" text={`amber inspect ${shellWord(uri)}`} />
      <RestoreButton capture={capture} onExpired={onExpired} />
      <Copyable
        label="Restore in a sandbox"
        text={`amber restore ${shellWord(uri)} --image <registry>/restores/${shellWord(capture.spec.target.pod)} --namespace amber-sandbox`}
      />
      {restores.length > 0 && (
        <>
          <h3>Restores</h3>
          <ul>
            {restores.map((r) => (
              <li>
                #{r.number} {time(r.at)} by {r.by}: <span class="mono">{r.image}</span>
                {r.sandbox ? ` in ${r.sandbox.namespace}/${r.sandbox.pod}` : ''}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

type RestoreState =
  | { step: 'idle' }
  | { step: 'confirm' }
  | { step: 'restoring' }
  | { step: 'requested'; request: string; node?: string | undefined }
  | { step: 'done'; done: RestoreDone }
  | { step: 'failed'; message: string };

/**
 * The restore button, when the server has one (`ui.restore`): a second click confirms, because a
 * restore starts the suspect's processes again (in a fenced sandbox pod). `serve` answers once
 * the pod exists and the signed record is written; a responder answers that it filed the request,
 * and the agent's answer then arrives on the capture (live).
 */
function RestoreButton({ capture, onExpired }: { capture: CaptureSummary; onExpired: () => void }) {
  const id = capture.id;
  const [target, setTarget] = useState<RestoreTarget | undefined>();
  const [state, setState] = useState<RestoreState>({ step: 'idle' });
  useEffect(() => {
    api.restoreTarget().then(setTarget, (e: unknown) => {
      if (e instanceof ApiError && e.status === 401) onExpired();
    });
  }, [onExpired]);
  if (target === undefined) return null;
  const restore = () => {
    setState({ step: 'restoring' });
    api.restore(id).then(
      (answer) =>
        setState('done' in answer ? { step: 'done', done: answer.done } : { step: 'requested', request: answer.requested.id, node: answer.requested.node }),
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 401) onExpired();
        else setState({ step: 'failed', message: e instanceof ApiError ? `${e.code}: ${e.message}` : String(e) });
      },
    );
  };
  return (
    <div class="restore" aria-live="polite">
      {(state.step === 'idle' || state.step === 'failed') && (
        <button type="button" onClick={() => setState({ step: 'confirm' })}>
          Restore in a sandbox…
        </button>
      )}
      {state.step === 'confirm' && (
        <div role="group" aria-label="Confirm the restore">
          <p>
            This starts the captured processes again in namespace <span class="mono">{target.namespace}</span>, in a pod fenced by a NetworkPolicy that denies
            all traffic, from an image pushed to <span class="mono">{target.image}</span>. The restore is recorded, signed, in the bundle's custody under your
            name.
          </p>
          <button type="button" onClick={restore}>
            Restore now
          </button>{' '}
          <button type="button" class="secondary" onClick={() => setState({ step: 'idle' })}>
            Cancel
          </button>
        </div>
      )}
      {state.step === 'restoring' && <p class="loading">Restoring: verifying the bundle, pushing the image, creating the sandbox…</p>}
      {state.step === 'requested' && <RequestedRestore capture={capture} request={state.request} node={state.node} />}
      {state.step === 'done' && (
        <p role="status">
          Restored (restore {state.done.number}): pod{' '}
          <span class="mono">
            {state.done.sandbox.namespace}/{state.done.sandbox.pod}
          </span>{' '}
          from <span class="mono">{state.done.image}</span>; record <span class="mono">{state.done.record}</span>, signed by{' '}
          <span class="mono">{state.done.signedBy}</span>.
        </p>
      )}
      {state.step === 'failed' && (
        <p role="alert" class="error">
          The restore did not complete: {state.message}
        </p>
      )}
    </div>
  );
}

/** A restore filed for the agent (a responder's page): its state as the agent answers on the capture, live. */
function RequestedRestore({ capture, request, node }: { capture: CaptureSummary; request: string; node?: string | undefined }) {
  const r = (capture.status.restoreRequests ?? []).find((x) => x.id === request);
  const restore = r?.number !== undefined ? (capture.status.restores ?? []).find((x) => x.number === r.number) : undefined;
  if (r?.state === 'Done')
    return (
      <p role="status">
        Restored (restore {r.number}) by the agent on node {node ?? 'of the capture'}
        {restore?.sandbox ? (
          <>
            : pod{' '}
            <span class="mono">
              {restore.sandbox.namespace}/{restore.sandbox.pod}
            </span>{' '}
            from <span class="mono">{restore.image}</span>; record <span class="mono">{restore.record}</span>.
          </>
        ) : (
          '.'
        )}
      </p>
    );
  if (r?.state === 'Failed')
    return (
      <p role="alert" class="error">
        The restore did not complete: {r.reason}: {r.message}
      </p>
    );
  return (
    <p class="loading" role="status">
      {r?.state === 'Running' ? 'The agent is restoring it' : 'Filed for the agent'} on node {node ?? 'of the capture'}: verifying the bundle, pushing the
      image, creating the sandbox…
    </p>
  );
}
