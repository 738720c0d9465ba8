import { Compile } from 'typebox/compile';
import { AmberError } from '../core/amber-error.js';
import { describeSchemaErrors } from '../core/schema-problem.js';
import type { Source } from '../core/signal.js';
import { AlertmanagerWebhook } from './alertmanager-webhook.js';
import { FalcoEvent } from './falco-event.js';
import type { IntakeResult } from './intake-result.js';
import { DEFAULT_LABEL_KEYS, normaliseAlertmanager, type AlertmanagerLabelKeys } from './normalise-alertmanager.js';
import { normaliseFalco } from './normalise-falco.js';

const checkFalco = Compile(FalcoEvent);
const checkAlertmanager = Compile(AlertmanagerWebhook);

/**
 * Any alert document (Falco event, Falcosidekick payload, Alertmanager webhook) → signals,
 * validated by the same schemas as the HTTP routes. For tools that read alerts from files.
 */
export function normaliseAlert(doc: unknown, keys: AlertmanagerLabelKeys = DEFAULT_LABEL_KEYS): { source: Source; result: IntakeResult } {
  const isObject = doc !== null && typeof doc === 'object' && !Array.isArray(doc);
  if (isObject && 'alerts' in doc) {
    if (!checkAlertmanager.Check(doc)) {
      const { path, problem } = describeSchemaErrors(checkAlertmanager.Errors(doc));
      throw new AmberError('INTAKE_INVALID_PAYLOAD', { format: 'Alertmanager webhook', path, problem });
    }
    return { source: 'alertmanager', result: normaliseAlertmanager(doc, keys) };
  }
  if (isObject && ('output_fields' in doc || 'rule' in doc)) {
    if (!checkFalco.Check(doc)) {
      const { path, problem } = describeSchemaErrors(checkFalco.Errors(doc));
      throw new AmberError('INTAKE_INVALID_PAYLOAD', { format: 'Falco event', path, problem });
    }
    return { source: 'falco', result: normaliseFalco(doc) };
  }
  throw new AmberError('INTAKE_INVALID_PAYLOAD', { problem: 'neither a Falco event nor an Alertmanager webhook' });
}
