/**
 * Refusing unknown option names, with a suggestion: a misspelt option
 * (`tll: 5000`) would otherwise be ignored and its default used in silence.
 */
import { invalidOption } from '../errors.ts'

/** Edit distance between two short names (option names: a few dozen characters at most). */
function distance (a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + cost)
      diagonal = above
    }
  }
  return row[b.length] as number
}

/** The known name closest to `name`, when it is close enough to be a likely typo. */
export function closest (name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const k of known) {
    const d = distance(name, k)
    if (d < bestDistance) { best = k; bestDistance = d }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined
}

/**
 * The first own key of `options` not in `known`, with the known name closest
 * to it; undefined when every key is known. A for-in over the object's own
 * keys: nothing is allocated unless one is unknown (a call's options are
 * checked on the write path, arguments.ts).
 */
export function firstUnknown (options: object, known: readonly string[]): { name: string, guess: string | undefined } | undefined {
  for (const name in options) {
    if (known.includes(name) || !Object.hasOwn(options, name)) continue
    return { name, guess: closest(name, known) }
  }
  return undefined
}

/** Throws E_INVALID_OPTION for the first own key of `options` not in `known`, suggesting the closest one. */
export function refuseUnknown (options: object, known: readonly string[], prefix = ''): void {
  const unknown = firstUnknown(options, known)
  if (unknown === undefined) return
  const { name, guess } = unknown
  invalidOption(`${prefix}${name}`, `is not an option${guess === undefined ? '' : `; did you mean \`${prefix}${guess}\`?`} (the options are ${known.join(', ')})`)
}

/**
 * `names`, every option name of `T`, checked when compiled: a name `T` does
 * not have, or one of `T`'s left out (it would be refused as unknown), fails
 * to compile, naming it. Usage: `optionNames<SetOptions>()(['ttl', …])`.
 */
export function optionNames<T> () {
  return <const N extends ReadonlyArray<keyof T & string>>(
    names: N & ([Exclude<keyof T, N[number]>] extends [never] ? unknown : { missing: Exclude<keyof T, N[number]> }),
  ): N => names
}
