import type { Notification } from './notification.js';

/**
 * Slack mrkdwn's three control characters. Escaping them makes `<!channel>`, `<@U123>` and
 * `<https://evil|click>` in a pod name or rule text plain text, never a mention or a link.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A Slack incoming-webhook body (`text` for notifications and clients without blocks, one section block). */
export function slackMessage(n: Notification): { text: string; blocks: unknown[] } {
  const e = escapeMrkdwn;
  const where = `${e(n.target.namespace)}/${e(n.target.pod)}${n.target.container === undefined ? '' : `/${e(n.target.container)}`}`;
  const headline = n.event === 'capture.sealed' ? `amber sealed capture ${e(n.capture.id)} of ${where}` : `amber capture ${e(n.capture.id)} of ${where} FAILED`;
  const lines = [
    `*${headline}*`,
    `policy: ${e(n.capture.policy)} · cluster: ${e(n.cluster)}${n.target.node === undefined ? '' : ` · node: ${e(n.target.node)}`}`,
    `rule: ${e(n.trigger.rule)}${n.trigger.priority === undefined ? '' : ` (${e(n.trigger.priority)})`}`,
  ];
  if (n.reason !== undefined) lines.push(`reason: ${e(n.reason)}${n.message === undefined ? '' : ` — ${e(n.message)}`}`);
  if (n.report !== undefined)
    lines.push(`report: ${e(n.report.state)}; indicators: ${n.report.indicators.length === 0 ? 'none' : n.report.indicators.map(e).join(', ')}`);
  if (n.bundle !== undefined) lines.push(`bundle: ${e(n.bundle.uri)}`);
  const text = lines.join('\n');
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}
