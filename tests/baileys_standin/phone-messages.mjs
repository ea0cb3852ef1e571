// Messages the account's phone (device 0) sends its own linked companions, as a real phone does: it
// fetches the companion's prekey bundle from the server (what the companion uploaded), opens a Signal
// session with it, and sends a peer message (`category="peer"`) from its own JID, which Baileys marks
// fromMe (decode-wa-message.js) — the condition for the self-only protocol messages it carries.
//
// Built: APP_STATE_SYNC_KEY_SHARE, the key the phone encrypts its app state with (process-message.js
// stores it as 'app-state-sync-key' and sets creds.myAppStateKeyId), and HISTORY_SYNC_NOTIFICATION with
// an inline payload (history.js: no media download), which moves a first login from "AwaitingInitialSync"
// to Baileys' initial app-state sync of every collection (chats.js doAppStateSync).
import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { companionBundle } from './prekey-bundles.mjs';
import { unixNow } from './stanzas.mjs';

/** time for Baileys to store the key before the server announces the book (see app-state.mjs keyShared) */
const ANNOUNCE_AFTER_MS = 1000;

export function makePhoneMessages(ctx) {
    const { b, accounts, users, events } = ctx;
    const sessions = new Set(); // companion JIDs the phone has a session with

    /** A Signal session from the phone to `companion`, from the bundle the server holds for it. */
    async function ensureSession(phoneDevice, companion) {
        if (sessions.has(companion.jid)) {
            return;
        }
        if (!companion.signedPreKey || !companion.companionIdentity) {
            throw new Error(`${companion.jid} has uploaded no prekeys yet (wait for its "prekeys-uploaded")`);
        }
        const bundle = companionBundle(companion);
        const pub = b.generateSignalPubKey;
        await phoneDevice.repository.injectE2ESession({
            jid: companion.jid,
            session: {
                registrationId: bundle.registrationId,
                identityKey: pub(bundle.identity),
                signedPreKey: { keyId: bundle.signedPreKey.id, publicKey: pub(bundle.signedPreKey.public), signature: bundle.signedPreKey.signature },
                ...(bundle.preKey ? { preKey: { keyId: bundle.preKey.id, publicKey: pub(bundle.preKey.public) } } : {})
            }
        });
        sessions.add(companion.jid);
    }

    /** Sends `message` (a proto.Message object) from the phone to every open connection of `jid`. */
    async function sendToCompanion(jid, message) {
        const companion = accounts.devices.get(jid);
        if (!companion) {
            throw new Error(`no linked device ${jid}`);
        }
        const conns = [...ctx.connections.values()].filter(c => c.device?.jid === jid && !c.closed);
        if (!conns.length) {
            throw new Error(`${jid} is not connected`);
        }
        const phoneDevice = users.byPhone(companion.phone)?.held.get(0);
        if (!phoneDevice) {
            throw new Error(`the phone of ${companion.phone} is not played by the stand-in (registered without device 0?)`);
        }
        await ensureSession(phoneDevice, companion);
        const data = b.writeRandomPadMax16(b.proto.Message.encode(message).finish());
        const { type, ciphertext } = await phoneDevice.repository.encryptMessage({ jid: companion.jid, data });
        const id = randomBytes(8).toString('hex').toUpperCase();
        for (const conn of conns) {
            conn.send({
                tag: 'message',
                attrs: { from: phoneDevice.jid, id, t: unixNow(), type: 'text', category: 'peer' },
                content: [{ tag: 'enc', attrs: { v: '2', type }, content: ciphertext }]
            });
        }
        return { id, type, sent: conns.length };
    }

    /**
     * `share-app-state-key {jid, announceAfterMs?}`: the phone gives companion `jid` the account's
     * app-state key; the server announces a book that is not empty `announceAfterMs` (1000) later.
     */
    async function shareAppStateKey({ jid, announceAfterMs = ANNOUNCE_AFTER_MS }) {
        // null: no announcement at all (a history sync is to start the first sync instead)
        if (announceAfterMs !== null && !(Number(announceAfterMs) >= 0)) {
            throw new Error(`share-app-state-key: "announceAfterMs" is a number of milliseconds, not ${JSON.stringify(announceAfterMs)}`);
        }
        const companion = accounts.devices.get(jid);
        if (!companion) {
            throw new Error(`share-app-state-key: no linked device ${JSON.stringify(jid)}`);
        }
        const key = ctx.appState.syncKey(companion.phone);
        const keyIndex = companion.keyIndex ?? 0;
        const message = {
            protocolMessage: {
                type: b.proto.Message.ProtocolMessage.Type.APP_STATE_SYNC_KEY_SHARE,
                appStateSyncKeyShare: {
                    keys: [
                        {
                            keyId: { keyId: key.keyId },
                            keyData: {
                                keyData: key.keyData,
                                fingerprint: { rawId: key.keyId.readUInt32BE(0), currentIndex: keyIndex, deviceIndexes: [0, keyIndex] },
                                timestamp: key.timestamp
                            }
                        }
                    ]
                }
            }
        };
        const sent = await sendToCompanion(jid, message);
        const announcing = ctx.appState.keyShared(jid, companion.phone, announceAfterMs === null ? null : Number(announceAfterMs));
        const result = { keyId: key.keyId.toString('base64'), messageId: sent.id, type: sent.type, announcing };
        events.emit('app-state-key-shared', { jid, ...result });
        return result;
    }

    /**
     * `history-sync {jid, syncType?}`: the phone's history-sync notification, inline and empty (the
     * stand-in's accounts have no chats): {syncType: INITIAL_BOOTSTRAP (default) | RECENT | PUSH_NAME…,
     * progress 100} → {messageId, syncType}.
     */
    async function historySync({ jid, syncType = 'INITIAL_BOOTSTRAP' }) {
        const { HistorySync, Message } = b.proto;
        const type = HistorySync.HistorySyncType[syncType];
        if (type === undefined) {
            throw new Error(`history-sync: "syncType" is one of ${Object.keys(HistorySync.HistorySyncType)}, not ${JSON.stringify(syncType)}`);
        }
        const payload = deflateSync(HistorySync.encode({ syncType: type, conversations: [], progress: 100, chunkOrder: 0 }).finish());
        const message = {
            protocolMessage: {
                type: Message.ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION,
                historySyncNotification: { syncType: type, chunkOrder: 0, progress: 100, initialHistBootstrapInlinePayload: payload }
            }
        };
        const sent = await sendToCompanion(jid, message);
        events.emit('history-sync-sent', { jid, messageId: sent.id, syncType });
        return { messageId: sent.id, syncType };
    }

    return { shareAppStateKey, historySync };
}
