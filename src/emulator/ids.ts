/**
 * Identifiers shaped like Plaid's. Everything an integrator stores (tokens, Item and account ids)
 * comes from one seeded generator whose state lives in the emulator state, so a seeded run is
 * reproducible and a restarted emulator continues the same sequence instead of repeating it.
 */
import { createHash, randomInt } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Plaid's Item and account ids are 37 base62 characters. */
export const PLAID_OBJECT_ID_LENGTH = 37;

/**
 * sfc32, seeded through splitmix32. Chosen because its entire state is four uint32 numbers, which
 * serialise into the state file as a plain array; the array is mutated in place.
 */
export class SeededRandom {
  constructor(private readonly s: number[]) {
    if (s.length !== 4) throw new Error('SeededRandom state must hold four uint32 values');
  }

  static initialState(seed: number): number[] {
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    return [next(), next(), next(), next()];
  }

  nextUint32(): number {
    const s = this.s as [number, number, number, number];
    const t = (((s[0] + s[1]) >>> 0) + s[3]) >>> 0;
    s[3] = (s[3] + 1) >>> 0;
    s[0] = s[1] ^ (s[1] >>> 9);
    s[1] = (s[2] + (s[2] << 3)) >>> 0;
    s[2] = ((s[2] << 21) | (s[2] >>> 11)) >>> 0;
    s[2] = (s[2] + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, maxExclusive), without modulo bias. */
  int(maxExclusive: number): number {
    const limit = Math.floor(0x1_0000_0000 / maxExclusive) * maxExclusive;
    for (;;) {
      const v = this.nextUint32();
      if (v < limit) return v % maxExclusive;
    }
  }

  base62(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += BASE62[this.int(62)];
    return out;
  }

  /** RFC 4122 version-4 layout, as Plaid's tokens use. */
  uuid(): string {
    const bytes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const v = this.nextUint32();
      bytes.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    }
    bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
    bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
    const hex = bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** Fisher-Yates, in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }
}

/** A base62 string derived from its inputs alone: same seed and Item give the same account ids. */
export function derivedBase62(parts: readonly (string | number)[], length: number): string {
  let out = '';
  let counter = 0;
  while (out.length < length) {
    const digest = createHash('sha256')
      .update(`${parts.join('\u0000')}\u0000${counter++}`)
      .digest();
    for (const byte of digest) {
      // 248 = 4 * 62: bytes at or above it would bias the alphabet, so they are skipped.
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** Digits derived from inputs, for account numbers that stay stable for an Item. */
export function derivedDigits(parts: readonly (string | number)[], length: number): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  let out = '';
  for (let i = 0; out.length < length; i++) out += String((digest[i % digest.length] as number) % 10);
  return out;
}

/**
 * Request ids are not something an integrator stores or compares, so they come from the OS
 * generator and do not consume the seeded sequence (which would make ids depend on call counts).
 */
export function newRequestId(): string {
  let out = '';
  for (let i = 0; i < 15; i++) out += BASE62[randomInt(62)];
  return out;
}
