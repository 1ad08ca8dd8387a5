import { isRecord } from '../util/is-record.js';
/**
 * RFC 6902 JSON Patch building against the raw object the apiserver sent. Pure.
 * Paths are RFC 6901 JSON Pointers: `~` → `~0`, `/` → `~1` in every segment (annotation keys
 * such as `gitlab-runner-admission/injected` contain a `/`).
 */

export type JsonPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'test'; path: string; value: unknown };

export function escapeSegment(s: string | number): string {
  return String(s).replace(/~/g, '~0').replace(/\//g, '~1');
}

export function pointer(segments: readonly (string | number)[]): string {
  return segments.map((s) => `/${escapeSegment(s)}`).join('');
}

/**
 * Collects operations and keeps a view of what they create, so "create the parent when missing"
 * is decided against the object as patched so far, not as sent.
 */
export class PatchBuilder {
  readonly ops: JsonPatchOp[] = [];
  private readonly created = new Map<string, unknown>();

  constructor(private readonly doc: unknown) {}

  /** The value at `segs` in the document as patched so far (undefined when absent or null). */
  at(segs: readonly (string | number)[]): unknown {
    const p = pointer(segs);
    if (this.created.has(p)) return this.created.get(p);
    let cur: unknown = this.doc;
    for (const s of segs) {
      if (Array.isArray(cur)) cur = cur[Number(s)];
      else if (isRecord(cur))
        cur = Object.prototype.hasOwnProperty.call(cur, String(s)) ? cur[String(s)] : undefined;
      else return undefined;
    }
    return cur ?? undefined;
  }

  /** Create every missing (or null) object along `segs`. */
  ensureObject(segs: readonly (string | number)[]): void {
    for (let i = 1; i <= segs.length; i++) {
      const sub = segs.slice(0, i);
      const v = this.at(sub);
      if (isRecord(v) || (Array.isArray(v) && i < segs.length)) continue;
      // `add` on an existing member replaces it, which is what a null needs (RFC 6902 §4.1)
      this.ops.push({ op: 'add', path: pointer(sub), value: {} });
      this.created.set(pointer(sub), {});
    }
  }

  /**
   * Set `key` of the object at `parent`. Missing (or null) parents are created by ONE `add` of
   * the nested value at the first missing level, so no later op writes into a value an earlier
   * op inserted (appliers that insert op values by reference would otherwise alias them).
   */
  setKey(parent: readonly (string | number)[], key: string, value: unknown): void {
    const segs = [...parent, key];
    for (let i = 1; i < segs.length; i++) {
      const v = this.at(segs.slice(0, i));
      if (isRecord(v) || (Array.isArray(v) && i < segs.length - 1 && typeof segs[i] === 'number'))
        continue;
      let nested: unknown = value;
      for (let j = segs.length - 1; j >= i; j--) nested = { [String(segs[j])]: nested };
      this.ops.push({ op: 'add', path: pointer(segs.slice(0, i)), value: nested });
      this.created.set(pointer(segs.slice(0, i)), nested);
      return;
    }
    this.ops.push({ op: 'add', path: pointer(segs), value });
    this.created.set(pointer(segs), value);
  }

  /** Append to the array at `arr`, creating it (with this one element) when missing or null. */
  append(arr: readonly (string | number)[], value: unknown): void {
    const v = this.at(arr);
    if (Array.isArray(v)) {
      this.ops.push({ op: 'add', path: `${pointer(arr)}/-`, value });
      return;
    }
    this.ensureObject(arr.slice(0, -1));
    this.ops.push({ op: 'add', path: pointer(arr), value: [value] });
    this.created.set(pointer(arr), [value]);
  }

  replace(segs: readonly (string | number)[], value: unknown): void {
    this.ops.push({ op: 'replace', path: pointer(segs), value });
  }
}

/** The AdmissionResponse encoding of a patch: base64 of its JSON. */
export function encodePatch(ops: readonly JsonPatchOp[]): string {
  return Buffer.from(JSON.stringify(ops), 'utf8').toString('base64');
}
