import { readFile } from 'node:fs/promises';
import type { Settings } from '../config/settings.js';
import { AmberError, isAmberError } from '../core/amber-error.js';
import { normalizeAgeRecipient, parseAgeRecipientsFile, readAgeIdentityFile, type AgeIdentity } from '../evidence/age/age-keys.js';

/**
 * The default age recipients from the settings (`encryption.recipients` + `recipientsFile`),
 * checked and canonicalised at start-up: a typo in a key must stop the server, not produce
 * evidence nobody can read.
 */
export async function defaultRecipients(settings: Settings): Promise<string[]> {
  const out: string[] = [];
  for (const [i, r] of settings.encryption.recipients.entries()) {
    try {
      out.push(normalizeAgeRecipient(r));
    } catch (cause) {
      throw new AmberError('CONFIG_INVALID', { setting: `encryption.recipients[${i}]`, problem: `'${r}' is not an age recipient (age1…)` }, { cause });
    }
  }
  const file = settings.encryption.recipientsFile;
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      throw new AmberError('CONFIG_INVALID', { setting: 'encryption.recipientsFile', file, problem: 'cannot read the file' }, { cause });
    }
    try {
      out.push(...parseAgeRecipientsFile(text, file));
    } catch (cause) {
      throw new AmberError(
        'CONFIG_INVALID',
        {
          setting: 'encryption.recipientsFile',
          file,
          problem: isAmberError(cause) ? String(cause.details['reason'] ?? cause.message) : 'not a recipients file',
        },
        { cause },
      );
    }
  }
  return [...new Set(out)];
}

/** An age identity file given with --identity; a bad one stops the command with the reason (never the key). */
export async function readIdentities(file: string): Promise<AgeIdentity[]> {
  try {
    return await readAgeIdentityFile(file);
  } catch (cause) {
    throw new AmberError(
      'CONFIG_INVALID',
      { setting: '--identity', file, problem: isAmberError(cause) ? String(cause.details['reason'] ?? cause.message) : 'cannot read the identity file' },
      { cause },
    );
  }
}
