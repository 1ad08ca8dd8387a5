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
  if (!isBase64(v)) return undefined;
  return Buffer.from(v, 'base64').toString('utf8');
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
