/**
 * The few bits of the Redis protocol (RESP2) the bench needs, so the Redis
 * baseline measures redis-server and not a client library's overhead.
 */

export type RespValue = string | number | null | RespValue[] | Error

/** Encodes a command as a RESP array of bulk strings. */
export function command(...args: string[]): Buffer {
  let out = `*${args.length}\r\n`
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`
  return Buffer.from(out)
}

/** Incremental reader: feed chunks, get every complete reply. */
export class RespReader {
  #buf: Buffer = Buffer.alloc(0)

  feed(chunk: Buffer, onValue: (value: RespValue) => void): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    let at = 0
    for (;;) {
      const parsed = parse(this.#buf, at)
      if (parsed === undefined) break
      at = parsed.next
      onValue(parsed.value)
    }
    this.#buf = at === this.#buf.length ? Buffer.alloc(0) : this.#buf.subarray(at)
  }
}

const CR = 13

function line(buf: Buffer, at: number): { text: string, next: number } | undefined {
  const end = buf.indexOf(CR, at)
  if (end < 0 || end + 1 >= buf.length) return undefined
  return { text: buf.toString('latin1', at + 1, end), next: end + 2 }
}

function parse(buf: Buffer, at: number): { value: RespValue, next: number } | undefined {
  if (at >= buf.length) return undefined
  const type = buf[at]
  const head = line(buf, at)
  if (head === undefined) return undefined
  switch (type) {
    case 0x2b: return { value: head.text, next: head.next } // +simple
    case 0x2d: return { value: new Error(head.text), next: head.next } // -error
    case 0x3a: return { value: Number(head.text), next: head.next } // :integer
    case 0x24: { // $bulk
      const len = Number(head.text)
      if (len < 0) return { value: null, next: head.next }
      if (buf.length < head.next + len + 2) return undefined
      return { value: buf.toString('utf8', head.next, head.next + len), next: head.next + len + 2 }
    }
    case 0x2a: { // *array
      const len = Number(head.text)
      if (len < 0) return { value: null, next: head.next }
      const items: RespValue[] = []
      let next = head.next
      for (let i = 0; i < len; i++) {
        const item = parse(buf, next)
        if (item === undefined) return undefined
        items.push(item.value)
        next = item.next
      }
      return { value: items, next }
    }
    default:
      throw new Error(`RESP: unexpected type byte ${type}`)
  }
}
