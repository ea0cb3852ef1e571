// A status a contact posts, as our linked companions receive it (`post-status`): the stand-in plays the
// poster's phone (device 0 of a registered user, signal-device.mjs) and the server's fan-out. The status
// is encrypted once under the poster's sender key for status@broadcast (an skmsg); each of our companions
// gets its own stanza with, before it, a pkmsg carrying the sender key distribution message, over a Signal
// session the poster opens from the prekeys the companion uploaded (prekey-bundles.mjs companionBundle).
//
//   <message from="status@broadcast" participant="LID@lid" participant_pn="PHONE@s.whatsapp.net"
//            id t type="text"|"media" notify?="push name">
//     <enc v="2" type="pkmsg">SKDM</enc><enc v="2" type="skmsg" mediatype?="image|video|audio|ptt">status</enc></message>
//
// Baileys (Utils/decode-wa-message.js) takes the sender from `participant`; it reads it as a LID when it
// ends in "lid" (or addressing_mode="lid"), and then the PN from participant_pn (for a PN participant:
// the LID from participant_lid). For a status@broadcast chat that alternate lands in key.remoteJidAlt,
// not key.participantAlt (which only groups get). It answers with a <receipt to="status@broadcast"
// participant id type?> (type "inactive" unless it marked itself online), reported as a `stanza`.
import { randomBytes } from 'node:crypto';
import { mediaKindOf, postedMedia } from './incoming-media.mjs';
import { companionBundle } from './prekey-bundles.mjs';
import { STATUS_JID } from './statuses.mjs';
import { unixNow } from './stanzas.mjs';
import { userJid } from './users.mjs';

/** The status message a `post-status` command describes: a text, or media (incoming-media.mjs). */
async function statusMessage(fields, kind, b, media) {
    if (kind) {
        return postedMedia(b, media, kind, fields[kind]);
    }
    const { text, backgroundArgb, font } = fields;
    if (typeof text !== 'string') {
        throw new Error('post-status needs "text", "image", "video" or "audio"');
    }
    const extended = { text };
    if (backgroundArgb !== undefined) {
        extended.backgroundArgb = Number(backgroundArgb);
    }
    if (font !== undefined) {
        extended.font = Number(font);
    }
    return { extendedTextMessage: extended };
}

/** The <enc mediatype> Baileys writes for this media (messages-send.js getMediaType): a voice note is "ptt". */
function mediaTypeAttr(kind, message) {
    return kind === 'audio' && message.audioMessage.ptt ? 'ptt' : kind;
}

/** Opens the poster's session with a companion from the companion's uploaded prekeys, once. */
async function ensureSession(b, poster, companion) {
    if ((await poster.repository.validateSession(companion.jid)).exists) {
        return;
    }
    const bundle = companionBundle(companion);
    const key = k => k && { keyId: k.id, publicKey: b.generateSignalPubKey(k.public), signature: k.signature };
    await poster.repository.injectE2ESession({
        jid: companion.jid,
        session: {
            registrationId: bundle.registrationId,
            identityKey: b.generateSignalPubKey(bundle.identity),
            signedPreKey: key(bundle.signedPreKey),
            preKey: key(bundle.preKey)
        }
    });
}

/**
 * `post-status`: {phone (a registered user), to (our account's phone), messageId? (not `id`: that names the
 * command), text, backgroundArgb?, font? | image / video / audio: {data, …} (incoming-media.mjs),
 * pushName?, addressing? ("lid", the default for a user with a LID; "pn")} → {sent, queued, id, devices}:
 * sent on the companions' open connections, or queued for a companion with none until it logs in.
 */
export async function postStatus(fields, { b, users, accounts, connections, events, media }) {
    const phone = String(fields.phone ?? '').replace(/^\+/, '');
    const to = String(fields.to ?? '').replace(/^\+/, '');
    const user = users.registered.get(phone);
    const poster = user?.held.get(0);
    if (!poster) {
        throw new Error(`post-status: ${JSON.stringify(fields.phone)} is not a registered user with a phone (device 0)`);
    }
    const companions = [...accounts.devices.values()].filter(d => d.phone === to && d.signedPreKey);
    if (!companions.length) {
        throw new Error(`post-status: the account ${JSON.stringify(fields.to)} has no linked companion with uploaded prekeys`);
    }
    const addressing = fields.addressing ?? (user.lid ? 'lid' : 'pn');
    if (addressing === 'lid' && !user.lid) {
        throw new Error(`post-status: ${phone} has no LID`);
    }
    const pn = userJid(phone, 's.whatsapp.net');
    const lid = user.lid ? userJid(user.lid, 'lid') : undefined;
    const participant = addressing === 'lid' ? lid : pn;
    const id = fields.messageId ?? `3A${randomBytes(9).toString('hex').toUpperCase()}`;
    const kind = mediaKindOf(fields);
    const message = await statusMessage(fields, kind, b, media);
    // one skmsg for everyone: the server fans the same ciphertext out
    const { ciphertext, senderKeyDistributionMessage } = await poster.repository.encryptGroupMessage({
        group: STATUS_JID,
        meId: participant,
        data: b.encodeWAMessage(message)
    });
    const distribution = b.encodeWAMessage({
        senderKeyDistributionMessage: { groupId: STATUS_JID, axolotlSenderKeyDistributionMessage: senderKeyDistributionMessage }
    });
    const attrs = { from: STATUS_JID, participant, id, t: unixNow(), type: kind ? 'media' : 'text' };
    if (addressing === 'lid') {
        attrs.participant_pn = pn;
    } else if (lid) {
        attrs.participant_lid = lid;
    }
    if (fields.pushName) {
        attrs.notify = String(fields.pushName);
    }
    let sent = 0;
    let queued = 0;
    const devices = [];
    for (const companion of companions) {
        await ensureSession(b, poster, companion);
        const direct = await poster.repository.encryptMessage({ jid: companion.jid, data: distribution });
        const node = {
            tag: 'message',
            attrs,
            content: [
                { tag: 'enc', attrs: { v: '2', type: direct.type }, content: direct.ciphertext },
                { tag: 'enc', attrs: { v: '2', type: 'skmsg', ...(kind ? { mediatype: mediaTypeAttr(kind, message) } : {}) }, content: ciphertext }
            ]
        };
        devices.push(companion.jid);
        const open = [...connections.values()].filter(conn => conn.device?.jid === companion.jid && !conn.closed);
        for (const conn of open) {
            conn.send(node);
            sent++;
        }
        if (!open.length) {
            // held for its next login, as the server holds what a device missed (deliverQueued)
            (companion.offlineQueue ??= []).push({ ...node, attrs: { ...attrs, offline: '1' } });
            queued++;
        }
    }
    events.emit('status-posted', { id, participant, devices, sent, queued });
    return { sent, queued, id, devices };
}

/**
 * At a login: what was posted to the device while it had no connection, each stanza marked `offline`
 * (Baileys then upserts it as "append", not "notify") → how many, for <ib><offline count>.
 */
export function deliverQueued(conn) {
    const queue = conn.device?.offlineQueue ?? [];
    for (const node of queue) {
        conn.send(node);
    }
    if (conn.device) {
        conn.device.offlineQueue = [];
    }
    return queue.length;
}
