/**
 * How gitlab-runner matches a TOML key to a struct field. BurntSushi/toml's decoder
 * (decode.go, `unifyStruct`) takes, for every key of a table, the field whose tag equals the key,
 * else the first field whose tag `strings.EqualFold`s it: Go's Unicode simple case folding. All
 * gitlab-runner tags are ASCII, and the only non-ASCII code points whose folding orbit holds an
 * ASCII letter are U+017F (ſ, folds with s/S) and U+212A (Kelvin sign, folds with k/K), so
 * "EqualFold(key, tag)" is "foldKey(key) === tag" for a lower-case ASCII tag.
 */
export function foldKey(key: string): string {
  // almost every key is already folded: return it as is rather than build a copy per character
  let i = 0;
  for (; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || c === 0x017f || c === 0x212a) break;
  }
  if (i === key.length) return key;
  let out = key.slice(0, i);
  for (; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) out += String.fromCharCode(c + 0x20);
    else if (c === 0x017f) out += 's';
    else if (c === 0x212a) out += 'k';
    else out += key[i];
  }
  return out;
}

/** The keys of `table` that gitlab-runner decodes into the field tagged `tag` (lower-case ASCII). */
export function keysForField(table: object, tag: string): string[] {
  const out: string[] = [];
  for (const k of Object.keys(table)) {
    // cheap length gate first: a fold never changes the length in UTF-16 units for these code points
    if (k.length === tag.length && (k === tag || foldKey(k) === tag)) out.push(k);
  }
  return out;
}
