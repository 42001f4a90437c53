/** A running actor whose context keeps an `outbox` and that empties it on `OUTBOX_TAKEN`. */
export interface OutboxActor<T> {
  getSnapshot(): { readonly context: { readonly outbox: readonly T[] } };
  send(event: { type: 'OUTBOX_TAKEN' }): void;
}

/**
 * The usual `takeOutputs`: returns what the actor queued in its outbox and
 * tells it the outbox was taken. Keeping outputs in context (not emitted)
 * means they are part of the persisted snapshot until the host commits them.
 */
export function takeOutbox<T>(actor: OutboxActor<T>): readonly T[] {
  const outbox = actor.getSnapshot().context.outbox;
  if (outbox.length > 0) actor.send({ type: 'OUTBOX_TAKEN' });
  return outbox;
}
