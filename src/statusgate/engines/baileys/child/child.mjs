// The baileys engine's child: one WhatsApp account on Baileys 7, spoken to over the sidecar framing
// (docs/engines.md, "The child protocol"). The server sends Hello, then requests (PairPhone, CheckNumbers,
// SendChunk, RevokeChunk — sends.mjs —, Logout, Shutdown); we answer each, send the account's events (QrCode, Paired, Connected, Disconnected, LoggedOut,
// Banned, ConnectFailed, Fatal) as they happen, and ask the server for the account's keys (auth_state.mjs).
//
//   node child.mjs          (stdin/stdout: frames; stderr: log lines the server relays)
//
// One process may hold several accounts (the setting baileys_accounts_per_process): each Hello with an
// address ("a") adds one, and its frames carry that address; a Hello without one makes this a child of one
// account, whose frames carry none. Each account has its own socket, logger and send trace, so what one
// account's Baileys logs never reaches another's send.
//
// Why it is built this way:
// - Baileys' own reconnect is nothing: a closed socket stays closed. After 515 (restart required, which
//   follows every pairing) we reconnect at once; after any other drop of a linked account, with backoff.
// - 401 (logged out) wipes the keys here first, so an account told notAuthorized can pair again at once;
//   440 (another client took the session) does not reconnect: two clients would take it from each other.
// - The test root key replaces Baileys' pinned Noise root only for a WebSocket URL whose host is a
//   loopback IP literal, checked here as well as by the server: a child can never be talked into trusting
//   a test key for a real host.
// - Baileys' logger stays at warn at most: its debug output dumps key material.
// - A fatal error of one account of several ends that account only (its Fatal, its socket): the others'
//   sessions are fine. Only what breaks the process itself (the protocol, Baileys not loadable) exits it.

import { Wire, WireError } from './wire.mjs'
import { openAuthState } from './auth_state.mjs'
import { makeLogger, SendTrace } from './logger.mjs'
import { importInstalled } from './modules.mjs'
import { Sender } from './sends.mjs'
import { Traffic } from './traffic.mjs'

const PROTOCOL_VERSION = 1
const RESTART_REQUIRED = 515
const LOGGED_OUT = 401
const FORBIDDEN = 403
const REPLACED = 440

/** Whether `url`'s host is an IP literal in 127.0.0.0/8 or [::1]: names and other spellings are not. */
export function isLoopbackLiteral (url) {
  let host
  try {
    host = new URL(url).host
  } catch {
    return false
  }
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]
  if (name === '[::1]') return true
  const parts = name.split('.')
  return parts.length === 4 && parts[0] === '127' &&
    parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)
}

const digitsOf = (jid) => String(jid ?? '').split('@')[0].split(':')[0]

class Account {
  constructor (wire, hello, baileys, pino, address, onEnd) {
    this.wire = wire
    this.hello = hello
    // null: the only account of this process
    this.address = address
    this.onEnd = onEnd
    this.baileys = baileys
    this.trace = new SendTrace()
    this.logger = makeLogger(pino, hello.log_level, this.trace, address === null ? null : { account: address })
    this.sender = new Sender(this, baileys, this.trace)
    this.traffic = new Traffic(this, baileys)
    this.sock = null
    this.auth = null
    this.restarts = 0
    this.newLogin = false
    this.bookSynced = false
    this.stopped = false
    this.timer = null
  }

  event (type, fields) {
    this.wire.send(type, fields, null, this.address)
  }

  async open () {
    this.auth = await openAuthState((t, d) => this.wire.ask(t, d, this.address), this.baileys)
    if (!this.hello.pair && !this.auth.linked) {
      // the server thought it linked, but no creds are stored: nothing to log in with
      this.event('LoggedOut', { reason: 'no stored session', banned: false })
      return
    }
    this.connect()
  }

