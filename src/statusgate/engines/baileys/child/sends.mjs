// Posting a status in chunks under our own message id, each chunk answered only after WhatsApp's server
// acknowledged it (docs/engines.md, "The child protocol": SendChunk, RevokeChunk, CheckNumbers).
//
// Why it is built this way:
// - The message is built once per status (its media uploaded once) and kept for its other chunks: every
//   chunk carries the same content under the same id.
// - We build it with our own thumbnail, seconds and waveform, so Baileys never needs sharp or ffmpeg; link
//   previews are off (`linkPreview: null`): Baileys' preview fetcher follows URLs in text unguarded.
// - `relayMessage` resolving means the stanza was written, not that WhatsApp took it: the answer waits for
//   the server's `<ack class="message">` with our id. Chunks share that id, so they go one at a time.
// - Baileys leaves out a device whose encryption fails and only logs it; the logger we gave it (logger.mjs)
//   tells us, and the answer names those devices. It also tells when the stanza is being written.
// - A failure before the stanza left is `transient` or `permanent` (nothing reached WhatsApp); once it may
//   have left, `uncertain`.

const STATUS = 'status@broadcast'
//: messages kept for chunks still to come; a status' last chunk drops its own
const KEEP_BUILT = 8

//: Green's font names → WhatsApp's FontType names (the whatsapp engine's table, messages.py: WhatsApp
//: retired Bryndan Write and Oswald Heavy, so those get the closest current face)
const FONTS = {
  SANS_SERIF: 'SYSTEM',
  SERIF: 'SYSTEM_TEXT',
  NORICAN_REGULAR: 'FB_SCRIPT',
  BRYNDAN_WRITE: 'MORNINGBREEZE_REGULAR',
  OSWALD_HEAVY: 'SYSTEM_BOLD'
}
const DEFAULT_BACKGROUND = '#000000'
const VOICE_BACKGROUND = '#FFFFFF'
const VOICE_MIME = 'audio/ogg; codecs=opus'

export class SendError extends Error {
  constructor (message, kind) {
    super(message)
    this.kind = kind
  }
}

const digitsOf = (jid) => String(jid ?? '').split('@')[0].split(':')[0]
const pnJid = (chatId) => `${digitsOf(chatId)}@s.whatsapp.net`

function argb (colour, fallback) {
  const hex = String(colour || fallback).replace('#', '')
  return (0xff000000 | parseInt(hex, 16)) >>> 0
}

export class Sender {
  /**
   * @param account  the child's account: `connected()` gives its live socket or throws (transient)
   * @param trace    what Baileys' log calls said of the current send (logger.mjs)
   */
  constructor (account, baileys, trace) {
    this.account = account
    this.baileys = baileys
    this.trace = trace
    this.built = new Map()
  }

  fontNumber (name) {
    const numbers = this.baileys.proto.Message.ExtendedTextMessage.FontType
    return numbers[FONTS[name] ?? 'SYSTEM']
  }

  async content (sock, status) {
    const known = this.built.get(status.message_id)
    if (known) return known
    const { generateWAMessageContent } = this.baileys
    let content
    try {
      content = await generateWAMessageContent(this.baileysMessage(status), {
        upload: sock.waUploadToServer,
        logger: this.account.logger,
        ...(status.kind === 'text'
          ? { backgroundColor: status.background || DEFAULT_BACKGROUND, font: this.fontNumber(status.font) }
          : {})
      })
    } catch (error) {
      // nothing left: the upload or the build failed before any stanza
      throw new SendError(`the status could not be built: ${error?.message ?? error}`, 'transient')
    }
    if (status.kind === 'audio' && status.voice) {
      content.audioMessage.backgroundArgb = argb(status.background, VOICE_BACKGROUND)
    }
    this.built.set(status.message_id, content)
    while (this.built.size > KEEP_BUILT) this.built.delete(this.built.keys().next().value)
    return content
  }

  baileysMessage (status) {
    if (status.kind === 'text') return { text: status.text, linkPreview: null }
    const media = { url: status.media_path }
    const thumbnail = status.jpeg_thumbnail ? Buffer.from(status.jpeg_thumbnail, 'base64') : undefined
    if (status.kind === 'image') {
      return { image: media, caption: status.caption, mimetype: status.mime_type, jpegThumbnail: thumbnail, width: status.width, height: status.height }
    }
    if (status.kind === 'video') {
      return { video: media, caption: status.caption, mimetype: status.mime_type, jpegThumbnail: thumbnail, seconds: status.seconds, width: status.width, height: status.height }
    }
    if (status.kind === 'audio') {
      return {
        audio: media,
        mimetype: status.voice ? VOICE_MIME : status.mime_type,
        ptt: status.voice,
        seconds: status.seconds,
        waveform: status.waveform ? Buffer.from(status.waveform, 'base64') : undefined
      }
    }
    throw new SendError(`unknown status kind ${status.kind}`, 'permanent')
  }

