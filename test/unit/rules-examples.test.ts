import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fjp from 'fast-json-patch';
import pino from 'pino';
import { parseAllDocuments } from 'yaml';
import { parseRunnerConfig } from '../../src/config/index.js';
import { formatFinding } from '../../src/findings/format.js';
import type { Finding } from '../../src/findings/types.js';
import { createVerifier, type VerifyItem } from '../../src/gitlab/verifier.js';
import { planInjection } from '../../src/mutation/plan.js';
import type { FetchLike } from '../../src/gitlab/transport.js';
import { checkRunnerConfig } from '../../src/rules/config/check.js';
import { configMapEntries, secretEntries } from '../../src/rules/data.js';
import { evaluateObject } from '../../src/rules/evaluate.js';
import { checkChartValuesText, chartValuesIn } from '../../src/rules/chartvalues/check.js';
import { ALL_RULES } from '../../src/rules/registry.js';
import type { LookupResult, ResolvedRefs } from '../../src/workload/types.js';

/**
 * docs/rules.md is executable: every rule section's ```<lang> bad``` example must make the real
 * rules report that rule id; every ```<lang> fixed``` example must report neither that id nor any
 * deny or warn finding (info findings say nothing is broken, e.g. GRA401 "injected"); and the
 * ```text message``` block must be exactly what the rule prints for a bad example
 * (src/findings/format.ts: the text of the webhook's denial, its log and `check`). When a rule
 * changes, this fails until the docs follow.
 *
 * Context blocks stand in for what the webhook would fetch. Each applies to the examples after
 * it in its section, up to the next block of the same role:
 *   ```yaml resolved``` — the ConfigMaps/Secrets the webhook's lookups read (src/kube), passed
 *                         as `resolved`; its presence means lookups are on, and an object absent
 *                         from it was not read (GRA211-213, GRA4xx need it);
 *   ```yaml gitlab```   — token → HTTP status that GitLab's POST /api/v4/runners/verify answers,
 *                         served by an in-process fetch stub (no network) to the real verifier
 *                         (src/gitlab/verifier.ts, GRA3xx).
 *
 * GRA4xx examples take the webhook's admission path: the mutating plan (src/mutation/plan.ts),
 * then the validating rules on the patched object, which is what the apiserver hands on.
 */

const DOC = path.resolve(import.meta.dirname, '../../docs/rules.md');
const GITLAB_URL = 'https://gitlab.example.com';

interface Block {
  lang: string;
  role: string;
  text: string;
  line: number;
}

interface Section {
  id: string;
  title: string;
  blocks: Block[];
}