  connect () {
    if (this.stopped) return
    const { baileys, hello } = this
    const sock = baileys.makeWASocket({
      auth: this.auth.state,
      waWebSocketUrl: hello.ws_url,
      logger: this.logger,
      browser: [hello.browser, 'Chrome', '1.0'],
      // on, the phone stops showing notifications while we are connected
      markOnlineOnConnect: false,
      // its preview fetcher would follow URLs in a status' text, unguarded
      generateHighQualityLinkPreview: false,
      // no history: and no 20 s event buffer after the first login
      shouldSyncHistoryMessage: () => false,
      syncFullHistory: false,
      defaultQueryTimeoutMs: hello.query_timeout_ms,
      ...(hello.wa_version ? { version: hello.wa_version.split('.').map(Number) } : {}),
      qrTimeout: hello.qr_timeout_ms || undefined
    })
    this.sock = sock
    sock.ev.on('creds.update', (update) => {
      this.auth.saveCreds().catch((error) => this.failedWrite(error))
      if (update.myAppStateKeyId && this.newLogin && !this.bookSynced) {
        this.bookSynced = true
        this.traffic.syncAddressBook(sock).catch((error) => {
          this.bookSynced = false
          process.stderr.write(`the address book's first sync failed: ${error?.message ?? error}\n`)
        })
      }
    })
    sock.ev.on('connection.update', (update) => {
      if (sock !== this.sock) return
      this.onUpdate(sock, update).catch((error) => this.fatal(`connection update failed: ${error?.stack ?? error}`))
    })
    this.traffic.listen(sock)
  }

  async onUpdate (sock, { connection, qr, lastDisconnect, isNewLogin }) {
    if (qr) this.event('QrCode', { code: qr })
    if (isNewLogin) {
      // the address book is synced once the phone shares its app-state key (traffic.mjs)
      this.newLogin = true
      this.event('Paired', { chat_id: `${digitsOf(sock.authState.creds.me?.id)}@c.us` })
    }
    if (connection === 'open') {
      if (!this.auth.linked) await this.auth.commit()
      this.restarts = 0
      const me = sock.user ?? this.auth.state.creds.me
      this.event('Connected', { chat_id: `${digitsOf(me?.id)}@c.us`, push_name: me?.name ?? '' })
    }
    if (connection === 'close') await this.onClose(lastDisconnect?.error)
  }

  async onClose (error) {
    this.sock = null
    if (this.stopped) return
    const code = error?.output?.statusCode
    const reason = `${error?.message ?? 'connection closed'}${code ? ` (${code})` : ''}`
    if (code === RESTART_REQUIRED) return this.connect()
    if (code === LOGGED_OUT || code === FORBIDDEN) {
      this.stopped = true
      await this.auth.wipe().catch((e) => this.failedWrite(e))
      return this.event('LoggedOut', { reason, banned: code === FORBIDDEN })
    }
    if (code === REPLACED) {
      this.stopped = true
      return this.event('ConnectFailed', { reason: `another client took over the session: ${reason}` })
    }
    if (!this.auth.linked) {
      // a pairing that ended (QR codes ran out, the connection failed): the server starts a new one
      this.stopped = true
      return this.event('ConnectFailed', { reason })
    }
    this.event('Disconnected', { reason })
    const delay = Math.min(this.hello.restart_cap_ms, this.hello.restart_base_ms * 2 ** this.restarts++)
    this.timer = setTimeout(() => this.connect(), delay)
  }

  failedWrite (error) {
    // fenced: our worker lost the account; another may be starting it: stop at once
    if (error?.kind === 'fenced') return this.fatal(`the account's lease is lost: ${error.message}`)
    this.note(`storing a key failed: ${error?.message ?? error}`)
  }

  /** A line for the server's log; in a process of several accounts it says whose. */
  note (text) {
    process.stderr.write(`${this.address === null ? '' : `account ${this.address}: `}${text}\n`)
  }

  fatal (reason) {
    this.stopped = true
    this.event('Fatal', { reason })
    this.stop()
    if (this.address === null) process.exit(3)
    this.onEnd()
  }

  stop () {
    this.stopped = true
    clearTimeout(this.timer)
    const sock = this.sock
    this.sock = null
    if (sock) sock.end(undefined)
  }

