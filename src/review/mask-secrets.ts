/** Names of environment variables that hold secrets by convention. */
const SECRET_NAME =
  /(pass(word|wd)?|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credential|auth|session|cookie|signature|dsn|conn(ection)?[-_]?str)/i;
/** Values that look like credentials whatever their name: AWS keys, JWTs, PEM keys, URLs with a password, long random strings. */
const SECRET_VALUE = [
  /^(AKIA|ASIA)[A-Z0-9]{16}$/,
  /^eyJ[\w-]{8,}\.[\w-]{8,}\./,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i,
  /^(gh[pousr]_|xox[abpr]-|sk_live_|glpat-)/,
];
/** `--password=…`, `--token …`'s value. */
const SECRET_FLAG = /^--?[\w-]*(pass(word)?|secret|token|api[-_]?key|credential)[\w-]*(=|$)/i;

export const MASK = '••••••••';

/** Whether an environment entry (`NAME=value`) holds a secret. */
export function isSecretEnv(entry: string): boolean {
  const eq = entry.indexOf('=');
  if (eq <= 0) return false;
  const value = entry.slice(eq + 1);
  if (value === '') return false;
  return SECRET_NAME.test(entry.slice(0, eq)) || SECRET_VALUE.some((re) => re.test(value));
}

/** The masked form of a secret environment entry: the name stays. */
export function maskEnv(entry: string): string {
  return `${entry.slice(0, entry.indexOf('=') + 1)}${MASK}`;
}

/**
 * Which arguments of a command line hold a secret, and how each is shown: `--password=x` keeps
 * its flag, the argument after a bare `--token` is masked whole, a credential-looking argument too.
 */
export function maskedArgs(cmdline: readonly string[]): { index: number; shown: string }[] {
  const out: { index: number; shown: string }[] = [];
  cmdline.forEach((arg, i) => {
    const flag = SECRET_FLAG.exec(arg);
    if (flag && flag[3] === '=' && arg.length > flag[0].length) out.push({ index: i, shown: `${flag[0]}${MASK}` });
    else if (i > 0 && SECRET_FLAG.exec(cmdline[i - 1] as string)?.[3] === '') out.push({ index: i, shown: MASK });
    else if (SECRET_VALUE.some((re) => re.test(arg))) out.push({ index: i, shown: MASK });
  });
  return out;
}
