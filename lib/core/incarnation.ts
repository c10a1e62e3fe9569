/**
 * Incarnations (SPEC §1): the part of an origin id that is new at every
 * start, so a restarted process never reuses its earlier sequence numbers
 * even when it keeps its node id. Made here, read back by membership
 * (which of two incarnations on one peer is the later).
 */

/** A new incarnation: the start time in base 36 plus four random base-36 digits. */
export function newIncarnation (now: number): string {
  return `${now.toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0')}`
}

/** The start time an incarnation begins with (0 for one that is not ours to read). */
export function incarnationStart (incarnation: string): number {
  return Number.parseInt(incarnation.slice(0, -4), 36) || 0
}
