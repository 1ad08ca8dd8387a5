import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { isTemplateSource } from '../../config/index.js';
import type { Finding, ObjectRef } from '../../findings/types.js';
import { classifyToken, describeToken, isRealToken } from '../../tokens/index.js';
import { isRecord } from '../../util/is-record.js';
import { makeFinding, type Location } from '../rule.js';
import { checkRunnerConfig } from '../config/check.js';
import { LEGACY_AMBIGUOUS_TOKEN, TOKEN_WHITESPACE } from '../config/rules.js';
import {
  AUTH_TOKEN_IN_REGISTRATION_VALUE,
  FOREIGN_TOKEN_IN_CHART_VALUE,
  REGISTRATION_TOKEN_IN_RUNNER_TOKEN_VALUE,
  REGISTRATION_VALUE_IGNORED,
  TOKEN_INLINE_IN_VALUES,
} from './rules.js';

/**
 * The official gitlab-runner chart's values (0.x; the layout documented in the chart's
 * values.yaml of 0.86), checked with the same token rules as a Secret and the same config
 * rules as a config.toml. Pure: the caller hands over the values as an object (HelmRelease
 * spec.values, Argo CD valuesObject) or as YAML text (a values file, Argo CD helm.values), and
 * gets findings whose lines point into that text.
 *
 * What the chart does with them (templates/secrets.yaml, templates/configmap.yaml):
 * - `runnerToken` → Secret key `runner-token` → CI_SERVER_TOKEN → `register --token`;
 * - `runnerRegistrationToken` → `runner-registration-token` → REGISTRATION_TOKEN;
 * - `runners.secret` names an existing Secret with those keys instead (GitLab docs,
 *   "Store registration tokens or runner tokens in secrets", chart MR !405);
 * - `runners.config` goes through Helm's `tpl` into the ConfigMap key `config.template.toml`,
 *   which `register --template-config` merges into the config it writes.
 */

export type Seg = string | number;

/** Where the values sit, and how to turn a path inside them into a line of the text they came from. */
export interface ValuesSite {
  object: ObjectRef;
  /** path of the values inside the host object (`spec.values`), empty for a values file */
  prefix: readonly Seg[];
  /** the values are a YAML string held by this field of the host (Argo CD `helm.values`); findings point at it */
  textField?: string;
  /** words for where inline values end up: `this values file`, `this HelmRelease` */
  host: string;
}

/** A gitlabUrl + runnerToken pair for online verification; the same shape as rules/evaluate.ts Credential. */
export interface ValuesCredential {
  url: string;
  token: string;
  at: Location;
}

export interface ValuesEvaluation {
  findings: Finding[];
  credentials: ValuesCredential[];
  notes: string[];
}

type Locate = (path: readonly Seg[]) => { line: number; literalBlock: boolean } | undefined;

const SHAPE_KEYS = ['gitlabUrl', 'runnerToken', 'runnerRegistrationToken'] as const;
/** An umbrella chart that depends on gitlab-runner keeps its values under the dependency's name. */
const UMBRELLA_KEY = 'gitlab-runner';

function hasChartShape(v: Record<string, unknown>): boolean {
  if ('apiVersion' in v || 'kind' in v) return false;
  if (typeof v.gitlabUrl === 'string') return true;
  if (SHAPE_KEYS.some((k) => k in v && (typeof v[k] === 'string' || v[k] === null))) return true;
  const r = v.runners;
  return (
    isRecord(r) &&
    ((typeof r.config === 'string' && /\[\[\s*runners\s*\]\]/.test(r.config)) ||
      typeof r.secret === 'string')
  );
}

/** The gitlab-runner chart values inside a YAML document, and their path; undefined when it is not such values. */
export function chartValuesIn(
  doc: unknown,
): { values: Record<string, unknown>; path: Seg[] } | undefined {
  if (!isRecord(doc)) return undefined;
  if (hasChartShape(doc)) return { values: doc, path: [] };
  const sub = doc[UMBRELLA_KEY];
  if (!('apiVersion' in doc) && !('kind' in doc) && isRecord(sub) && hasChartShape(sub))
    return { values: sub, path: [UMBRELLA_KEY] };
  return undefined;
}

