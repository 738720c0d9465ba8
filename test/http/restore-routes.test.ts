/**
 * The restore button's routes over a real socket, with a restorer we own (the pipeline behind it is
 * tested in test/cli/ui-restorer.test.ts): served only when configured, the same authorisation
 * and CSRF as every state-changing browser request, who asked logged, and each failure's code
 * mapped to its status.
 */
import t from 'tap';
import { AmberError } from '../../src/core/amber-error.js';
import type { Capture } from '../../src/core/capture.js';
import type { EvidenceRestorer, RestoreAnswer, RestoreDone } from '../../src/http/evidence-restorer.js';
import { shellCaptureRequest } from '../helpers/shell-capture.js';
import { startUiApp, TOKEN } from '../helpers/start-ui-app.js';

const DONE: RestoreDone = {
  number: 1,
  record: 'file:///evidence/x/restore-1.json',
  image: '127.0.0.1:5000/forensics/r:restore-x@sha256:' + 'a'.repeat(64),
  sandbox: { namespace: 'amber-sandbox', pod: 'amber-restore-x-1', networkPolicy: 'amber-restore-x-1' },
  signedBy: 'kid-1',
};

function fakeRestorer(answer: (capture: Capture) => Promise<RestoreAnswer>) {
  const calls: { id: string; user: string }[] = [];
  const restorer: EvidenceRestorer = {
    target: { image: '127.0.0.1:5000/forensics/r', namespace: 'amber-sandbox' },
    async restore(capture, by, onProgress) {
      calls.push({ id: capture.id, user: by.user });
      onProgress('pushing the archive: 50% of 1.0 MiB');
      return answer(capture);
    },
  };
  return { restorer, calls };
}

async function sealedIn(app: Awaited<ReturnType<typeof startUiApp>>): Promise<string> {
  const { capture } = await app.queue.enqueue(shellCaptureRequest('web-1', 'app'));
  return capture.id;
}

t.test('without ui.restore there is no restore route: the page shows the commands only', async (t) => {
  const app = await startUiApp();
  t.teardown(() => app.close());
  const id = await sealedIn(app);
  t.equal((await app.call('GET', '/v1/restores/target', { token: TOKEN })).status, 404);
  t.equal((await app.call('POST', `/v1/captures/${id}/restores`, { token: TOKEN })).status, 404);
});

t.test('a restore from the browser needs the session and its CSRF token, and is logged with who asked', async (t) => {
  const { restorer, calls } = fakeRestorer(async () => ({ done: DONE }));
  const app = await startUiApp({ restorer });
  t.teardown(() => app.close());
  const id = await sealedIn(app);
  t.equal((await app.call('GET', '/v1/restores/target')).status, 401, 'no session, no target');
  t.equal((await app.call('POST', `/v1/captures/${id}/restores`)).status, 401, 'no session, no restore');
  const { cookie, csrf } = await app.signIn();
  t.same((await app.call('GET', '/v1/restores/target', { cookie })).body, restorer.target);

  const forged = await app.call('POST', `/v1/captures/${id}/restores`, { cookie });
  t.equal(forged.status, 403, 'a cross-site form cannot restore');
  t.equal(forged.body.error.code, 'UI_CSRF_MISMATCH');
  t.equal(calls.length, 0, 'nothing was restored');

  const made = await app.call('POST', `/v1/captures/${id}/restores`, { cookie, csrf });
  t.equal(made.status, 201);
  t.same(made.body, { done: DONE });
  t.same(calls, [{ id, user: 'token:1' }], 'the restorer is told the signed-in user');
  t.match(app.logs.find('a restore of the evidence was asked for')[0], { user: 'token:1', capture: id, level: 40 });
  t.match(app.logs.find('the evidence was restored into a sandbox')[0], { user: 'token:1', capture: id, number: 1, sandbox: DONE.sandbox });
  t.ok(app.logs.find('restore: pushing the archive: 50% of 1.0 MiB').length === 1, 'the progress is in the log');

  // a script with the bearer token needs no CSRF token (it has no cookie to be tricked with)
  t.equal((await app.call('POST', `/v1/captures/${id}/restores`, { token: TOKEN })).status, 201);
  t.equal((await app.call('POST', '/v1/captures/nope/restores', { cookie, csrf })).body.error.code, 'CAPTURE_NOT_FOUND');
});

t.test('each way a restore fails answers with its code and a status that says whose problem it is', async (t) => {
  const cases: [AmberError, number][] = [
    [new AmberError('RESTORE_REFUSED', { problem: 'the bundle does not verify' }), 409],
    [new AmberError('EVIDENCE_UNAVAILABLE', { phase: 'Pending' }), 409],
    [new AmberError('EVIDENCE_BUSY', { restoring: 'x' }), 429],
    [new AmberError('REGISTRY_UNAVAILABLE'), 503],
    [new AmberError('REGISTRY_UNAUTHORIZED'), 502],
    [new AmberError('KUBE_FORBIDDEN'), 502],
  ];
  let next = 0;
  const { restorer } = fakeRestorer(async () => {
    throw (cases[next++] as [AmberError, number])[0];
  });
  const app = await startUiApp({ restorer });
  t.teardown(() => app.close());
  const id = await sealedIn(app);
  const { cookie, csrf } = await app.signIn();
  for (const [error, status] of cases) {
    const reply = await app.call('POST', `/v1/captures/${id}/restores`, { cookie, csrf });
    t.equal(reply.status, status, error.code);
    t.equal(reply.body.error.code, error.code);
    if (error.code === 'EVIDENCE_BUSY') t.equal(reply.headers['retry-after'], '30', 'a busy server says when to come back');
  }
  t.equal(app.logs.find('the restore did not complete').length, cases.length, 'every failure is logged');
});
