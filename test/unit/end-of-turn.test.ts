import t from 'tap';
import { EndOfTurn } from '../../src/http/end-of-turn.js';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

t.test('runs the callbacks of one turn together after it, in order', async (t) => {
  const errors: unknown[] = [];
  const end = new EndOfTurn((e) => errors.push(e));
  const ran: string[] = [];
  end.run(() => ran.push('a'));
  end.run(() => ran.push('b'));
  t.same(ran, [], 'nothing runs while the turn is still going');
  await nextTurn();
  t.same(ran, ['a', 'b']);
  end.run(() => {
    ran.push('c');
    end.run(() => ran.push('e')); // given while the batch runs: the next turn's
  });
  end.run(() => ran.push('d'));
  await nextTurn();
  t.same(ran, ['a', 'b', 'c', 'd']);
  await nextTurn();
  t.same(ran, ['a', 'b', 'c', 'd', 'e']);
  t.same(errors, []);
});

t.test('a callback that throws is reported and the others still run', async (t) => {
  const errors: unknown[] = [];
  const end = new EndOfTurn((e) => errors.push(e));
  const ran: number[] = [];
  end.run(() => ran.push(1));
  end.run(() => {
    throw new Error('boom');
  });
  end.run(() => ran.push(3));
  await nextTurn();
  t.same(ran, [1, 3]);
  t.equal(errors.length, 1);
  t.match(errors[0], { message: 'boom' });
});
