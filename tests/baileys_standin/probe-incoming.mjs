// The probe's view of statuses others post: each message from status@broadcast that is not our own, as
// Baileys hands it to a consumer in messages.upsert:
//   {"event": "incoming", "type" ("notify" live, "append" offline), "key", "pushName", "message",
//    "messageTimestamp", "messageStubType"?, "messageStubParameters"? (a failed decryption)}
// `message` is protobufjs' JSON form (bytes base64, enums by name, longs as strings).
// For an image, video or audio status it then downloads the media as a consumer would, with Baileys'
// downloadMediaMessage (over HTTPS from the message's url host: the stand-in's, trusted through
// NODE_EXTRA_CA_CERTS):  {"event": "incoming-media", "key", "type", "bytes", "sha256"} | {…, "error"}
import { createHash } from 'node:crypto';

const STATUS_JID = 'status@broadcast';
const MEDIA = ['imageMessage', 'videoMessage', 'audioMessage'];

async function download(baileys, m, emit) {
    const type = MEDIA.find(name => m.message?.[name]);
    if (!type || !baileys) {
        return;
    }
    try {
        const data = await baileys.downloadMediaMessage(m, 'buffer', {});
        emit('incoming-media', { key: m.key, type, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    } catch (error) {
        emit('incoming-media', { key: m.key, type, error: error.message });
    }
}

export function watchIncoming(sock, emit, { baileys } = {}) {
    sock.ev.on('messages.upsert', ({ messages, type }) => {
        for (const m of messages) {
            if (m.key.remoteJid === STATUS_JID && !m.key.fromMe) {
                emit('incoming', {
                    type,
                    key: m.key,
                    pushName: m.pushName ?? null,
                    message: m.message ? m.message.toJSON?.() ?? m.message : null,
                    messageTimestamp: m.messageTimestamp,
                    ...(m.messageStubType ? { messageStubType: m.messageStubType, messageStubParameters: m.messageStubParameters ?? null } : {})
                });
                void download(baileys, m, emit);
            }
        }
    });
}
