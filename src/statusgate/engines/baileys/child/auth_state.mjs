// Baileys' AuthenticationState ({creds, keys: {get, set}}) kept in the server's database, over the child's
// requests to the server (KeysGet, KeysSet, KeysWipe: engines/baileys/protocol.py). Not
// useMultiFileAuthState: its author says it is not for production, and files tie an account to one
// machine, where any worker must be able to take an account over when its owner dies.
//
// The rules, and why:
// - Nothing is stored until the account is linked (commit()). Baileys writes `creds.me` as soon as a
//   pairing code is requested, before any phone has paired: a pairing that never completes must leave no
//   row behind, or the account would look linked. Until then creds and keys live in this process only.
// - An account whose creds are not stored is not linked: keys stored without them are what a commit cut
//   short left behind, so opening such an account wipes them.
// - After linking every write goes to the server at once, one KeysSet per set() call (one transaction),
//   so a worker that takes the account over finds every key its last owner had.
// - Writes reach the server in the order they were made, one after the other, and a read waits for the
//   writes before it: concurrent writes of one key must not land in the wrong order, and a read after a
//   write must see it.
// - The server refuses a write from a child whose worker no longer holds the account's lease (error kind
//   "fenced"): the caller must stop at once, another worker may be starting the account already.
// - Values are kept as BufferJSON text, also in memory: what a read returns is the same before and after
//   linking (Buffers and Uint8Arrays come back as Buffers), and a value Baileys changes later is not
//   changed in the store behind its back.

// the creds are one more key, under a category of their own
const CREDS = 'creds'
// one KeysSet carries at most about this much (a frame must stay under the framing's 4 MiB)
const BATCH_BYTES = 1024 * 1024

/**
 * Open an account's auth state. `ask(type, fields)` sends a request to the server (Wire.ask); `baileys` is
 * the Baileys module (BufferJSON, initAuthCreds, proto).
 */
export async function openAuthState (ask, { BufferJSON, initAuthCreds, proto }) {
  const encode = (value) => JSON.stringify(value, BufferJSON.replacer)
  const decode = (text) => JSON.parse(text, BufferJSON.reviver)

  const stored = (await ask('KeysGet', { category: CREDS, ids: [CREDS] })).values[CREDS]
  let linked = stored !== undefined
  if (!linked) await ask('KeysWipe', {})
  const creds = linked ? decode(stored) : initAuthCreds()
  // before linking: category → Map(id → BufferJSON text)
  const memory = new Map()
  // the last write (or commit) in line; every change waits for the one before
  let line = Promise.resolve()

  const inLine = (step) => {
    const done = line.then(step)
    line = done.catch(() => {}) // a failed write does not stop the ones after it
    return done
  }

  const send = async (writes) => {
    let batch = []
    let size = 0
    for (const write of writes) {
      const bytes = Buffer.byteLength(JSON.stringify(write))
      if (batch.length && size + bytes > BATCH_BYTES) {
        await ask('KeysSet', { writes: batch })
        batch = []
        size = 0
      }
      batch.push(write)
      size += bytes
    }
    if (batch.length) await ask('KeysSet', { writes: batch })
  }

  const remember = (writes) => {
    for (const { category, id, value } of writes) {
      if (!memory.has(category)) memory.set(category, new Map())
      if (value === null) memory.get(category).delete(id)
      else memory.get(category).set(id, value)
    }
  }

  const revive = (type, text) => {
    const value = decode(text)
    // Baileys reads this one as its protobuf type (as useMultiFileAuthState does)
    return type === 'app-state-sync-key' ? proto.Message.AppStateSyncKeyData.fromObject(value) : value
  }

  const get = async (type, ids) => {
    await line
    const kept = memory.get(type) ?? new Map()
    const texts = linked
      ? (await ask('KeysGet', { category: type, ids })).values
      : Object.fromEntries(ids.filter((id) => kept.has(id)).map((id) => [id, kept.get(id)]))
    const found = {}
    for (const [id, text] of Object.entries(texts)) found[id] = revive(type, text)
    return found
  }

  const set = (data) => {
    // encoded now: Baileys may change the objects after set() returns
    const writes = []
    for (const [category, values] of Object.entries(data)) {
      for (const [id, value] of Object.entries(values ?? {})) {
        writes.push({ category, id, value: value === null || value === undefined ? null : encode(value) })
      }
    }
    return inLine(() => (linked ? send(writes) : remember(writes)))
  }

  const credsWrite = () => ({ category: CREDS, id: CREDS, value: encode(creds) })

  return {
    state: { creds, keys: { get, set } },

    get linked () {
      return linked
    },

    /** Store the creds as they are now (Baileys' creds.update); before linking they stay in memory. */
    saveCreds: () => inLine(() => (linked ? send([credsWrite()]) : undefined)),

    /**
     * The account is linked: call when the connection first opens. Baileys logs in only with creds a phone
     * has paired (`creds.me`); `creds.registered` is no sign of it, only a pairing code sets it. Stores what
     * is in memory (in one KeysSet unless it is large), and from now on writes go through at once.
     */
    commit: () => inLine(async () => {
      if (linked) return
      if (!creds.me?.id) throw new Error('the account is not linked yet: creds.me is not set')
      const writes = []
      for (const [category, values] of memory) {
        for (const [id, value] of values) writes.push({ category, id, value })
      }
      // the creds last, in the last batch: a commit cut short reads as not linked
      await send([...writes, credsWrite()])
      memory.clear()
      linked = true
    }),

    /** Logged out: delete everything of the account, here and on the server. */
    wipe: () => inLine(async () => {
      await ask('KeysWipe', {})
      memory.clear()
      linked = false
    })
  }
}
