/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the same function as Ruby's
 * `Zlib.crc32`, which GitLab uses for the checksum of routable tokens
 * (gitlab `lib/authn/token_field/generator/routable_token.rb`, `append_crc`).
 *
 * Own implementation, written when the supported Node lacked `node:zlib` `crc32`; kept because it
 * is small, pure and checked against zlib's in test/unit/tokens.test.ts, so switching buys nothing.
 */
const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

const encoder = new TextEncoder();

/** CRC-32 of the UTF-8 bytes of `input` (tokens are ASCII, so bytes = chars). */
export function crc32(input: string | Uint8Array): number {
  const bytes = typeof input === 'string' ? encoder.encode(input) : input;
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The routable-token checksum text: CRC-32 in lowercase base 36, left-padded with '0' to 7
 * characters (Ruby `Zlib.crc32(s).to_s(36).rjust(7, '0')`; 2^32-1 is "1z141z3", 7 chars).
 */
export function crc32Base36(input: string): string {
  return crc32(input).toString(36).padStart(7, '0');
}
