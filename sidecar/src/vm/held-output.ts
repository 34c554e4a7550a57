/** Receives output; `droppedBytes` counts bytes lost just before `data`. */
export type OutputListener = (data: Uint8Array, droppedBytes: number) => void;

/**
 * One output stream of a process or shell. While nobody listens, output is
 * held (at most `maxHeldBytes`, oldest dropped first) so a subscriber that
 * arrives after the process started still sees it; once somebody listens,
 * output goes straight through.
 */
export class HeldOutput {
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private dropped = 0;
  private readonly listeners = new Map<OutputListener, () => void>();
  private ended = false;

  constructor(private readonly maxHeldBytes: number) {}

  get isEnded(): boolean {
    return this.ended;
  }

  push(data: Uint8Array): void {
    if (this.ended || data.length === 0) return;
    if (this.listeners.size > 0) {
      for (const listener of this.listeners.keys()) listener(data, 0);
      return;
    }
    // The driver may reuse its buffer; keep our own copy.
    this.held.push(data.slice());
    this.heldBytes += data.length;
    while (this.heldBytes > this.maxHeldBytes) {
      const excess = this.heldBytes - this.maxHeldBytes;
      const first = this.held[0];
      if (first.length <= excess) {
        this.held.shift();
        this.heldBytes -= first.length;
        this.dropped += first.length;
      } else {
        this.held[0] = first.subarray(excess);
        this.heldBytes -= excess;
        this.dropped += excess;
      }
    }
  }

  /** Delivers what was held, then live output; `onEnd` runs once the stream ends. Returns the unsubscribe. */
  subscribe(listener: OutputListener, onEnd: () => void): () => void {
    if (this.heldBytes > 0 || this.dropped > 0) {
      const data = this.held.length === 1 ? this.held[0] : Buffer.concat(this.held);
      const dropped = this.dropped;
      this.held = [];
      this.heldBytes = 0;
      this.dropped = 0;
      listener(data, dropped);
    }
    if (this.ended) {
      onEnd();
      return () => {};
    }
    this.listeners.set(listener, onEnd);
    return () => {
      this.listeners.delete(listener);
    };
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const ends = [...this.listeners.values()];
    this.listeners.clear();
    for (const onEnd of ends) onEnd();
  }
}
