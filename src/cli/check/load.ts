import path from 'node:path';
import {
  LineCounter,
  isMap,
  isPair,
  isSeq,
  parseAllDocuments,
  parseDocument,
  visit,
  type Document,
  type Node,
} from 'yaml';
import { parseReview } from '../../admission/review.js';
import { isRunnerConfig, isTemplateSource } from '../../config/index.js';
import type { SourceMap } from './positions.js';
import { isRecord } from '../../util/is-record.js';

/**
 * Turning one input's bytes into what the rules take: a runner config text, or Kubernetes
 * objects (each with its YAML node so findings get file lines), or a reason to skip, or a
 * one-line error. Pure apart from nothing: the caller reads the bytes.
 */

export type InputType = 'toml' | 'yaml' | 'json' | 'template' | 'unknown';

export interface LoadedObject {
  obj: Record<string, unknown>;
  /** AdmissionReview request.kind.kind, authoritative over object.kind */
  kind?: string;
  /** AdmissionReview request.namespace/name, filled into the ref when the object lacks them */
  namespace?: string;
  name?: string;
  source?: SourceMap;
}

export type Loaded =
  | { type: 'toml'; text: string }
  | { type: 'objects'; objects: LoadedObject[]; skipped: number; notes: string[] }
  | { type: 'skip'; reason: string }
  | { type: 'error'; message: string; line?: number; column?: number };

export const TEMPLATE_SKIP = 'template source, not TOML until rendered';
export const YAML_TEMPLATE_SKIP = 'template source (Helm/Go template), not YAML until rendered';
export const NOT_RELEVANT = 'not a runner config or workload';

const TEMPLATE_EXT = /\.(tftpl|tpl|gotmpl|j2|jinja2?)$/i;
const YAML_EXT = /\.ya?ml$/i;

/** Which loader a path gets by its name; `unknown` means sniff the content. */
export function inputTypeOf(file: string): InputType {
  const base = path.basename(file);
  if (TEMPLATE_EXT.test(base)) return 'template';
  if (/\.toml$/i.test(base)) return 'toml';
  if (YAML_EXT.test(base)) return 'yaml';
  if (/\.json$/i.test(base)) return 'json';
  return 'unknown';
}

/** Names a directory walk picks up; anything else in a directory is not ours to judge. */
export function isCandidateName(file: string): boolean {
  return inputTypeOf(file) !== 'unknown';
}

/**
 * A Go/Helm template action: `{{` then an optional trim marker and a pipeline that starts with
 * `.`, `$`, a comment or a template keyword/function. `{{Base64 Token}}` (corpus
 * ericglasser-secret.yaml) is not one: it is a YAML mistake, and must be reported as one.
 */
