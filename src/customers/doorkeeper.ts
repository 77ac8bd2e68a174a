/**
 * Ids missed once lately, one per slot of a fixed table (an id's slot is its
 * value modulo the size): no allocation per miss, unlike a map of ids. Two
 * ids sharing a slot forget each other, which only delays an admission.
 */
export class Doorkeeper {
  private readonly slots: Float64Array;

  constructor(size: number) {
    this.slots = new Float64Array(size).fill(NaN);
  }

  /** True on the second miss of `id` since it took its slot. */
  admits(id: bigint): boolean {
    // Past 2^53 distinct ids may share a number: an early admission, never a wrong answer.
    const key = Number(id);
    const slot = Math.abs(key % this.slots.length);
    if (this.slots[slot] === key) {
      this.slots[slot] = NaN;
      return true;
    }
    this.slots[slot] = key;
    return false;
  }
}
