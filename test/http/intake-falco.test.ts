import t from 'tap';
import { fixture, fixtureText } from '../helpers/fixtures.js';
import { startTestApp } from '../helpers/start-test-app.js';

t.test('Falco intake over a real socket', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.close());

  await t.test('queues a capture for a terminal shell and answers 202 with its id', async (t) => {
    const res = await app.post('/v1/alerts/falco', null, { raw: fixtureText('falco/terminal-shell.json') });
    t.equal(res.status, 202);
    t.equal(res.body.captures.length, 1);
    const [c] = res.body.captures;
    t.equal(c.policy, 'interactive-shell');
    t.equal(c.duplicate, false);
    t.match(c.id, /^[0-9a-z]{26}$/);
    t.match(c.target, { namespace: 'shop', pod: 'checkout-7d9f8b6c5-x2x9q', container: 'checkout' });
    t.equal(c.target.containerID, '3f9c2a7b1d04dc5e3de2ab426607d3e1f8c6d170c21f3aab0f05ba526f91e88c');
    const stored = await app.get(`/v1/captures/${c.id}`);
    t.equal(stored.status, 200);
    t.equal(stored.body.status.phase, 'Pending');
    t.equal(stored.body.spec.trigger.rule, 'Terminal shell in container');
    // the evidence keeps the bytes as sent: Falco's nanosecond integers survive unrounded
    t.type(stored.body.signals[0], 'string');
    t.match(stored.body.signals[0], /"evt\.time": 1741944401512873014/);
  });

  await t.test('answers 200 with the existing id for the same container within the cooldown', async (t) => {
    const first = await app.get('/v1/captures');
    const res = await app.post('/v1/alerts/falco', fixture('falco/terminal-shell.json'));
    t.equal(res.status, 200);
    t.equal(res.body.captures[0].duplicate, true);
    t.equal(res.body.captures[0].id, first.body.captures[0].id);
    t.match(res.body.reason, /duplicate/);
    t.equal((await app.get('/v1/captures')).body.captures.length, 1);
  });

  await t.test("accepts Falcosidekick's variant with uuid and source syscalls", async (t) => {
    const ev = fixture('falco/sidekick-drop-execute.json');
    t.equal(ev.source, 'syscalls');
    t.ok(ev.uuid);
    const res = await app.post('/v1/alerts/falco', ev);
    t.equal(res.status, 202);
    t.equal(res.body.captures[0].policy, 'untrusted-execution');
    // the same uuid delivered again is a duplicate
    const again = await app.post('/v1/alerts/falco', ev);
    t.equal(again.status, 200);
    t.equal(again.body.captures[0].id, res.body.captures[0].id);
  });

  await t.test('ignores Falco internal events, the Falcosidekick test rule and host events with 200 and a reason', async (t) => {
    for (const [file, reason] of [
      ['falco/internal.json', /Falco internal/],
      ['falco/sidekick-test.json', /test event/],
      ['falco/host-event.json', /not from a container/],
    ] as const) {
      const res = await app.post('/v1/alerts/falco', fixture(file));
      t.equal(res.status, 200, file);
      t.same(res.body.captures, [], file);
      t.match(res.body.reason, reason, file);
    }
  });

  await t.test('answers 200 "no policy matched" for a rule no policy names', async (t) => {
    const ev = fixture('falco/terminal-shell.json');
    ev.rule = 'Some rule nobody captures';
    const res = await app.post('/v1/alerts/falco', ev);
    t.equal(res.status, 200);
    t.equal(res.body.reason, 'no policy matched');
  });

  await t.test('treats a container.id of <NA> as no container', async (t) => {
    const ev = fixture('falco/terminal-shell.json');
    ev.output_fields['container.id'] = '<NA>';
    const res = await app.post('/v1/alerts/falco', ev);
    t.equal(res.status, 200);
    t.match(res.body.reason, /not from a container/);
  });

  await t.test('logs each queued capture with its policy and never the token', async (t) => {
    const queued = app.logs.find('capture queued');
    t.ok(queued.length >= 2);
    t.match(queued[0], { policy: 'interactive-shell', rule: 'Terminal shell in container' });
    t.ok(
      queued.every((l) => typeof l['reqId'] === 'string'),
      'lines carry the request id',
    );
    t.notMatch(app.logs.text(), /test-token-0123456789abcdef/);
  });
});
