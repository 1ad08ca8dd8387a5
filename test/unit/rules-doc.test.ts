import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ALL_RULES } from '../../src/rules/registry.js';

/**
 * docs/rules.md covers exactly the rules the product has: one `## GRAnnn — <title>` section per
 * id in ALL_RULES, with the registry's title and severity, listed in the table of all rules, and
 * no section or table row for an id the product does not have. The examples inside the sections
 * are checked by rules-examples.test.ts.
 */

const DOC = path.resolve(import.meta.dirname, '../../docs/rules.md');
const md = readFileSync(DOC, 'utf8');
const lines = md.split('\n');

interface Heading {
  id: string;
  title: string;
  line: number;
  /** the section's text up to the next `## ` heading */
  body: string;
}

const headings: Heading[] = [];
for (let i = 0; i < lines.length; i++) {
  const m = /^## (GRA\d{3}) — (.+)$/.exec(lines[i]!);
  if (!m) continue;
  let end = i + 1;
  while (end < lines.length && !/^## /.test(lines[end]!)) end++;
  headings.push({ id: m[1]!, title: m[2]!, line: i + 1, body: lines.slice(i + 1, end).join('\n') });
}

/** GitHub's heading anchor (github-slugger): lower-case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

const byId = new Map(ALL_RULES.map((r) => [r.id, r]));

t.test('every rule in ALL_RULES has exactly one section', async (t) => {
  for (const r of ALL_RULES) {
    const found = headings.filter((h) => h.id === r.id);
    t.equal(found.length, 1, `${r.id} has one "## ${r.id} — …" section`);
  }
});

t.test('no section names an id the product does not have', async (t) => {
  for (const h of headings) t.ok(byId.has(h.id), `${h.id} (line ${h.line}) is in ALL_RULES`);
  // a heading that tries to be a rule section but misses the exact form would escape both checks
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^#+\s.*\bGRA\d{3}\b/.test(l))
      t.match(
        l,
        /^## GRA\d{3} — \S/,
        `line ${i + 1}: rule heading has the form "## GRAnnn — title"`,
      );
  }
});

t.test('sections follow id order', async (t) => {
  const ids = headings.map((h) => h.id);
  t.same(ids, [...ids].sort(), 'sorted by id');
});

t.test('each section carries the registry title and severity', async (t) => {
  for (const h of headings) {
    const r = byId.get(h.id);
    if (!r) continue;
    t.equal(h.title, r.title, `${h.id} heading title`);
    const sev = /^\*\*Severity:\*\* `(deny|warn|info)`/m.exec(h.body);
    t.ok(sev, `${h.id} has a **Severity:** line`);
    if (sev) t.equal(sev[1], r.severity, `${h.id} severity`);
  }
});

t.test('the table of all rules lists every rule once, with working links', async (t) => {
  const rows = new Map<
    string,
    { severity: string; title: string; anchor: string; count: number }
  >();
  for (const l of lines) {
    // cells may be padded (a formatter aligns the columns)
    const m = /^\|\s*\[(GRA\d{3})\]\(#([^)]+)\)\s*\|\s*(\w+)\s*\|\s*(.+?)\s*\|$/.exec(l);
    if (!m) continue;
    const prev = rows.get(m[1]!);
    rows.set(m[1]!, {
      anchor: m[2]!,
      severity: m[3]!,
      title: m[4]!,
      count: (prev?.count ?? 0) + 1,
    });
  }
  t.same([...rows.keys()].sort(), ALL_RULES.map((r) => r.id).sort(), 'table ids = ALL_RULES ids');
  for (const r of ALL_RULES) {
    const row = rows.get(r.id);
    if (!row) continue;
    t.equal(row.count, 1, `${r.id} listed once`);
    t.equal(row.severity, r.severity, `${r.id} table severity`);
    t.equal(row.title, r.title, `${r.id} table title`);
    const h = headings.find((x) => x.id === r.id);
    if (h) t.equal(row.anchor, slug(`${h.id} — ${h.title}`), `${r.id} link points at its heading`);
  }
});

t.test('the slug function matches GitHub for the heading shapes used here', async (t) => {
  // known GitHub anchors: em dash and brackets dropped, leaving a double hyphen
  t.equal(
    slug('GRA001 — registration token in [[runners]] token'),
    'gra001--registration-token-in-runners-token',
  );
  t.equal(
    slug('GRA210 — `run` uses a config directory on a read-only mount'),
    'gra210--run-uses-a-config-directory-on-a-read-only-mount',
  );
  t.equal(slug('GRA004 — config.toml is not valid TOML'), 'gra004--configtoml-is-not-valid-toml');
});
