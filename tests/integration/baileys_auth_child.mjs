// A Node child for test_baileys_auth_state.py: the engine's real wire.mjs and auth_state.mjs with the
// installed Baileys' own BufferJSON, initAuthCreds and proto, driven by the test's requests. Values it is
// told to store are built from base64 as a real key would hold them (a Buffer and a Uint8Array); what it
// reads back it describes as JSON (bytes as base64), so the test compares bytes, not text.
//
//   node baileys_auth_child.mjs <engine child dir>

import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const childDir = process.argv[2]
const load = (name) => import(pathToFileURL(join(childDir, name)).href)
const { Wire } = await load('wire.mjs')
const { openAuthState } = await load('auth_state.mjs')
const { importInstalled } = await load('modules.mjs')

const wire = new Wire(1)
let baileys
let auth

const bytes = (b64) => Buffer.from(b64, 'base64')

// what a key of each category looks like in Baileys (a key pair with a Buffer and a Uint8Array; the app
// state sync key as its protobuf's fields)
const build = (category, spec) => {
  if (spec === null) return null
  if (category === 'app-state-sync-key') {
    const fingerprint = { rawId: spec.n, currentIndex: 1, deviceIndexes: [0, spec.n] }
    return { keyData: new Uint8Array(bytes(spec.public)), fingerprint, timestamp: spec.n }
  }
  const keyPair = { public: bytes(spec.public), private: new Uint8Array(bytes(spec.private)) }
  return { keyPair, keyId: spec.n }
}

// JSON for the test: bytes as {bytes: base64}, a class other than Object named, numbers of Long as numbers
const describe = (value) => {
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString('base64') }
  if (Array.isArray(value)) return value.map(describe)
  if (value && typeof value === 'object') {
    if (typeof value.toNumber === 'function') return value.toNumber()
    const described = {}
    for (const [key, inner] of Object.entries(value)) described[key] = describe(inner)
    if (value.constructor && value.constructor !== Object) described.class = value.constructor.name
    return described
  }
  return value
}

wire.serve({
  Hello: async ({ install }) => {
    baileys = await importInstalled(install, 'baileys')
    wire.welcome()
  },
  Open: async () => {
    auth = await openAuthState((t, d) => wire.ask(t, d), baileys)
    const { creds } = auth.state
    return {
      linked: auth.linked,
      me: creds.me?.id ?? null,
      registration_id: creds.registrationId,
      // 32 random bytes: what tells two fresh creds apart (a registration id is only 14 bits)
      noise_key: Buffer.from(creds.noiseKey.public).toString('base64')
    }
  },
  // what requestPairingCode does before any phone has paired: creds.me set, and saved (creds.update)
  Pair: async ({ me }) => {
    Object.assign(auth.state.creds, { me: { id: me, name: 'Test' } })
    await auth.saveCreds()
    return {}
  },
  Put: async ({ category, values }) => {
    const data = {}
    for (const [id, spec] of Object.entries(values)) data[id] = build(category, spec)
    await auth.state.keys.set({ [category]: data })
    return {}
  },
  // writes issued one after the other without waiting, as Baileys' event handlers do, then a read
  Burst: async ({ category, writes, ids }) => {
    const sets = writes.map((values) => {
      const data = {}
      for (const [id, spec] of Object.entries(values)) data[id] = build(category, spec)
      return auth.state.keys.set({ [category]: data })
    })
    const read = auth.state.keys.get(category, ids)
    await Promise.all(sets)
    return { values: describe(await read) }
  },
  Get: async ({ category, ids }) => ({ values: describe(await auth.state.keys.get(category, ids)) }),
  Commit: async () => {
    await auth.commit()
    return { linked: auth.linked }
  },
  Wipe: async () => {
    await auth.wipe()
    return { linked: auth.linked }
  },
  Stop: async () => {
    // the answer is written before this runs (stdout is a pipe: written synchronously)
    setImmediate(() => process.exit(0))
    return {}
  }
})
