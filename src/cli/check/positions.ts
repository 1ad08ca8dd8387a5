import { isMap, isPair, isScalar, isSeq, type LineCounter, type Node } from 'yaml';
import type { Finding } from '../../findings/types.js';

/**
 * Where a finding sits in the FILE a person opens, given the YAML node of the object it is
 * about. A finding carries its position inside the object (data key, field path, TOML line
 * inside a data value); this maps that onto the YAML source. Pure.
 */

export interface FilePosition {
  line: number;
  column?: number;
}

/** The YAML node of one object plus what is needed to turn offsets into lines. */
export interface SourceMap {
  node: Node;
  lc: LineCounter;
  /** the source text, only to measure the indentation of block scalars; never printed */
  src: string;
}

type Seg = string | number;

/** `spec.template.spec.containers[0].env[2]`, `data[config.toml]` → path segments. */
export function fieldPath(field: string): Seg[] {
  const out: Seg[] = [];
  const re = /\[([^\]]*)\]|([^.[\]]+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(field)) !== null) {
    if (m[1] !== undefined) out.push(/^\d+$/.test(m[1]) ? Number(m[1]) : m[1]);
    else if (m[2] !== undefined) out.push(m[2]);
  }
  return out;
}

function lineOf(sm: SourceMap, offset: number): number {
  return sm.lc.linePos(offset).line;
}

interface Walk {
  /** line of the deepest key (or sequence item) reached */
  line: number;
  /** the value node at the end of the path, when the whole path resolved */
  node?: Node | undefined;
}

/** Follow a path from the object's node as far as it goes. */
export function walk(sm: SourceMap, path: readonly Seg[]): Walk {
  let node: unknown = sm.node;
  let line = lineOf(sm, sm.node.range?.[0] ?? 0);
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
      );
      if (!pair) return { line };
      const key = pair.key as Node;
      if (key.range) line = lineOf(sm, key.range[0]);
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!item) return { line };
      if (isMap(item) || isSeq(item) || isScalar(item)) {
        if (item.range) line = lineOf(sm, item.range[0]);
      }
      node = item;
    } else {
      return { line };
    }
  }
  return { line, node: isMap(node) || isSeq(node) || isScalar(node) ? node : undefined };
}

/**
 * A TOML line inside a literal block scalar (`config.toml: |`) maps 1:1 onto file lines: the
 * content starts on the line after the `|` header and YAML keeps every line, blank ones too.
 * Folded (`>`) and quoted scalars re-flow lines, so those get the key's line instead.
 */
function blockLine(
  sm: SourceMap,
  node: Node,
  tomlLine: number,
  tomlColumn: number | undefined,
): FilePosition | undefined {
  if (
    !isScalar(node) ||
    node.type !== 'BLOCK_LITERAL' ||
    !node.range ||
    typeof node.value !== 'string'
  )
    return undefined;
  const lines = node.value.split('\n');
  if (tomlLine < 1 || tomlLine > lines.length) return undefined;
  const header = lineOf(sm, node.range[0]);
  const pos: FilePosition = { line: header + tomlLine };
  if (tomlColumn !== undefined) {
    // The content indentation: leading spaces of the first non-blank content line.
    const start = sm.lc.lineStarts[header];
    const end = node.range[1];
    if (start !== undefined) {
      const body = sm.src.slice(start, end);
      const first = body.split('\n').find((l) => l.trim() !== '');
      const indent = first ? first.length - first.trimStart().length : 0;
      pos.column = indent + tomlColumn;
    }
  }
  return pos;
}

function dataPaths(f: Finding): Seg[][] {
  const key = f.dataKey;
  if (key === undefined) return [];
  const paths: Seg[][] = [];
  if (f.field) paths.push(fieldPath(f.field));
  // Secrets: the apiserver merges stringData over data, so a key in stringData is what counts.
  if (f.object.kind === 'Secret') paths.push(['stringData', key], ['data', key]);
  else paths.push(['data', key], ['binaryData', key]);
  return paths;
}

/** The file position of a finding about the object at `sm`. */
export function positionOf(f: Finding, sm: SourceMap): FilePosition {
  const objectLine = lineOf(sm, sm.node.range?.[0] ?? 0);
  for (const p of dataPaths(f)) {
    const w = walk(sm, p);
    if (w.node === undefined) continue;
    if (f.line !== undefined) {
      const b = blockLine(sm, w.node, f.line, f.column);
      if (b) return b;
    }
    return { line: w.line };
  }
  if (f.field !== undefined) {
    const w = walk(sm, fieldPath(f.field));
    // A line inside a string field: chart values in a GitOps object (`spec.values.runners.config`, `helm.values`)
    if (w.node !== undefined && f.line !== undefined) {
      const b = blockLine(sm, w.node, f.line, undefined);
      if (b) return b;
    }
    return { line: w.line };
  }
  return { line: objectLine };
}
