// The child's side of the sidecar framing (docs/engines.md, "The child protocol"): one JSON frame per line,
// {"v", "t", "id", "a", "d"}, the server's on stdin, ours on stdout.
//
// - "a", an account's address, is on every frame about one account of a child that holds several; a frame
//   without it is about the process (a child of one account never sends it). Handlers get it beside the
//   fields, and whatever answers a frame carries the address it came with.
// - A frame from the server with an id is a request: its handler's result (or error) goes back as a
//   Response with that id. One with a null id (the hello) just runs its handler.
// - ask() sends a request of ours, numbered from our own ids; the server answers it with a Reply.
// - stdout carries frames only: anything else that writes to it (a library's console.log) goes to stderr,
//   which the server relays to its log, so it can never break a frame.

import { createInterface } from 'node:readline'

export const MAX_LINE_BYTES = 4 * 1024 * 1024

/** A request of ours that the server refused; `kind` is its error kind ("fenced", "transient", …). */
export class WireError extends Error {
  constructor (message, kind) {
    super(message)
    this.name = 'WireError'
    this.kind = kind
  }
}

export class Wire {
  constructor (version) {
    this.version = version
    this.handlers = {}
    this.pending = new Map()
    this.nextId = 1
    this.out = process.stdout.write.bind(process.stdout)
    process.stdout.write = process.stderr.write.bind(process.stderr)
    console.log = console.info = console.debug = console.error
  }

  /** Handle the server's frames: `handlers` maps a frame type to an async function of its fields. */
  serve (handlers, { onClose = () => process.exit(0) } = {}) {
    this.handlers = handlers
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
    lines.on('line', (line) => this.receive(line))
    // the server's end is gone (it stopped us, or died): a child never outlives its server
    lines.on('close', onClose)
  }

  send (t, d, id = null, a = null) {
    const line = JSON.stringify(a === null ? { v: this.version, t, id, d } : { v: this.version, t, id, a, d })
    if (Buffer.byteLength(line) >= MAX_LINE_BYTES) {
      // the server would take an oversized line for a broken child and kill it
      throw new WireError(`a ${t} frame over ${MAX_LINE_BYTES} bytes`, 'permanent')
    }
    this.out(line + '\n')
  }

  welcome (a = null) {
    this.send('Welcome', { version: this.version, pid: process.pid }, null, a)
  }

  /** Ask the server (about account `a`); resolves to the reply's result, rejects with a WireError. */
  ask (t, d, a = null) {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      try {
        this.send(t, d, id, a)
      } catch (error) {
        this.pending.delete(id)
        reject(error)
      }
    })
  }

  receive (line) {
    if (Buffer.byteLength(line) > MAX_LINE_BYTES) this.broken(`a line over ${MAX_LINE_BYTES} bytes`)
    let frame
    try {
      frame = JSON.parse(line)
    } catch {
      this.broken(`not JSON: ${line.slice(0, 200)}`)
    }
    if (frame?.v !== this.version) this.broken(`not a version ${this.version} frame: ${line.slice(0, 200)}`)
    const { t, id, d } = frame
    const a = frame.a ?? null
    if (a !== null && !Number.isInteger(a)) this.broken(`bad account address ${JSON.stringify(a)}`)
    if (t === 'Reply') return this.settle(id, d)
    const handler = this.handlers[t]
    if (id === null || id === undefined) {
      if (handler) handler(d, a).catch((error) => this.exit(`${t} failed: ${error?.stack ?? error}`))
      return
    }
    if (!handler) return this.refuse(id, new WireError(`unknown request ${t}`, 'permanent'), a)
    handler(d, a)
      .then((result) => this.answer(id, { ok: true, result: result ?? {} }, a))
      // a failed handler, or a result too large for a frame: the answer is the error
      .catch((error) => this.refuse(id, error, a))
  }

  settle (id, reply) {
    const waiting = this.pending.get(id)
    if (!waiting) return // a reply to nothing we asked: nobody to tell
    this.pending.delete(id)
    if (reply.ok) waiting.resolve(reply.result ?? {})
    else waiting.reject(new WireError(reply.error, reply.error_kind))
  }

  answer (id, response, a = null) {
    this.send('Response', response, id, a)
  }

  refuse (id, error, a = null) {
    const kind = error?.kind ?? 'permanent'
    this.answer(id, { ok: false, error: String(error?.message ?? error), error_kind: kind }, a)
  }

  broken (why) {
    this.exit(`the server broke the protocol: ${why}`)
  }

  exit (why) {
    process.stderr.write(`${why}\n`)
    process.exit(2)
  }
}