const GO_TEMPLATE_ACTION =
  /\{\{-?\s*(?:\/\*|\.|\$|(?:if|else|end|range|with|define|template|include|block|tpl|toYaml|toJson|printf|default|quote|squote|required|lookup|indent|nindent|trim|ternary|b64enc|not|and|or|eq|ne)\b)/;

export function hasGoTemplateActions(text: string): boolean {
  return GO_TEMPLATE_ACTION.test(text);
}

/** Text is binary when it has a NUL byte or is not UTF-8; such a file is an input error. */
export function decodeText(
  buf: Buffer,
): { ok: true; text: string } | { ok: false; message: string } {
  if (buf.subarray(0, 8192).includes(0))
    return { ok: false, message: 'binary file (NUL bytes), not a config or manifest' };
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return { ok: true, text: text.replace(/^\uFEFF/, '') };
  } catch {
    return { ok: false, message: 'not UTF-8 text' };
  }
}

/** Sniff stdin or a file with an unknown name. */
export function sniff(text: string): 'toml' | 'yaml' | 'json' {
  const head = text.trimStart();
  if (head.startsWith('{') || head.startsWith('[{') || head.startsWith('[\n') || head === '[]')
    return 'json';
  if (/^(apiVersion|kind)\s*:/m.test(text) || /^---\s*$/m.test(text)) return 'yaml';
  if (isRunnerConfig(text)) return 'toml';
  return 'yaml';
}

/**
 * A `.toml` file is only ours when it is a runner config (named or found by a walk: pre-commit
 * passes every staged file by name, pyproject.toml included). `isRunnerConfig` (src/config) is
 * the webhook's rule too: a key that decodes into `runners`, a global only config.toml has, or,
 * for text that does not parse, a broken `[[runners` header. pyproject.toml and Cargo.toml are
 * skipped.
 */
export function looksLikeRunnerToml(text: string): boolean {
  return isRunnerConfig(text);
}

export function loadToml(text: string): Loaded {
  if (isTemplateSource(text)) return { type: 'skip', reason: TEMPLATE_SKIP };
  if (!looksLikeRunnerToml(text)) return { type: 'skip', reason: 'not a runner config' };
  return { type: 'toml', text };
}

/**
 * The first YAML error as one line, without any source text (the yaml package's pretty errors
 * quote the lines around the error, which may hold a token).
 */
function yamlError(
  doc: Document.Parsed,
): { message: string; line?: number; column?: number } | undefined {
  const e = doc.errors[0];
  if (!e) return undefined;
  const first = (e.message.split('\n')[0] ?? '')
    .replace(/ at line \d+, column \d+:?$/, '')
    .slice(0, 160);
  const out: { message: string; line?: number; column?: number } = {
    message: `YAML does not parse: ${first} (${e.code})`,
  };
  if (e.linePos?.[0]) {
    out.line = e.linePos[0].line;
    out.column = e.linePos[0].col;
  }
  return out;
}

/**
 * Kubernetes reads manifests through sigs.k8s.io/yaml, which converts YAML to JSON, so a map key
 * that is itself a map or a list (what an unquoted `{{ … }}` becomes) cannot be read at all.
 */
function collectionKey(
  doc: Document.Parsed,
  lc: LineCounter,
): { line?: number; column?: number } | undefined {
  let found: { line?: number; column?: number } | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (isPair(pair) && (isMap(pair.key) || isSeq(pair.key))) {
        const r = (pair.key as Node).range;
        found = r ? { line: lc.linePos(r[0]).line, column: lc.linePos(r[0]).col } : {};
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

/** `kind: List` (kubectl get -o yaml) and typed lists (`ConfigMapList`) carry objects in `items`. */
function expand(
  obj: unknown,
  node: Node | undefined,
  lc: LineCounter,
  src: string,
  out: LoadedObject[],
  counter: { skipped: number },
): void {
  if (!isRecord(obj)) {
    if (obj !== null && obj !== undefined) counter.skipped++;
    return;
  }
  const kind = typeof obj.kind === 'string' ? obj.kind : undefined;
  if (kind !== undefined && /List$/.test(kind) && Array.isArray(obj.items)) {
    obj.items.forEach((item, i) => {
      const itemNode = isMap(node) ? (node.get('items', true) as Node | undefined) : undefined;
      const n = isSeq(itemNode) ? (itemNode.items[i] as Node | undefined) : undefined;
      expand(item, n ?? node, lc, src, out, counter);
    });
    return;
  }
  const lo: LoadedObject = { obj };
  if (node) lo.source = { node, lc, src };
  out.push(lo);
}

/**
 * go-yaml (behind sigs.k8s.io/yaml, so kubectl and the apiserver) accepts tabs at the start of
 * the continuation lines of a multi-line flow scalar (`args: ["…\n\t--url …"]`, a quoted string
 * folded over lines indented with tabs), where the yaml package stops with TAB_AS_INDENT. Leading
 * white space of such lines is folded away either way, so it is replaced by spaces two deeper
 * than the previous line. Lines that start a key or an item are left alone: a tab there is an
 * error for go-yaml as well. Returns the text unchanged when no line qualifies.
 */
export function tabContinuations(text: string): string {
  const lines = text.split('\n');
  let prevIndent = 0;
  let changed = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^[ \t]*/.exec(line)![0];
    if (line.trim() === '') continue;
    const rest = line.slice(m.length);
    if (m.includes('\t') && !/^(?:- |-$|[^\s"'#{[][^:#]*:(?:\s|$)|#)/.test(rest)) {
      const indent = prevIndent + 2;
      lines[i] = ' '.repeat(indent) + rest;
      changed = true;
      prevIndent = indent;
      continue;
    }
    prevIndent = m.length;
  }
  return changed ? lines.join('\n') : text;
}

function parseYaml(text: string): { docs: Document.Parsed[]; lc: LineCounter } {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  return { docs: Array.isArray(docs) ? docs : [], lc };
}

export function loadYaml(input: string): Loaded {
  let text = input;
  const first = parseYaml(text);
  let list = first.docs;
  let lc = first.lc;
  if (list.some((d) => d.errors.length > 0) && /^ *\t/m.test(text)) {
    const alt = tabContinuations(text);
    const again = alt === text ? undefined : parseYaml(alt);
    if (again && again.docs.every((d) => d.errors.length === 0)) {
      list = again.docs;
      lc = again.lc;
      text = alt;
    }
  }
  const templated = hasGoTemplateActions(text);
  for (const doc of list) {
    const err = yamlError(doc);
    if (err)
      return templated ? { type: 'skip', reason: YAML_TEMPLATE_SKIP } : { type: 'error', ...err };
    const ck = collectionKey(doc, lc);
    if (ck) {
      if (templated) return { type: 'skip', reason: YAML_TEMPLATE_SKIP };
      return {
        type: 'error',
        message:
          'YAML does not parse as Kubernetes reads it: a map key is itself a map or list (an unquoted `{{ … }}`?)',
        ...ck,
      };
    }
  }
  const objects: LoadedObject[] = [];
  const counter = { skipped: 0 };
  for (const doc of list) {
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      return {
        type: 'error',
        message: `YAML does not load: ${e instanceof Error ? (e.message.split('\n')[0] ?? '') : 'error'}`,
      };
    }
    expand(value, (doc.contents as Node | null) ?? undefined, lc, text, objects, counter);
  }
  return { type: 'objects', objects, skipped: counter.skipped, notes: [] };
}

/** JSON: a Kubernetes object, a List, or an AdmissionReview body (what the apiserver POSTs). */
export function loadJson(text: string): Loaded {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : 'error';
    // V8 messages quote a few characters of the input after "Unexpected token"; keep the position only.
    const pos = /position (\d+)/.exec(msg);
    const out: Loaded = { type: 'error', message: 'JSON does not parse' };
    if (pos) {
      const lc = new LineCounter();
      parseDocument(text, { lineCounter: lc });
      const lp = lc.linePos(Number(pos[1]));
      out.line = lp.line;
      out.column = lp.col;
    }
    return out;
  }
  // Positions come from the same text read as YAML (JSON is YAML 1.2); best effort only.
  const lc = new LineCounter();
  let root: Node | undefined;
  try {
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
    if (doc.errors.length === 0 && doc.contents) root = doc.contents as Node;
  } catch {
    root = undefined;
  }
  const counter = { skipped: 0 };
  const objects: LoadedObject[] = [];
  if (isRecord(value) && value.kind === 'AdmissionReview') {
    const parsed = parseReview(value);
    if (!parsed.ok)
      return { type: 'error', message: `not a valid AdmissionReview: ${parsed.reason}` };
    const req = parsed.request;
    // Same gate as the webhook (src/admission/validate.ts): DELETE/CONNECT and subresources carry no config.
    if (
      (req.operation !== 'CREATE' && req.operation !== 'UPDATE') ||
      req.subResource ||
      !isRecord(req.object)
    ) {
      return {
        type: 'objects',
        objects: [],
        skipped: 1,
        notes: [
          `AdmissionReview ${req.operation}${req.subResource ? ` ${req.subResource}` : ''}: nothing to check`,
        ],
      };
    }
    const objNode = isMap(root)
      ? (root.getIn(['request', 'object'], true) as Node | undefined)
      : undefined;
    const lo: LoadedObject = { obj: req.object, kind: req.kind.kind };
    if (req.namespace) lo.namespace = req.namespace;
    if (req.name) lo.name = req.name;
    if (objNode) lo.source = { node: objNode, lc, src: text };
    objects.push(lo);
    return { type: 'objects', objects, skipped: 0, notes: [] };
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      const n = isSeq(root) ? (root.items[i] as Node | undefined) : undefined;
      expand(v, n, lc, text, objects, counter);
    });
  } else expand(value, root, lc, text, objects, counter);
  return { type: 'objects', objects, skipped: counter.skipped, notes: [] };
}

/** One input's text → Loaded; the name picks the reader, content decides for unknown names and stdin. */
export function loadText(file: string, text: string): Loaded {
  let type = inputTypeOf(file);
  if (type === 'template') return { type: 'skip', reason: TEMPLATE_SKIP };
  if (type === 'unknown') type = sniff(text);
  if (type === 'toml') return loadToml(text);
  if (type === 'json') return loadJson(text);
  return loadYaml(text);
}
