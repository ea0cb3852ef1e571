// A status a client posts: a <message to="status@broadcast"> carrying one skmsg (the status, encrypted
// under the sender's sender key) and, in <participants>, a pkmsg/msg per recipient device with the
// sender key distribution message (messages-send.js relayMessage, the group/status branch). The
// stand-in decrypts it for every device it holds keys for, reports it (`status`), and answers the sender
// with the server's <ack>, which the ack policy can turn into an error (`ack-policy`) or withhold.
//
// Then the other direction: a recipient's receipt for a status, sent to the sender (`receipt`).
import { openMedia } from './media-open.mjs';
import { bytes, child, children, unixNow } from './stanzas.mjs';

export const STATUS_JID = 'status@broadcast';

const PROTO_JSON = { longs: String, bytes: String };

export function makeStatuses(ctx) {
    const { users, events, b } = ctx;
    let received = 0; // status stanzas so far in this run of the stand-in: the ack policy counts them
    let policy = {};
    let work = Promise.resolve();

    /**
     * `ack-policy`: {} success; {error, from?} the from-th status on (default: the next) gets `error`;
     * {silent} no ack. `delayMs` (with any of them) holds each ack back that long, as a real round trip
     * would: Baileys folds an error ack that comes before its own append of the sent message is flushed
     * into that messages.upsert, instead of a messages.update.
     */
    function setAckPolicy({ error, from, silent, delayMs }) {
        if (silent) {
            policy = { silent: true };
        } else if (error !== undefined) {
            const start = from === undefined ? received + 1 : Number(from);
            if (!Number.isInteger(start) || start < 1) {
                throw new Error(`ack-policy: "from" is a status number (1-based), not ${JSON.stringify(from)}`);
            }
            policy = { error: String(error), from: start };
        } else {
            policy = {};
        }
        if (delayMs !== undefined) {
            if (!(Number(delayMs) >= 0)) {
                throw new Error(`ack-policy: "delayMs" is a number of milliseconds, not ${JSON.stringify(delayMs)}`);
            }
            policy.delayMs = Number(delayMs);
        }
        return { ...policy, received };
    }

    function ackFor(node, number) {
        const ack = { tag: 'ack', attrs: { class: 'message', id: node.attrs.id, from: STATUS_JID, t: unixNow() } };
        if (policy.error !== undefined && number >= policy.from) {
            ack.attrs.error = policy.error;
        }
        return ack;
    }

    /** The message Baileys relayed to one recipient device, then the status itself (SKDM first). */
    async function decryptFor(device, senderLid, enc, skmsg) {
        const direct = await device.decryptDirect(senderLid, enc.attrs.type, bytes(enc));
        if (!skmsg) {
            return direct;
        }
        if (direct.senderKeyDistributionMessage) {
            await device.acceptSenderKey(senderLid, direct.senderKeyDistributionMessage);
        }
        return device.decryptGroup(STATUS_JID, senderLid, bytes(skmsg));
    }

    async function open(conn, node) {
        const number = ++received;
        const sender = conn.device;
        const senderLid = sender?.lid ?? sender?.jid;
        const skmsg = children(node, 'enc').find(e => e.attrs.type === 'skmsg');
        const recipients = [];
        const decrypted = {};
        const undecryptable = [];
        const why = {};
        const media = {}; // jid -> what that recipient made of the media (media-open.mjs)
        for (const to of children(child(node, 'participants'), 'to')) {
            const jid = to.attrs.jid;
            recipients.push(jid);
            const device = users.device(jid);
            const enc = child(to, 'enc');
            try {
                if (!device) {
                    throw new Error('no such device');
                }
                if (device.companion) {
                    throw new Error("a linked companion: its keys are in its own client, not the stand-in's");
                }
                if (!senderLid) {
                    throw new Error('the sender is not logged in');
                }
                const message = await decryptFor(device.held, senderLid, enc, skmsg);
                decrypted[jid] = b.proto.Message.toObject(message, PROTO_JSON);
                const opened = await openMedia(b, ctx.media, message);
                if (opened) {
                    media[jid] = opened;
                }
            } catch (error) {
                undecryptable.push(jid);
                why[jid] = error.message;
            }
        }
        events.emit('status', {
            conn: conn.id,
            number,
            id: node.attrs.id,
            from: sender?.jid ?? null,
            type: node.attrs.type,
            ...(node.attrs.addressing_mode ? { addressingMode: node.attrs.addressing_mode } : {}),
            recipients,
            decrypted,
            undecryptable,
            why,
            ...(Object.keys(media).length ? { media } : {}),
            attrs: node.attrs,
            children: children(node).map(c => c.tag)
        });
        if (!policy.silent) {
            const ack = ackFor(node, number);
            // a later ack is sent on its own: the next status need not wait for it
            if (policy.delayMs) {
                setTimeout(() => !conn.closed && conn.send(ack), policy.delayMs);
            } else {
                conn.send(ack);
            }
        }
    }

    /** A <message to="status@broadcast">: one at a time, for a device's Signal state moves with each. */
    function receive(conn, node) {
        work = work.then(() => open(conn, node)).catch(error => events.emit('status-failed', { conn: conn.id, id: node.attrs.id, error: error.message }));
        return work;
    }

    /**
     * `receipt`: `phone` (a recipient) tells the sender it got (type undefined) or read ("read") status
     * `messageId` (not `id`: that names the command on the control channel); sent to the connections of
     * the linked device `to` → {sent}.
     */
    function sendReceipt({ messageId: id, phone, type, to }) {
        if (!id || !phone || !to) {
            throw new Error('receipt needs "messageId", "phone" (the recipient) and "to" (a linked device JID)');
        }
        const attrs = { from: STATUS_JID, participant: `${String(phone).replace(/^\+/, '')}@s.whatsapp.net`, id, t: unixNow() };
        if (type) {
            attrs.type = type;
        }
        let sent = 0;
        for (const conn of ctx.connections.values()) {
            if (conn.device?.jid === to && !conn.closed) {
                conn.send({ tag: 'receipt', attrs });
                sent++;
            }
        }
        return { sent };
    }

    return { receive, setAckPolicy, sendReceipt };
}
