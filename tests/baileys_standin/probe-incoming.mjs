// The probe's view of statuses others post: each message from status@broadcast that is not our own, as
// Baileys hands it to a consumer in messages.upsert:
//   {"event": "incoming", "type" ("notify" live, "append" offline), "key", "pushName", "message",
//    "messageTimestamp", "messageStubType"?, "messageStubParameters"? (a failed decryption)}
// `message` is protobufjs' JSON form (bytes base64, enums by name, longs as strings).
const STATUS_JID = 'status@broadcast';

export function watchIncoming(sock, emit) {
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
            }
        }
    });
}
