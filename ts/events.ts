/**
 * An EventEmitter whose event names and listener arguments are checked by the compiler:
 * `port.on("connectd", ...)` does not type-check. At run time it is node:events' EventEmitter.
 */
import { EventEmitter } from "node:events";

type Listener<A extends unknown[]> = (...args: A) => void;

export interface TypedEmitter<Events extends Record<keyof Events, unknown[]>> {
  on<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this;
  once<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this;
  off<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this;
  addListener<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this;
  removeListener<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this;
  prependListener<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this;
  prependOnceListener<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this;
  removeAllListeners(event?: keyof Events): this;
  emit<E extends keyof Events>(event: E, ...args: Events[E]): boolean;
  listenerCount(event: keyof Events): number;
  listeners<E extends keyof Events>(event: E): Listener<Events[E]>[];
  eventNames(): (keyof Events)[];
}

/** The base class of an emitter of `Events` (node:events' EventEmitter, typed). @internal */
export function typedEmitter<Events extends Record<keyof Events, unknown[]>>(): new () => TypedEmitter<Events> {
  return EventEmitter as unknown as new () => TypedEmitter<Events>;
}
