import { isRecord } from '../util/is-record.js';
/**
 * Reading the string values of ConfigMaps and Secrets as gitlab-runner would see them in a
 * mounted file. Pure.
 */

export interface DataEntry {
  key: string;
  /** JSON-ish path for messages: `data[config.toml]` */
  field: string;
  /** decoded text; undefined when the value could not be decoded */
  text?: string;
  /** data value present but not valid base64 (only possible in files, the apiserver validates) */
  invalidBase64?: boolean;
}

// Kubernetes decodes Secret/binaryData values with Go's base64.StdEncoding (padded, strict):
// whole 4-character groups of the alphabet, the last one padded `xx==` or `xxx=`. Said as a
// character run, at most two `=` at the end and a length that is a multiple of 4, which is the
// same set; a regex over groups of 4 (`(?:[…]{4})*`) was 5 % of the webhook's CPU in a profile of
// the bench, on a 27 KB config.toml Secret.
const B64_RUN = /^[A-Za-z0-9+/]*={0,2}$/;
export function isBase64(v: string): boolean {
  return v.length % 4 === 0 && B64_RUN.test(v);
}

// Go's decoder skips \r and \n anywhere (encoding/base64: "New line characters (\r and \n) are
// ignored"), so data wrapped at 76 columns, as `base64` prints it, is accepted by the apiserver.
const LINE_BREAKS = /[\r\n]/g;

export function decodeBase64(value: string): string | undefined {
  const v = value.includes('\n') || value.includes('\r') ? value.replace(LINE_BREAKS, '') : value;
  if (v.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(v, 'base64');
  return encodes(bytes, v) ? bytes.toString('utf8') : undefined;
}

/**
 * `isBase64(v)` for a `v` whose length is a multiple of 4, given `bytes` = Node's (lenient)
 * decoding of it, without running the pattern over the whole value (4 % of a 20-runner Secret's
 * review). Node's own encoding of `bytes` is canonical: alphabet characters, `=` only in its last
 * group. So when it equals `v` but for the last group, `v` is alphabet characters up to its last
 * group, and the pattern on that group decides. Conversely a valid `v` decodes exactly and
 * encodes back to itself, except for unused low bits of the last group, which StdEncoding ignores
 * and re-encoding zeroes.
 */
function encodes(bytes: Buffer, v: string): boolean {
  const e = bytes.toString('base64');
  if (e === v) return true;
  const cut = v.length - 4;
  return (
    e.length === v.length &&
    (cut <= 0 || e.slice(0, cut) === v.slice(0, cut)) &&
    B64_RUN.test(v.slice(Math.max(cut, 0)))
  );
}

/** Own enumerable string-keyed entries; `__proto__` as a key is just a key (JSON.parse makes it an own property). */
function entries(x: unknown): [string, unknown][] {
  return isRecord(x) ? Object.entries(x) : [];
}

export function configMapEntries(obj: Record<string, unknown>): DataEntry[] {
  const out: DataEntry[] = [];
  for (const [key, v] of entries(obj.data)) {
    out.push({ key, field: `data[${key}]`, ...(typeof v === 'string' ? { text: v } : {}) });
  }
  for (const [key, v] of entries(obj.binaryData)) {
    const text = typeof v === 'string' ? decodeBase64(v) : undefined;
    out.push({
      key,
      field: `binaryData[${key}]`,
      ...(text !== undefined ? { text } : { invalidBase64: typeof v === 'string' }),
    });
  }
  return out;
}

/**
 * Secret values. The apiserver merges `stringData` into `data` before admission, so a webhook
 * only ever sees `data`; a manifest file (CLI) may still carry `stringData`, which wins on
 * conflicts exactly as the apiserver merges it.
 */
export function secretEntries(obj: Record<string, unknown>): DataEntry[] {
  const byKey = new Map<string, DataEntry>();
  for (const [key, v] of entries(obj.data)) {
    if (typeof v !== 'string') continue;
    const text = decodeBase64(v);
    byKey.set(key, {
      key,
      field: `data[${key}]`,
      ...(text !== undefined ? { text } : { invalidBase64: true }),
    });
  }
  for (const [key, v] of entries(obj.stringData)) {
    if (typeof v === 'string') byKey.set(key, { key, field: `stringData[${key}]`, text: v });
    else if (typeof v === 'number' || typeof v === 'boolean')
      byKey.set(key, { key, field: `stringData[${key}]`, text: String(v) });
  }
  return [...byKey.values()];
}
