import t from 'tap';
import { fixture } from '../helpers/fixtures.js';
import { startTestApp } from '../helpers/start-test-app.js';

t.test('Alertmanager intake over a real socket', async (t) => {
  const app = await startTestApp();
  t.teardown(() => app.close());

  await t.test('queues one capture per firing alert and ignores the resolved one', async (t) => {
    const hook = fixture('alertmanager/firing.json');
    t.equal(hook.alerts.length, 3);
    const res = await app.post('/v1/alerts/alertmanager', hook);
    t.equal(res.status, 202);
    t.equal(res.body.captures.length, 2);
    t.ok(res.body.captures.every((c: any) => c.policy === 'prometheus-cryptomining-cpu' && !c.duplicate));
    t.same(new Set(res.body.captures.map((c: any) => c.target.pod)).size, 2);
  });

  await t.test('answers 200 with the same ids when an HA pair delivers the batch again', async (t) => {
    const first = (await app.get('/v1/captures')).body.captures.map((c: any) => c.id).sort();
    const res = await app.post('/v1/alerts/alertmanager', fixture('alertmanager/firing.json'));
    t.equal(res.status, 200);
    t.ok(res.body.captures.every((c: any) => c.duplicate));
    t.same(res.body.captures.map((c: any) => c.id).sort(), first);
  });

  await t.test('accepts optional newer keys Alertmanager may add', async (t) => {
    const hook = { ...fixture('alertmanager/firing.json'), notification_reason: 'new', groupLabels: { alertname: 'x' }, someFutureKey: { a: 1 } };
    hook.alerts = hook.alerts.map((a: any) => ({ ...a, startsAt: '2026-11-28T11:00:00Z', newAlertKey: true }));
    const res = await app.post('/v1/alerts/alertmanager', hook);
    t.ok(res.status === 200 || res.status === 202, `status ${res.status}`);
    t.notOk(res.body.error);
  });

  await t.test("takes Falcosidekick's forwarded alerts with their underscore labels", async (t) => {
    // its own app: an earlier capture of the same container would be joined, and answer with its own target
    const fresh = await startTestApp();
    t.teardown(() => fresh.close());
    const res = await fresh.post('/v1/alerts/alertmanager', fixture('alertmanager/sidekick.json'));
    t.equal(res.status, 202);
    const [c] = res.body.captures;
    t.equal(c.policy, 'untrusted-execution');
    t.match(c.target, { namespace: 'shop', pod: 'cart-5f6d8b9c7-h4kzp', container: 'cart' });
    t.equal(c.target.containerID, 'a71d3e9c0b580c8f75ba7299d4502ea6f3293c172951b209efca31cd8a18f747');
  });

  await t.test('answers 200 with a reason when every alert is resolved', async (t) => {
    const hook = fixture('alertmanager/firing.json');
    hook.alerts = hook.alerts.map((a: any) => ({ ...a, status: 'resolved' }));
    const res = await app.post('/v1/alerts/alertmanager', hook);
    t.equal(res.status, 200);
    t.same(res.body.captures, []);
    t.match(res.body.reason, /resolved/);
  });
});
