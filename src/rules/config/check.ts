import { parseRunnerConfig } from '../../config/index.js';
import type { ParsedRunnerConfig } from '../../config/types.js';
import type { Finding, ObjectRef } from '../../findings/types.js';
import { classifyToken, describeToken, isGitlabToken } from '../../tokens/index.js';
import { makeFinding, type Location } from '../rule.js';
import {
  AMBIGUOUS_KEY,
  DUPLICATE_TOKEN,
  FOREIGN_TOKEN_IN_CONFIG,
  INVALID_TOML,
  LEGACY_AMBIGUOUS_TOKEN,
  REGISTRATION_PLACEHOLDER,
  REGISTRATION_TOKEN_IN_CONFIG,
  TOKEN_IN_CONFIGMAP,
  TOKEN_WHITESPACE,
  UNKNOWN_KEY,
  UNLOADABLE_CONFIG,
} from './rules.js';

/** Where the config text lives decides some rules: a token in a ConfigMap is readable by far more people. */
export type ConfigStorage = 'configmap' | 'secret' | 'file';

export interface ConfigSite {
  object: ObjectRef;
  storage: ConfigStorage;
  /** ConfigMap/Secret data key; absent for a plain file */
  dataKey?: string;
}

/** All findings for one runner config text. Pure. */
/** `parsed` lets a caller that also needs the runners parse the text once (TOML parsing dominates a review). */
export function checkRunnerConfig(
  text: string,
  site: ConfigSite,
  parsed: ParsedRunnerConfig = parseRunnerConfig(text),
): Finding[] {
  const base: Location = { object: site.object };
  if (site.dataKey !== undefined) base.dataKey = site.dataKey;
  if (!parsed.ok) {
    const e = parsed.error;
    return [
      makeFinding(INVALID_TOML, { error: e.message }, { ...base, line: e.line, column: e.column }),
    ];
  }

  const findings: Finding[] = [];
  for (const p of parsed.problems) {
    if (p.kind === 'unloadable')
      findings.push(
        makeFinding(UNLOADABLE_CONFIG, { reason: p.reason }, { ...base, line: p.line }),
      );
    else
      findings.push(
        makeFinding(
          AMBIGUOUS_KEY,
          { reason: p.reason, lines: (p.lines ?? [p.line]).join(' and ') },
          { ...base, line: p.line },
        ),
      );
  }
  const seen = new Map<string, number>();
  for (const r of parsed.runners) {
    if (r.token === undefined) continue;
    const c = classifyToken(r.token);
    const at: Location = {
      ...base,
      runner: { index: r.index, ...(r.name !== undefined ? { name: r.name } : {}) },
      token: c.redacted,
    };
    if (r.tokenLine !== undefined) at.line = r.tokenLine;
    const cls = c.cls;

    // Placeholders such as `<runner's token>` contain spaces by nature; only real values break the header.
    if (
      (c.surroundingWhitespace || c.innerWhitespace) &&
      cls.kind !== 'empty' &&
      cls.kind !== 'placeholder' &&
      cls.kind !== 'env-reference'
    ) {
      findings.push(makeFinding(TOKEN_WHITESPACE, { token: c.redacted, where: 'token' }, at));
    }
    switch (cls.kind) {
      case 'registration':
        findings.push(makeFinding(REGISTRATION_TOKEN_IN_CONFIG, { token: c.redacted }, at));
        break;
      case 'other-gitlab':
        findings.push(
          makeFinding(FOREIGN_TOKEN_IN_CONFIG, { token: c.redacted, what: describeToken(cls) }, at),
        );
        break;
      case 'placeholder':
        if (cls.intent === 'registration')
          findings.push(makeFinding(REGISTRATION_PLACEHOLDER, { token: c.redacted }, at));
        break;
      case 'legacy-ambiguous':
        findings.push(makeFinding(LEGACY_AMBIGUOUS_TOKEN, { token: c.redacted }, at));
        break;
      default:
        break;
    }
    const secretLike = isGitlabToken(cls);
    if (site.storage === 'configmap' && secretLike) {
      findings.push(
        makeFinding(TOKEN_IN_CONFIGMAP, { token: c.redacted, what: describeToken(cls) }, at),
      );
    }
    if (secretLike) {
      const other = seen.get(c.value);
      // two candidate `token` keys of one runner (GRA011) are not two runners
      if (other !== undefined && other !== r.index)
        findings.push(makeFinding(DUPLICATE_TOKEN, { token: c.redacted, other }, at));
      else seen.set(c.value, r.index);
    }
  }
  for (const u of parsed.unknownKeys) {
    findings.push(
      makeFinding(
        UNKNOWN_KEY,
        { key: u.path, ...(u.suggestion !== undefined ? { suggestion: u.suggestion } : {}) },
        { ...base, line: u.line },
      ),
    );
  }
  return findings;
}
