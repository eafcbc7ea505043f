/** mulberry32: a small, fast 32-bit PRNG; plenty for fuzzing. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  uint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** In [0, 1). */
  float(): number {
    return this.uint32() / 2 ** 32;
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  bool(probability = 0.5): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }

  /** One of `table`'s values, each as likely as its weight. */
  weighted<T>(table: readonly (readonly [number, T])[]): T {
    let roll = this.float() * table.reduce((sum, [weight]) => sum + weight, 0);
    for (const [weight, value] of table) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return table[table.length - 1][1];
  }

  bytes(count: number): number[] {
    return Array.from({ length: count }, () => this.uint32() & 0xff);
  }

  /** A random unsigned integer of at most `bits` bits. */
  bigBits(bits: number): bigint {
    let value = 0n;
    for (let i = 0; i < bits; i += 32) value = (value << 32n) | BigInt(this.uint32());
    return BigInt.asUintN(bits, value);
  }

  /** The items in a random order. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /** Splits `bytes` at random points into `count` pieces or fewer. */
  chunks(bytes: Uint8Array, count: number): Uint8Array[] {
    const cuts = [
      ...new Set(
        Array.from({ length: count - 1 }, () => this.int(1, Math.max(1, bytes.length - 1))),
      ),
    ].sort((a, b) => a - b);
    const out: Uint8Array[] = [];
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      if (cut > from) out.push(bytes.subarray(from, cut));
      from = cut;
    }
    return out;
  }
}
