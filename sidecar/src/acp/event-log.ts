/** A JSON-RPC notification an agent sent (session/update). */
export interface JsonRpcNotification {
  jsonrpc: "2.0";
  method: string;
  params: unknown;
}

export interface SequencedEvent {
  /** Strictly increasing per session, from 1, without gaps. */
  sequenceNumber: number;
  notification: JsonRpcNotification;
}

/** Events kept per session; older ones are forgotten (their numbers are not reused). */
export const EVENTS_KEPT = 10_000;

/** The recorded notifications of one session, and its live subscribers. */
export class EventLog {
  private readonly events: SequencedEvent[] = [];
  private next = 1;
  private readonly listeners = new Set<(event: SequencedEvent) => void>();

  append(notification: JsonRpcNotification): SequencedEvent {
    const event = { sequenceNumber: this.next++, notification };
    this.events.push(event);
    if (this.events.length > EVENTS_KEPT) this.events.splice(0, this.events.length - EVENTS_KEPT);
    for (const listener of this.listeners) listener(event);
    return event;
  }

  /** Events after `since`, of `method` when given, oldest first. */
  list(since = 0, method = ""): SequencedEvent[] {
    return this.events.filter((e) => e.sequenceNumber > since && (!method || e.notification.method === method));
  }

  /** Live events from now on; with `since`, recorded ones after it first. */
  subscribe(listener: (event: SequencedEvent) => void, since?: number): () => void {
    if (since !== undefined) for (const event of this.list(since)) listener(event);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