function dotted(path: readonly Seg[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

/**
 * Helm renders `runners.config` with `tpl` before the runner reads it. Replace each action by a
 * harmless word on the same line so the TOML lines stay where they are: a line that is only an
 * action (`{{- if … }}`) becomes empty, an action in a value position becomes a string.
 */
export function neutralizeTemplate(text: string): string {
  // A linear scan per line (indexOf), not a backtracking regex: values can be megabytes.
  return text
    .split('\n')
    .map((line) => {
      const spans: [number, number][] = [];
      let from = 0;
      for (;;) {
        const open = line.indexOf('{{', from);
        if (open < 0) break;
        const close = line.indexOf('}}', open + 2);
        if (close < 0) break;
        spans.push([open, close + 2]);
        from = close + 2;
      }
      if (spans.length === 0) return line;
      let rest = '';
      let at = 0;
      for (const [a, b] of spans) {
        rest += line.slice(at, a);
        at = b;
      }
      rest += line.slice(at);
      if (rest.trim() === '') return '';
      let out = '';
      at = 0;
      spans.forEach(([a, b], i) => {
        const before = line.slice(at, a);
        const last = i === spans.length - 1 && line.slice(b).trim() === '';
        out += before + (last && /=\s*$/.test(before) ? '"tpl"' : 'tpl');
        at = b;
      });
      return out + line.slice(at);
    })
    .join('\n');
}

interface Ctx {
  site: ValuesSite;
  locate?: Locate;
  out: ValuesEvaluation;
}

/** Where a finding about the value at `path` (inside the values) points. */
function locationOf(ctx: Ctx, path: readonly Seg[]): Location {
  const at: Location = { object: ctx.site.object };
  const full = [...ctx.site.prefix, ...path];
  if (ctx.site.textField !== undefined) at.field = ctx.site.textField;
  else at.field = dotted(full);
  const l = ctx.locate?.(full);
  if (l) at.line = l.line;
  return at;
}

function stringAt(v: Record<string, unknown>, key: string): string | undefined {
  const x = v[key];
  return typeof x === 'string' ? x : typeof x === 'number' ? String(x) : undefined;
}

function checkSlots(values: Record<string, unknown>, ctx: Ctx): void {
  const out = ctx.out;
  const host = ctx.site.host;
  const filled: string[] = [];
  let authToken: { token: string; at: Location } | undefined;
  for (const slot of ['runnerToken', 'runnerRegistrationToken'] as const) {
    const raw = stringAt(values, slot);
    if (raw === undefined) continue;
    const c = classifyToken(raw);
    const cls = c.cls;
    // `${VAR}` is filled in before Helm sees it (helmfile, Terraform, envsubst): set, but of unknown kind
    if (cls.kind === 'env-reference') filled.push(slot);
    if (cls.kind === 'empty' || cls.kind === 'env-reference' || cls.kind === 'placeholder')
      continue;
    const at: Location = { ...locationOf(ctx, [slot]), token: c.redacted };
    filled.push(slot);
    if (c.surroundingWhitespace || c.innerWhitespace) {
      out.findings.push(
        makeFinding(TOKEN_WHITESPACE, { token: c.redacted, where: `\`${slot}\`` }, at),
      );
    }
    if (cls.kind === 'other-gitlab') {
      out.findings.push(
        makeFinding(
          FOREIGN_TOKEN_IN_CHART_VALUE,
          { token: c.redacted, what: describeToken(cls), slot },
          at,
        ),
      );
    } else if (slot === 'runnerToken') {
      if (cls.kind === 'registration')
        out.findings.push(
          makeFinding(REGISTRATION_TOKEN_IN_RUNNER_TOKEN_VALUE, { token: c.redacted }, at),
        );
      else if (cls.kind === 'legacy-ambiguous')
        out.findings.push(makeFinding(LEGACY_AMBIGUOUS_TOKEN, { token: c.redacted }, at));
      // only what may be a runner token goes to GitLab: never a personal access token or other foreign kind
      if (cls.kind === 'auth' || cls.kind === 'legacy-ambiguous') authToken = { token: raw, at };
    } else if (cls.kind === 'auth') {
      // register.go accepts a glrt- token given as a registration token and only verifies it (see GRA107)
      const severity = c.value.startsWith('glrt-') ? 'warn' : 'deny';
      out.findings.push(
        makeFinding(
          AUTH_TOKEN_IN_REGISTRATION_VALUE,
          { token: c.redacted, what: describeToken(cls) },
          at,
          severity,
        ),
      );
    }
    if (isRealToken(cls)) {
      out.findings.push(
        makeFinding(
          TOKEN_INLINE_IN_VALUES,
          { token: c.redacted, what: describeToken(cls), slot, host },
          at,
        ),
      );
    }
  }
  if (filled.length === 2) {
    out.findings.push(
      makeFinding(REGISTRATION_VALUE_IGNORED, {}, locationOf(ctx, ['runnerRegistrationToken'])),
    );
  }
  const url = stringAt(values, 'gitlabUrl');
  if (authToken && url !== undefined && url.trim() !== '')
    out.credentials.push({ url: url.trim(), token: authToken.token, at: authToken.at });
}

function checkConfigTemplate(values: Record<string, unknown>, ctx: Ctx): void {
  const runners = values.runners;
  if (!isRecord(runners) || typeof runners.config !== 'string' || runners.config.trim() === '')
    return;
  const raw = runners.config;
  const templated = isTemplateSource(raw);
  const text = templated ? neutralizeTemplate(raw) : raw;
  const object = ctx.site.object;
  const found = checkRunnerConfig(text, { object, storage: 'configmap' });
  const path: Seg[] = ['runners', 'config'];
  if (templated && found.some((f) => f.ruleId === 'GRA004')) {
    ctx.out.notes.push(
      `${dotted([...ctx.site.prefix, ...path])}: skipped, a Helm template that is not TOML until rendered`,
    );
    return;
  }
  const full = [...ctx.site.prefix, ...path];
  const block = ctx.locate?.(full);
  for (const f of found) {
    const g: Finding = { ...f, field: ctx.site.textField ?? dotted(full) };
    delete g.column;
    if (ctx.locate) {
      // lines of the text the values came from: inside a literal block the TOML lines map 1:1
      if (!block) delete g.line;
      else g.line = block.literalBlock && f.line !== undefined ? block.line + f.line : block.line;
    }
    ctx.out.findings.push(g);
  }
}

/** Values given as an object (HelmRelease spec.values, Argo CD helm.valuesObject). */
export function checkChartValues(
  values: Record<string, unknown>,
  site: ValuesSite,
  locate?: Locate,
): ValuesEvaluation {
  const ctx: Ctx = {
    site,
    out: { findings: [], credentials: [], notes: [] },
    ...(locate ? { locate } : {}),
  };
  checkSlots(values, ctx);
  checkConfigTemplate(values, ctx);
  return ctx.out;
}

function keyLine(lc: LineCounter, n: Node | null | undefined): number | undefined {
  return n?.range ? lc.linePos(n.range[0]).line : undefined;
}

/** A path → line function over one parsed YAML document: the line of the key, and whether its value is a `|` block. */
function locator(root: Node | null, lc: LineCounter): Locate {
  return (path) => {
    let node: unknown = root;
    let line: number | undefined = keyLine(lc, root);
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
        );
        if (!pair) return undefined;
        line = keyLine(lc, pair.key as Node) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
        line = keyLine(lc, node as Node) ?? line;
      } else return undefined;
    }
    if (line === undefined) return undefined;
    const literalBlock = isScalar(node) && node.type === 'BLOCK_LITERAL';
    // a `|` block's content starts on the line after its header, which is the key's line
    return {
      line: literalBlock && isScalar(node) && node.range ? lc.linePos(node.range[0]).line : line,
      literalBlock,
    };
  };
}

/**
 * Values given as YAML text (a values file, Argo CD `helm.values`). Undefined when the text
 * does not parse or is not gitlab-runner chart values; lines in findings are lines of `text`.
 */
export function checkChartValuesText(
  text: string,
  site: Omit<ValuesSite, 'prefix'>,
): ValuesEvaluation | undefined {
  const lc = new LineCounter();
  let doc;
  try {
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  } catch {
    return undefined;
  }
  if (doc.errors.length > 0) return undefined;
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 100 });
  } catch {
    return undefined;
  }
  const found = chartValuesIn(js);
  if (!found) return undefined;
  return checkChartValues(
    found.values,
    { ...site, prefix: found.path },
    locator(doc.contents as Node | null, lc),
  );
}
