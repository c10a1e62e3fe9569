/**
 * Type-level test, checked by `npm run typecheck` (tsc over test/), never
 * run: `optionNames` (lib/core/suggest.ts) compiles only with every option
 * name of its type, and none other. The lists the library refuses unknown
 * options by are made with it, so an option added to an interface but not
 * to its list fails to compile instead of being refused at run time. Each
 * `@ts-expect-error` fails the type-check if its line ever compiles.
 */
import { optionNames } from '../../lib/core/suggest.ts'

interface Options { a?: number, b: string, c?: boolean }

export const every = optionNames<Options>()(['a', 'b', 'c'])
const exact: readonly ['a', 'b', 'c'] = every
void exact

// @ts-expect-error `c` is left out
export const missing = optionNames<Options>()(['a', 'b'])
// @ts-expect-error `d` is not an option of Options
export const extra = optionNames<Options>()(['a', 'b', 'c', 'd'])
