/** What the `update` calls queued on one field share: the newest bytes this process has seen stored. */
export interface FieldLockState {
  latest?: Uint8Array | null;
}

/**
 * Runs `update` calls on the same session field one at a time within this process, handing each the bytes
 * the previous one stored. Concurrent requests of one browser then cost one round trip per update instead of
 * racing each other's compare-and-set; the compare-and-set still guards against other processes.
 */
export class FieldLocks {
  readonly #entries = new Map<string, { tail: Promise<unknown>; state: FieldLockState }>();

  run<T>(key: string, task: (state: FieldLockState) => Promise<T>): Promise<T> {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { tail: Promise.resolve(), state: {} };
      this.#entries.set(key, entry);
    }
    const current = entry;
    const result = current.tail.then(() => task(current.state));
    const tail = result.catch(() => undefined);
    current.tail = tail;
    // Forget the field once nothing is queued on it, so idle sessions leave nothing behind.
    void tail.then(() => {
      if (current.tail === tail) this.#entries.delete(key);
    });
    return result;
  }
}
