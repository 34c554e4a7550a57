/**
 * Stand-in for the optional `@opentelemetry/api` some provider SDKs bundled
 * into the adapter import for tracing. Inside a VM there is no collector, so
 * every span is a no-op.
 */
const span = {
  setAttribute: () => span,
  setAttributes: () => span,
  addEvent: () => span,
  setStatus: () => span,
  recordException: () => undefined,
  updateName: () => span,
  end: () => undefined,
  isRecording: () => false,
  spanContext: () => ({ traceId: "", spanId: "", traceFlags: 0 }),
};

const tracer = {
  startSpan: () => span,
  startActiveSpan: (_name: string, ...rest: unknown[]) => {
    const fn = rest[rest.length - 1] as (s: typeof span) => unknown;
    return fn(span);
  },
};

export const trace = {
  getTracer: () => tracer,
  getActiveSpan: () => undefined,
  getSpan: () => undefined,
  setSpan: <T>(ctx: T) => ctx,
};

export const context = {
  active: () => ({}),
  with: <A extends unknown[], R>(_ctx: unknown, fn: (...args: A) => R, thisArg?: unknown, ...args: A): R => fn.apply(thisArg, args),
};

export const propagation = {
  inject: () => undefined,
  extract: <T>(ctx: T) => ctx,
};

export const SpanStatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;
export const SpanKind = { INTERNAL: 0, SERVER: 1, CLIENT: 2, PRODUCER: 3, CONSUMER: 4 } as const;
