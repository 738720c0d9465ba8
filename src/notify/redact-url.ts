/**
 * A URL as a log line may show it: scheme and host (and port) only. A Slack incoming-webhook's
 * path is its secret, a query may carry a token, userinfo a password: none of them is logged.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(a URL that does not parse)';
  }
}
