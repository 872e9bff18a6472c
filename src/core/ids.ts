// Short random identifiers from Web Crypto (available on every runtime).
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

export function randomId(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let id = '';
  for (const byte of bytes) id += ALPHABET[byte % ALPHABET.length];
  return id;
}
