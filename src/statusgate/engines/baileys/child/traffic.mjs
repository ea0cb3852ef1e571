// What the account hears, turned into the protocol's traffic events (docs/engines.md): receipts of our
// statuses, statuses contacts post, and the address book as it syncs.
//
// Why it is built this way:
// - A receipt comes as `message-receipt.update`, or — when it arrives within Baileys' event-buffer flush of
//   our own send (~100 ms) — folded into that send's `messages.upsert` as `userReceipt`: both are read.
// - A viewer is named by `userJid`, often a LID: mapped to the phone number, or dropped (statistics rows are
//   by number). Our own devices' receipts are never a viewer.
// - A contact with no phone number (a LID we cannot map) cannot be in Green's audience: it is left out.

const STATUS = 'status@broadcast'
const FONT_NAMES = {
  SYSTEM: 'SANS_SERIF',
  SYSTEM_TEXT: 'SERIF',
  FB_SCRIPT: 'NORICAN_REGULAR',
  MORNINGBREEZE_REGULAR: 'BRYNDAN_WRITE',
  SYSTEM_BOLD: 'OSWALD_HEAVY',
  EXO2_EXTRABOLD: 'OSWALD_HEAVY',
  CALISTOGA_REGULAR: 'SERIF',
  COURIERPRIME_BOLD: 'SERIF'
}

const digitsOf = (jid) => String(jid ?? '').split('@')[0].split(':')[0]
const isPn = (jid) => typeof jid === 'string' && jid.endsWith('@s.whatsapp.net')

function hexColour (argb) {
  return `#${((Number(argb) >>> 0) & 0xffffff).toString(16).toUpperCase().padStart(6, '0')}`
}

export class Traffic {
  constructor (account, baileys) {
    this.account = account
    this.baileys = baileys
  }

  listen (sock) {
    const guard = (what, fn) => (update) => fn(sock, update).catch((error) => {
      this.account.note(`${what} was lost: ${error?.stack ?? error}`)
    })
    sock.ev.on('message-receipt.update', guard('a receipt', (s, u) => this.onReceipts(s, u)))
    sock.ev.on('messages.upsert', guard('a message', (s, u) => this.onMessages(s, u)))
    sock.ev.on('contacts.upsert', guard('a contact', (s, u) => this.onContacts(s, u, 'saved')))
    sock.ev.on('contacts.update', guard('a contact', (s, u) => this.onContacts(s, u, 'profile')))
  }

  async phoneOf (sock, jid) {
    if (isPn(jid)) return jid
    if (typeof jid === 'string' && jid.endsWith('@lid')) {
      return (await sock.signalRepository.lidMapping.getPNForLID(jid).catch(() => null)) ?? null
    }
    return null
  }

  ownDigits (sock) {
    return new Set([digitsOf(sock.user?.id), digitsOf(sock.user?.lid)])
  }

  async receipt (sock, id, { userJid, readTimestamp, receiptTimestamp }) {
    const viewer = await this.phoneOf(sock, userJid)
    if (!viewer || this.ownDigits(sock).has(digitsOf(viewer))) return
    const read = readTimestamp !== undefined && readTimestamp !== null
    const at = Number(read ? readTimestamp : receiptTimestamp) || Date.now() / 1000
    this.account.event('Receipt', {
      wa_message_ids: [id],
      participant: `${digitsOf(viewer)}@c.us`,
      status: read ? 'read' : 'delivered',
      at
    })
  }

  async onReceipts (sock, updates) {
    for (const { key, receipt } of updates) {
      if (key.remoteJid === STATUS && key.fromMe && receipt?.userJid) await this.receipt(sock, key.id, receipt)
    }
  }

  async onMessages (sock, { messages }) {
    for (const message of messages ?? []) {
      const key = message.key ?? {}
      if (key.remoteJid !== STATUS) continue
      if (key.fromMe) {
        for (const receipt of message.userReceipt ?? []) await this.receipt(sock, key.id, receipt)
        continue
      }
      await this.incoming(sock, message)
    }
  }

  /** A status a contact posted: as the incoming journal stores it (the whatsapp engine's payload). */
  async incoming (sock, message) {
    const key = message.key
    const poster = (await this.phoneOf(sock, key.participantPn ?? key.participantAlt)) ??
      (await this.phoneOf(sock, key.participant))
    if (!poster || this.ownDigits(sock).has(digitsOf(poster))) return
    const payload = this.payload(this.baileys.normalizeMessageContent(message.message))
    if (!payload) return // a revoke, a sender key handshake, a reaction…
    if (message.pushName) payload.senderName = message.pushName
    this.account.event('Incoming', {
      wa_message_id: key.id,
      sender: `${digitsOf(poster)}@c.us`,
      at: Number(message.messageTimestamp) || Date.now() / 1000,
      payload
    })
  }

  payload (content) {
    if (!content) return null
    const fonts = this.baileys.proto.Message.ExtendedTextMessage.FontType
    if (content.extendedTextMessage || content.conversation) {
      const text = content.extendedTextMessage ?? {}
      const argb = text.backgroundArgb
      return {
        typeMessage: 'extendedTextMessage',
        text: text.text ?? content.conversation ?? '',
        backgroundColor: argb === undefined || argb === null ? '#000000' : hexColour(argb),
        font: FONT_NAMES[fonts[text.font ?? 0]] ?? 'SANS_SERIF'
      }
    }
    for (const type of ['imageMessage', 'videoMessage', 'audioMessage']) {
      const media = content[type]
      if (!media) continue
      const payload = { typeMessage: type, mimeType: media.mimetype ?? '' }
      if (media.caption) payload.caption = media.caption
      if (type !== 'imageMessage' && media.seconds) payload.seconds = media.seconds
      if (media.jpegThumbnail?.length) payload.jpegThumbnail = Buffer.from(media.jpegThumbnail).toString('base64')
      return payload
    }
    return null
  }

  /** `saved`: contacts.upsert from the app-state sync (the name saved on the phone; rc14 upserts a REMOVE
   * too, with no name: that is a removal); `profile`: contacts.update with a profile name. Every event
   * counts, in order: Baileys may split one sync into many. */
  async onContacts (sock, contacts, kind) {
    const changes = []
    for (const contact of contacts) {
      const phone = isPn(contact.id) ? contact.id : await this.phoneOf(sock, contact.phoneNumber ?? contact.id)
      if (!phone || this.ownDigits(sock).has(digitsOf(phone))) continue
      const change = { chat_id: `${digitsOf(phone)}@c.us` }
      if (kind === 'saved') {
        if (contact.name) change.full_name = contact.name
        else change.removed = true
      } else if (typeof contact.notify === 'string') {
        change.push_name = contact.notify
      } else {
        continue
      }
      changes.push(change)
    }
    if (changes.length) this.account.event('AddressBook', { changes, synced: false })
  }

  /** The first sync of the address book after a new link, once the phone shared the app-state key: we
   * ask for it ourselves (with no history sync, Baileys never does its initial app-state sync), then say
   * it is complete — after its contacts, which Baileys flushes when the sync ends. */
  async syncAddressBook (sock) {
    await sock.resyncAppState(['critical_unblock_low'], true)
    this.account.event('AddressBook', { changes: [], synced: true })
  }
}
