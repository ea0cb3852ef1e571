// The logger we hand Baileys: pino at warn at most (its debug output dumps key material), and two facts
// Baileys 7.0.0-rc14 only ever logs, read off its log calls so that no debug line is ever written:
// - "sending message to N devices" (debug) is logged just before a message stanza is written: from then on
//   a failed send may have reached WhatsApp;
// - "Failed to encrypt for recipient" (error, with the device's jid) means that device was left out of the
//   stanza.
// The pinned version (package-lock.json) fixes these strings; the stand-in tests fail if they change.

const LEAVING = 'sending message to '
const ENCRYPT_FAILED = 'Failed to encrypt for recipient'
const QUIET_LEVELS = new Set(['fatal', 'error', 'warn', 'silent'])

/** What the current send has seen; reset by the sender before each stanza. */
export class SendTrace {
  constructor () {
    this.reset()
  }

  reset () {
    this.leaving = false
    this.devices = 0
    this.encryptFailures = []
  }
}

/** `bindings` go on every line (in a process of several accounts: whose it is). */
export function makeLogger (pino, level, trace, bindings = null) {
  const base = pino({ level: QUIET_LEVELS.has(level) ? level : 'warn' }, pino.destination(2))
  return wrap(bindings ? base.child(bindings) : base, trace)
}

function wrap (target, trace) {
  return {
    get level () {
      return target.level
    },
    child: (bindings) => wrap(target.child(bindings), trace),
    trace: () => {},
    debug: (fields, message) => {
      if (typeof message === 'string' && message.startsWith(LEAVING)) {
        trace.leaving = true
        trace.devices = Number.parseInt(message.slice(LEAVING.length), 10) || 0
      }
    },
    info: () => {},
    warn: (...args) => target.warn(...args),
    error: (fields, ...rest) => {
      if (rest[0] === ENCRYPT_FAILED && fields?.jid) trace.encryptFailures.push(String(fields.jid))
      target.error(fields, ...rest)
    },
    fatal: (...args) => target.fatal(...args)
  }
}