function parseDoc(md: string): Section[] {
  const sections: Section[] = [];
  const lines = md.split('\n');
  let cur: Section | undefined;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const h = /^## (GRA\d{3}) — (.+)$/.exec(l);
    if (h) {
      cur = { id: h[1]!, title: h[2]!, blocks: [] };
      sections.push(cur);
      continue;
    }
    if (/^## /.test(l)) {
      cur = undefined;
      continue;
    }
    const open = /^```(\w+)[ \t]+([\w-]+)[ \t]*$/.exec(l);
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    if (cur)
      cur.blocks.push({
        lang: open[1]!,
        role: open[2]!,
        text: lines.slice(start, end).join('\n') + '\n',
        line: start + 1,
      });
    i = end;
  }
  return sections;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function yamlDocs(text: string): unknown[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`invalid YAML: ${d.errors[0]!.message}`);
      return d.toJS();
    })
    .filter((o) => o !== null && o !== undefined);
}

/** The cluster state a resolved block describes, as src/kube would hand it over (Secret values decoded). */
function resolvedFrom(text: string): ResolvedRefs {
  const r: ResolvedRefs = { configMaps: new Map(), secrets: new Map() };
  for (const obj of yamlDocs(text)) {
    if (!isRecord(obj) || !isRecord(obj.metadata) || typeof obj.metadata.name !== 'string')
      throw new Error('resolved: every object needs metadata.name');
    const data: Record<string, string> = {};
    const entries =
      obj.kind === 'Secret'
        ? secretEntries(obj)
        : obj.kind === 'ConfigMap'
          ? configMapEntries(obj)
          : undefined;
    if (!entries) throw new Error(`resolved: only ConfigMap and Secret, got ${String(obj.kind)}`);
    for (const e of entries) if (e.text !== undefined) data[e.key] = e.text;
    (obj.kind === 'Secret' ? r.secrets : r.configMaps).set(obj.metadata.name, data as LookupResult);
  }
  return r;
}

function gitlabFrom(text: string): Map<string, number> {
  const m = new Map<string, number>();
  const [obj] = yamlDocs(text);
  if (!isRecord(obj)) throw new Error('gitlab: expected a map of token: status');
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== 'number')
      throw new Error(`gitlab: status for ${k.slice(0, 6)}… must be a number`);
    m.set(k, v);
  }
  return m;
}

async function verifyOnline(items: VerifyItem[], answers: Map<string, number>): Promise<Finding[]> {
  const asked: string[] = [];
  const fetch: FetchLike = async (url, init) => {
    if (url !== `${GITLAB_URL}/api/v4/runners/verify`) throw new Error(`unexpected URL ${url}`);
    const token = (JSON.parse(init.body) as { token: string }).token;
    asked.push(token);
    const status = answers.get(token);
    if (status === undefined)
      throw new Error('the gitlab block has no answer for a token the example verifies');
    return { status, text: async () => '{}' };
  };
  const log = pino({ level: 'silent' });
  const v = createVerifier({ verify: true, allowlist: [GITLAB_URL], budgetMs: 2000 }, log, {
    fetch,
  });
  try {
    const r = await v.verify(items, { dryRun: false, deadline: Date.now() + 60_000 });
    if (r.warnings.length > 0)
      throw new Error(`verification did not complete: ${r.warnings.join('; ')}`);
    return r.findings;
  } finally {
    v.close();
  }
}

interface Context {
  resolved?: ResolvedRefs;
  gitlab?: Map<string, number>;
}

/** Mutating webhook, then validating webhook on its result. */
function admit(
  obj: unknown,
  resolved: ResolvedRefs | undefined,
): { findings: Finding[]; object: unknown } {
  const kind = isRecord(obj) && typeof obj.kind === 'string' ? obj.kind : '';
  const plan = planInjection(obj, { kind, ...(resolved ? { resolved } : {}) });
  const object =
    plan.action === 'patch'
      ? fjp.applyPatch(structuredClone(obj), plan.patch as fjp.Operation[], true, false).newDocument
      : obj;
  return { findings: plan.findings, object };
}

/** Every finding the product reports for one example, offline and (with a gitlab block) online. */
async function run(b: Block, ctx: Context, mutation: boolean): Promise<Finding[]> {
  const findings: Finding[] = [];
  const items: VerifyItem[] = [];
  if (b.lang === 'toml') {
    const object = { kind: 'File', name: 'config.toml' };
    findings.push(...checkRunnerConfig(b.text, { object, storage: 'file' }));
    const parsed = parseRunnerConfig(b.text);
    if (parsed.ok) {
      // the same credentials evaluate.ts collects from a ConfigMap/Secret config
      for (const r of parsed.runners) {
        if (r.url === undefined || r.token === undefined || r.token.trim() === '') continue;
        const at: VerifyItem['at'] = {
          object,
          runner: { index: r.index, ...(r.name !== undefined ? { name: r.name } : {}) },
        };
        if (r.tokenLine !== undefined) at.line = r.tokenLine;
        items.push({ url: r.url, token: r.token, at });
      }
    }
  } else if (b.lang === 'yaml') {
    for (const doc of yamlDocs(b.text)) {
      if (chartValuesIn(doc)) {
        // a values file of the gitlab-runner chart, as `check` reads one (GRA5xx)
        const ev = checkChartValuesText(b.text, {
          object: { kind: 'File', name: 'values.yaml' },
          host: 'this values file',
        });
        if (!ev)
          throw new Error(`line ${b.line}: chart values that do not read as one YAML document`);
        findings.push(...ev.findings);
        items.push(...ev.credentials);
        continue;
      }
      let obj = doc;
      if (mutation) {
        const m = admit(doc, ctx.resolved);
        findings.push(...m.findings);
        obj = m.object;
      }
      const ev = evaluateObject(obj, ctx.resolved ? { resolved: ctx.resolved } : {});
      findings.push(...ev.findings);
      items.push(...ev.credentials);
    }
  } else {
    throw new Error(`example language must be toml or yaml, got ${b.lang}`);
  }
  if (ctx.gitlab && items.length > 0) findings.push(...(await verifyOnline(items, ctx.gitlab)));
  return findings;
}

const sections = parseDoc(readFileSync(DOC, 'utf8'));
const known = new Set(ALL_RULES.map((r) => r.id));
const EXAMPLE_ROLES = new Set(['bad', 'fixed']);
const CONTEXT_ROLES = new Set(['resolved', 'gitlab', 'message']);

t.test('docs/rules.md has rule sections to check', async (t) => {
  t.ok(
    sections.length >= ALL_RULES.length,
    `${sections.length} sections for ${ALL_RULES.length} rules`,
  );
});

for (const s of sections) {
  t.test(`${s.id} examples`, async (t) => {
    for (const b of s.blocks) {
      t.ok(
        EXAMPLE_ROLES.has(b.role) || CONTEXT_ROLES.has(b.role),
        `line ${b.line}: known block role "${b.role}"`,
      );
    }
    const bad = s.blocks.filter((b) => b.role === 'bad');
    const fixed = s.blocks.filter((b) => b.role === 'fixed');
    const messages = s.blocks.filter((b) => b.role === 'message');
    t.ok(bad.length > 0, 'has at least one bad example');
    t.ok(fixed.length > 0, 'has at least one fixed example');
    t.equal(messages.length, 1, 'has exactly one message block');
    if (!known.has(s.id)) return; // rules-doc.test.ts reports the unknown id

    const mutation = s.id.startsWith('GRA4');
    const ctx: Context = {};
    const shown: string[] = [];
    for (const b of s.blocks) {
      if (b.role === 'resolved') ctx.resolved = resolvedFrom(b.text);
      else if (b.role === 'gitlab') ctx.gitlab = gitlabFrom(b.text);
      else if (b.role === 'bad') {
        const found = await run(b, ctx, mutation);
        const mine = found.filter((f) => f.ruleId === s.id);
        t.ok(mine.length > 0, `bad example at line ${b.line} yields ${s.id}`, {
          found: found.map((f) => f.ruleId),
        });
        shown.push(...mine.map(formatFinding));
      } else if (b.role === 'fixed') {
        const found = await run(b, ctx, mutation);
        // Not only "not this rule": a fixed example must not teach another mistake.
        const left = found.filter((f) => f.ruleId === s.id || f.severity !== 'info');
        t.same(
          left.map((f) => `${f.ruleId}: ${f.message}`),
          [],
          `fixed example at line ${b.line} yields no ${s.id} and no deny/warn finding`,
        );
      }
    }
    const m = messages[0];
    if (m) {
      const want = m.text.trimEnd();
      t.ok(
        shown.includes(want),
        `message block at line ${m.line} is what ${s.id} prints for a bad example`,
        { shown, want },
      );
    }
  });
}