  connected () {
    if (!this.sock?.user || !this.auth?.linked) {
      throw Object.assign(new Error('the account is not connected'), { kind: 'transient' })
    }
    return this.sock
  }

  async pairingCode ({ phone }) {
    if (!this.sock) throw Object.assign(new Error('the pairing connection is not up'), { kind: 'transient' })
    return { code: await this.sock.requestPairingCode(String(phone)) }
  }

  async logout () {
    const sock = this.sock
    if (sock?.user && this.auth.linked) {
      this.stopped = true
      await sock.logout().catch((error) => this.note(`WhatsApp was not told of the logout: ${error?.message}`))
    }
    this.stop()
    await this.auth?.wipe()
    return {}
  }
}

async function main () {
  const wire = new Wire(PROTOCOL_VERSION)
  // by address; null for the only account of a child that holds one
  const accounts = new Map()
  let modules = null
  // the process cannot work at all
  const broken = (reason, a) => {
    wire.send('Fatal', { reason }, null, a)
    process.exit(2)
  }
  // this account cannot start here; a child of one account has nothing else to do
  const refuse = (reason, a) => {
    wire.send('Fatal', { reason }, null, a)
    if (a === null) process.exit(2)
  }
  const load = async (installDir) => {
    modules ??= {
      baileys: await importInstalled(installDir, 'baileys'),
      pino: (await importInstalled(installDir, 'pino')).default
    }
    return modules
  }
  const accountAt = (a) => {
    const account = accounts.get(a)
    if (!account) throw new WireError(`no account ${a} in this process`, 'transient')
    return account
  }
  const stopAll = () => {
    for (const account of accounts.values()) account.stop()
  }
  wire.serve({
    Hello: async (hello, a) => {
      if (hello.version !== PROTOCOL_VERSION) return broken(`this child speaks protocol version ${PROTOCOL_VERSION} only`, a)
      if (accounts.has(a) || (a !== null && accounts.has(null)) || (a === null && accounts.size)) {
        return refuse(`this process holds account ${a} already`, a)
      }
      let baileys, pino
      try {
        ({ baileys, pino } = await load(hello.install_dir))
      } catch (error) {
        return broken(`Baileys cannot be loaded from ${hello.install_dir} (${error?.message}); run \`statusgate engines install baileys\``, a)
      }
      if (hello.test_root_key) {
        const key = Buffer.from(hello.test_root_key, 'base64')
        if (key.length !== 32) return refuse('the test root key is not 32 bytes', a)
        if (!isLoopbackLiteral(hello.ws_url)) return refuse(`a test root key is honoured only for a loopback IP literal, not ${hello.ws_url}`, a)
        baileys.WA_CERT_DETAILS.PUBLIC_KEY = key
      }
      const account = new Account(wire, hello, baileys, pino, a, () => {
        if (accounts.get(a) === account) accounts.delete(a)
      })
      accounts.set(a, account)
      wire.welcome(a)
      account.open().catch((error) => account.fatal(`opening the account failed: ${error?.message ?? error}`))
    },
    PairPhone: async (request, a) => accountAt(a).pairingCode(request),
    CheckNumbers: async (request, a) => accountAt(a).sender.checkNumbers(request),
    SendChunk: async (request, a) => accountAt(a).sender.sendChunk(request),
    RevokeChunk: async (request, a) => accountAt(a).sender.revokeChunk(request),
    Logout: async (_request, a) => accountAt(a).logout(),
    Shutdown: async (_request, a) => {
      if (a === null) {
        stopAll()
        setImmediate(() => process.exit(0))
        return {}
      }
      // one account leaves; the process stays for the others (the server ends it with the last one)
      accounts.get(a)?.stop()
      accounts.delete(a)
      return {}
    }
  }, { onClose: () => { stopAll(); process.exit(0) } })
}

main().catch((error) => {
  process.stderr.write(`child: ${error?.stack ?? error}\n`)
  process.exit(1)
})
