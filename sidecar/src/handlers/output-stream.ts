import type { ServerStream } from "@agentos/proto";
import type { HeldOutput } from "../vm/held-output.js";

/** Output leaves in items of at most this size, whatever was held or queued. */
const ITEM_BYTES = 256 * 1024;

/**
 * Streams a process's or shell's output to a subscriber until it ends or the
 * subscriber cancels. While the connection is congested (the client reads
 * slower than the guest writes), output queues up to `maxQueuedBytes`; past
 * that the oldest bytes are dropped and counted in the next item, so a
 * guest printing forever cannot exhaust the sidecar's memory.
 */
export function streamOutput(
  output: HeldOutput,
  stream: ServerStream<{ data: Uint8Array; droppedBytes: number }>,
  maxQueuedBytes: number,
): Promise<void> {
  const send = (data: Uint8Array, droppedBytes: number) => {
    let at = 0;
    do {
      stream.send({ data: data.subarray(at, at + ITEM_BYTES), droppedBytes: at === 0 ? droppedBytes : 0 });
      at += ITEM_BYTES;
    } while (at < data.length);
  };
  return new Promise<void>((resolve) => {
    let queue: Uint8Array[] = [];
    let queued = 0;
    let dropped = 0;
    let waitingForDrain = false;

    const flush = () => {
      waitingForDrain = false;
      if (queued === 0 && dropped === 0) return;
      send(Buffer.concat(queue), dropped);
      queue = [];
      queued = 0;
      dropped = 0;
    };

    const listener = (data: Uint8Array, droppedBefore: number) => {
      dropped += droppedBefore;
      if (!waitingForDrain && !stream.congested) {
        send(data, dropped);
        dropped = 0;
        return;
      }
      queue.push(data.slice());
      queued += data.length;
      while (queued > maxQueuedBytes) {
        const first = queue[0];
        const excess = queued - maxQueuedBytes;
        if (first.length <= excess) {
          queue.shift();
          queued -= first.length;
          dropped += first.length;
        } else {
          queue[0] = first.subarray(excess);
          queued -= excess;
          dropped += excess;
        }
      }
      if (!waitingForDrain) {
        waitingForDrain = true;
        stream.onDrain(flush);
      }
    };

    const unsubscribe = output.subscribe(listener, () => {
      flush();
      resolve();
    });
    stream.signal.addEventListener(
      "abort",
      () => {
        unsubscribe();
        resolve();
      },
      { once: true },
    );
  });
}
