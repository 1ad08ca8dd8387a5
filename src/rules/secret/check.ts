import type { Finding, ObjectRef } from '../../findings/types.js';
import { classifyToken, describeToken } from '../../tokens/index.js';
import { makeFinding, type Location } from '../rule.js';
import { LEGACY_AMBIGUOUS_TOKEN, TOKEN_WHITESPACE } from '../config/rules.js';
import type { DataEntry } from '../data.js';
import {
  AUTH_TOKEN_IN_REGISTRATION_KEY,
  BOTH_CHART_KEYS_SET,
  FOREIGN_TOKEN_IN_CHART_KEY,
  GLRT_IN_REGISTRATION_KEY,
  INVALID_BASE64,
  REGISTRATION_PLACEHOLDER_IN_RUNNER_TOKEN_KEY,
  REGISTRATION_TOKEN_IN_RUNNER_TOKEN_KEY,
} from './rules.js';
import { CHART_KEYS } from '../../runner/facts.js';

const RUNNER_KEY = CHART_KEYS.runnerToken;
const REGISTRATION_KEY = CHART_KEYS.registrationToken;

export function hasChartKeys(entries: readonly DataEntry[]): boolean {
  return entries.some((e) => e.key === RUNNER_KEY || e.key === REGISTRATION_KEY);
}

/** Findings on a Secret's chart-style token keys and undecodable values. Pure. */
export function checkSecretEntries(entries: readonly DataEntry[], object: ObjectRef): Finding[] {
  const findings: Finding[] = [];
  const filled: string[] = [];
  for (const e of entries) {
    const at: Location = { object, dataKey: e.key, field: e.field };
    if (e.invalidBase64) {
      findings.push(makeFinding(INVALID_BASE64, { key: e.key }, at));
      continue;
    }
    if ((e.key !== RUNNER_KEY && e.key !== REGISTRATION_KEY) || e.text === undefined) continue;
    const c = classifyToken(e.text);
    const cls = c.cls;
    at.token = c.redacted;
    if (cls.kind === 'empty') continue;
    if (cls.kind !== 'placeholder' && cls.kind !== 'env-reference') filled.push(e.key);
    if (
      (c.surroundingWhitespace || c.innerWhitespace) &&
      cls.kind !== 'placeholder' &&
      cls.kind !== 'env-reference'
    ) {
      findings.push(
        makeFinding(TOKEN_WHITESPACE, { token: c.redacted, where: `key \`${e.key}\`` }, at),
      );
    }
    if (cls.kind === 'other-gitlab') {
      findings.push(
        makeFinding(
          FOREIGN_TOKEN_IN_CHART_KEY,
          { token: c.redacted, what: describeToken(cls), key: e.key },
          at,
        ),
      );
    } else if (e.key === RUNNER_KEY) {
      if (cls.kind === 'registration')
        findings.push(
          makeFinding(REGISTRATION_TOKEN_IN_RUNNER_TOKEN_KEY, { token: c.redacted }, at),
        );
      else if (cls.kind === 'placeholder' && cls.intent === 'registration')
        findings.push(
          makeFinding(REGISTRATION_PLACEHOLDER_IN_RUNNER_TOKEN_KEY, { token: c.redacted }, at),
        );
      else if (cls.kind === 'legacy-ambiguous')
        findings.push(makeFinding(LEGACY_AMBIGUOUS_TOKEN, { token: c.redacted }, at));
    } else if (cls.kind === 'auth' && c.value.startsWith('glrt-')) {
      findings.push(makeFinding(GLRT_IN_REGISTRATION_KEY, { token: c.redacted }, at));
    } else if (cls.kind === 'auth') {
      findings.push(
        makeFinding(
          AUTH_TOKEN_IN_REGISTRATION_KEY,
          { token: c.redacted, what: describeToken(cls) },
          at,
        ),
      );
    }
  }
  if (filled.includes(RUNNER_KEY) && filled.includes(REGISTRATION_KEY)) {
    findings.push(makeFinding(BOTH_CHART_KEYS_SET, {}, { object }));
  }
  return findings;
}