  /** Our recipients' JIDs as the chunk addresses them, plus our own (its other devices) on the first. */
  async audience (sock, recipients, addressing, withOwn) {
    let jids = recipients.map(pnJid)
    if (addressing === 'lid' && jids.length) {
      const mapped = await sock.signalRepository.lidMapping.getLIDsForPNs(jids).catch(() => null)
      const lidOf = new Map((mapped ?? []).map(({ pn, lid }) => [pn, lid]))
      jids = jids.map((jid) => lidOf.get(jid) ?? jid)
    }
    // our own always by phone number: rc14's extractDeviceJids compares our LID *jid* with a LID *user*,
    // so by LID it would not leave out the sending device itself
    if (withOwn) jids.push(pnJid(sock.user.id))
    return jids
  }

  async sendChunk ({ status, index, recipients, addressing, ack_timeout_ms: ackTimeout, last }) {
    const sock = this.account.connected()
    const message = await this.content(sock, status)
    const jids = await this.audience(sock, recipients, addressing, index === 0)
    try {
      return await this.relayAcked(sock, message, status.message_id, jids, ackTimeout)
    } finally {
      if (last) this.built.delete(status.message_id)
    }
  }

  async revokeChunk ({ message_id: messageId, index, recipients, addressing, ack_timeout_ms: ackTimeout }) {
    const sock = this.account.connected()
    const { proto, generateMessageIDV2 } = this.baileys
    const message = {
      protocolMessage: {
        key: { remoteJid: STATUS, fromMe: true, id: messageId },
        type: proto.Message.ProtocolMessage.Type.REVOKE
      }
    }
    const jids = await this.audience(sock, recipients, addressing, index === 0)
    return this.relayAcked(sock, message, generateMessageIDV2(sock.user.id), jids, ackTimeout, { edit: '7' })
  }

  async relayAcked (sock, message, id, jids, ackTimeout, additionalAttributes) {
    const ack = this.ackOf(sock, id, ackTimeout)
    this.trace.reset()
    const sentAt = Date.now() / 1000
    try {
      await sock.relayMessage(STATUS, message, { messageId: id, statusJidList: jids, additionalAttributes })
    } catch (error) {
      ack.cancel()
      // before the stanza was being written (a query failed, every encryption failed) nothing reached
      // WhatsApp and a later attempt may send it; once it was, we cannot know
      const kind = this.trace.leaving ? 'uncertain' : 'transient'
      throw new SendError(`the status was not sent: ${error?.message ?? error}`, kind)
    }
    const failed = [...new Set(this.trace.encryptFailures)]
    const dropped = failed.length ? await this.droppedRecipients(sock, failed) : []
    const attrs = await ack.promise
    return { ack_error: attrs.error ? String(attrs.error) : '', dropped, failed_devices: failed, sent_at: sentAt }
  }

  /** The recipients (digits@c.us) none of whose devices made it into the stanza, by the device lists
   * Baileys stored for them; a LID user is named by its phone number when the mapping is known. */
  async droppedRecipients (sock, failedDevices) {
    const failedByUser = new Map()
    for (const jid of failedDevices) {
      const user = digitsOf(jid)
      failedByUser.set(user, (failedByUser.get(user) ?? 0) + 1)
    }
    const lists = await sock.authState.keys.get('device-list', [...failedByUser.keys()])
    const dropped = []
    for (const [user, failed] of failedByUser) {
      if (failed < (lists[user]?.length ?? 1)) continue
      const lidJid = failedDevices.find((jid) => digitsOf(jid) === user && jid.endsWith('@lid'))
      const pn = lidJid ? await sock.signalRepository.lidMapping.getPNForLID(lidJid).catch(() => null) : null
      dropped.push(`${digitsOf(pn ?? user)}@c.us`)
    }
    return dropped
  }

  /** The server's ack of the stanza with this id; rejects (uncertain) when none comes in time. */
  ackOf (sock, id, timeoutMs) {
    let cancel
    const promise = new Promise((resolve, reject) => {
      const onAck = (node) => {
        if (node.attrs.id !== id) return
        done()
        resolve(node.attrs)
      }
      const timer = setTimeout(() => {
        done()
        reject(new SendError(`WhatsApp did not acknowledge the status within ${timeoutMs} ms`, 'uncertain'))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        sock.ws.off('CB:ack,class:message', onAck)
      }
      cancel = done
      sock.ws.on('CB:ack,class:message', onAck)
    })
    return { promise, cancel }
  }

  /** Which of these numbers are on WhatsApp (digits in, digits out). */
  async checkNumbers ({ numbers }) {
    const sock = this.account.connected()
    if (!numbers.length) return { registered: [] }
    const found = await sock.onWhatsApp(...numbers.map((n) => `${n}@s.whatsapp.net`))
    return { registered: (found ?? []).filter((r) => r.exists).map((r) => digitsOf(r.jid)) }
  }
}
