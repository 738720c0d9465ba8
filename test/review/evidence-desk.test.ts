import type { Readable } from 'node:stream';
import t from 'tap';
import { isAmberError } from '../../src/core/amber-error.js';
import type { Capture } from '../../src/core/capture.js';
import type { ObjectReader } from '../../src/evidence/bundle-source.js';
import { EvidenceDesk } from '../../src/review/evidence-desk.js';

/** A store whose listings wait until released: the desk's reads stay in flight as long as the test wants. */
function stalledStore(): { store: ObjectReader; release: () => void; lists: () => number } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let lists = 0;
  const store: ObjectReader = {
    uri: (key) => `mem://evidence/${key}`,
    get: () => Promise.reject(new Error('not here')) as Promise<Readable>,
    head: async () => undefined,
    list: async () => {
      lists++;
      await gate;
      return [];
    },
  };
  return { store, release, lists: () => lists };
}

function sealed(id: string): Capture {
  return {
    id,
    createdAt: '2026-12-07T00:00:00Z',
    dedupeKey: id,
    cooldownMs: 0,
    spec: {} as Capture['spec'],
    status: {
      phase: 'Sealed',
      phaseTimes: {},
      attempts: 1,
      bundle: { uri: `mem://evidence/c/${id}/`, archives: [], signingKeyId: 'k' },
    } as unknown as Capture['status'],
    signals: [],
  };
}

t.test('verifications and searches beyond the limit are refused at once (EVIDENCE_BUSY), and the same verification is shared', async (t) => {
  const { store, release, lists } = stalledStore();
  const desk = new EvidenceDesk({ store, jwks: { keys: [] }, maxHeavy: 2 });
  const signal = new AbortController().signal;
  const first = desk.verify(sealed('a'));
  t.equal(desk.verify(sealed('a')), first, 'a second look at the same capture waits for the same run');
  const second = desk.search(sealed('b'), 'x', { signal, onMatch: () => undefined });
  const refused = await desk.search(sealed('c'), 'x', { signal, onMatch: () => undefined }).catch((e: unknown) => e);
  t.ok(isAmberError(refused) && refused.code === 'EVIDENCE_BUSY', 'the third heavy read is refused');
  const refusedVerify = await desk.verify(sealed('d')).catch((e: unknown) => e);
  t.ok(isAmberError(refusedVerify) && refusedVerify.code === 'EVIDENCE_BUSY');
  release();
  await Promise.allSettled([first, second]);
  t.ok(lists() >= 2);
  // the slots are free again
  const again = await desk.search(sealed('e'), 'x', { signal, onMatch: () => undefined });
  t.same(again, { matches: 0, warnings: [] });
});

t.test("a bundle outside the server's store, or a capture not sealed, is EVIDENCE_UNAVAILABLE naming why", async (t) => {
  const { store } = stalledStore();
  const desk = new EvidenceDesk({ store, jwks: { keys: [] } });
  const elsewhere = sealed('f');
  (elsewhere.status as { bundle: { uri: string } }).bundle.uri = 's3://other/c/f/';
  const e1 = await desk.download(elsewhere).catch((e: unknown) => e);
  t.ok(isAmberError(e1) && e1.code === 'EVIDENCE_UNAVAILABLE');
  t.match((e1 as Error).message, /outside this server's store/);
  const pending = sealed('g');
  (pending.status as { phase: string }).phase = 'Uploading';
  const e2 = await desk.report(pending).catch((e: unknown) => e);
  t.match((e2 as Error).message, /Uploading/);
});
