/**
 * Marks calls of methods on their prototypes: `note(name)` just before each call of `owner[method]`, then the
 * original. How the layer logs (layers.ts) and the cold path's steps (cold-path.ts) split meshcache's own code at
 * the public methods it crosses, without touching lib/.
 */
export type CallPoint = readonly [name: string, owner: object, method: string]

export function markCalls (points: readonly CallPoint[], note: (name: string) => void): void {
  for (const [name, owner, method] of points) {
    const target = owner as Record<string, (...args: unknown[]) => unknown>
    const original = target[method] as (...args: unknown[]) => unknown
    target[method] = function (this: unknown, ...args: unknown[]) {
      note(name)
      return original.apply(this, args)
    }
  }
}
