/** Times one awaited operation, in milliseconds. */
export async function time(operation: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await operation();
  return performance.now() - started;
}

export interface Paired {
  raw: number[];
  client: number[];
}

/**
 * Samples the raw and the client side alternately rather than one after the other: the machine is
 * shared, and alternating spreads any background load over both sides instead of skewing the ratio.
 * Each `measure` returns the duration of its own timed part, so untimed setup (a fresh VM) can
 * surround it.
 */
export async function paired(count: number, warmup: number, raw: () => Promise<number>, client: () => Promise<number>): Promise<Paired> {
  for (let i = 0; i < warmup; i++) {
    await raw();
    await client();
  }
  const result: Paired = { raw: [], client: [] };
  for (let i = 0; i < count; i++) {
    result.raw.push(await raw());
    result.client.push(await client());
  }
  return result;
}

/** Calls per second when `total` calls run with at most `inFlight` of them outstanding at once. */
export async function throughput(total: number, inFlight: number, call: () => Promise<unknown>): Promise<number> {
  let issued = 0;
  const lane = async () => {
    while (issued < total) {
      issued++;
      await call();
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, lane));
  return total / ((performance.now() - started) / 1000);
}
