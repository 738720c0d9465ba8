import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { yaraXEngine } from '../../src/analysis/yara/yara-x-engine.js';
import { MINER_POOL, MINER_WALLET } from '../sim/criu-dump.js';
import { sealedCaptures } from '../helpers/sealed-capture.js';

t.test('a capture of the simulated miner, with YARA rules handed to the pipeline: yara-match indicators in report.json and the status', async (t) => {
  const rules = yaraXEngine().compile([
    {
      file: 'miner.yar',
      text: `rule stratum_pool : miner { meta: severity = "high" strings: $u = "stratum+tcp://${MINER_POOL.ip}:${MINER_POOL.port}" condition: $u }
rule monero_wallet : miner { meta: severity = "info" strings: $w = "${MINER_WALLET}" condition: $w }`,
    },
  ]);
  const sealed = await sealedCaptures({ yara: rules });
  t.teardown(() => sealed.close());
  const done = await sealed.seal();
  const report = JSON.parse(await readFile(join(sealed.dirOf(done), 'report.json'), 'utf8')) as {
    checkpoints: { indicators: { id: string; severity: string; pid?: number; path?: string; evidence?: Record<string, unknown> }[] }[];
  };
  const yara = report.checkpoints[0]?.indicators.filter((i) => i.id === 'yara-match') ?? [];
  t.match(
    yara.filter((i) => i.evidence?.['rule'] === 'stratum_pool'),
    [{ severity: 'high', pid: 7, evidence: { tags: ['miner'], where: { in: 'memory', pid: 7 } } }],
    'the pool URL in the miner’s memory',
  );
  t.ok(
    yara.some((i) => i.evidence?.['rule'] === 'monero_wallet' && i.severity === 'info'),
    'the wallet, at the severity its rule says',
  );
  t.ok(done.status.report?.indicators?.includes('yara-match'), 'the capture status lists the indicator');
  t.ok((done.status.report?.severities?.high ?? 0) >= 1);
});
