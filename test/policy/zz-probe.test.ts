import t from 'tap';
t.test('a todo', { todo: 'bug x' }, async (t) => { console.log('RAN'); t.equal(1, 2); });
t.test('b', async (t) => { t.equal(1, 1, 'assert todo', { todo: 'bug y' }); t.equal(1, 2, 'assert todo fails', { todo: 'bug y' }); });
