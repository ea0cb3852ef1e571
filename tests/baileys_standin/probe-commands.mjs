// What a test asks of the probe once it is open, as JSON lines on the probe's stdin, and what the probe
// then reports on stdout:
//   {"cmd": "send-status", "text", "backgroundColor"?: "#RRGGBB", "font"?: n, "statusJidList": [...],
//    "messageId"?}                                   → {"event": "sent", "cmd", "key"} | "send-failed"
//   {"cmd": "revoke-status", "id", "statusJidList"}  → the same (a protocolMessage REVOKE of status `id`)
//   {"cmd": "on-whatsapp", "phones": [...]}          → {"event": "on-whatsapp", "results"} | "send-failed"
// and, all along, every messages.update ({"event": "update", "key", "update"}), every
// message-receipt.update ({"event": "receipt", "key", "receipt"}), and each of our own messages in a
// messages.upsert ({"event": "upsert", "type", "key", "status", "messageStubParameters"}: an error ack
// that comes quickly is folded into it), so a test sees 479s and reads.
//
// Commands that arrive before the socket is open wait for it; they run one at a time.
import { createInterface } from 'node:readline';
import { watchIncoming } from './probe-incoming.mjs';
import { MEDIA_ACTIONS } from './probe-media.mjs';

const STATUS_JID = 'status@broadcast';

const ACTIONS = {
    'send-status': async (sock, { text, backgroundColor, font, statusJidList, messageId }) => {
        // rc14: backgroundColor/font go to the extendedTextMessage (Utils/messages.js), messageId to
        // generateWAMessage and from there to relayMessage; statusJidList names the recipients
        const sent = await sock.sendMessage(STATUS_JID, { text }, { backgroundColor, font, statusJidList, messageId });
        return { event: 'sent', key: sent.key };
    },
    'revoke-status': async (sock, { id, statusJidList }) => {
        const sent = await sock.sendMessage(STATUS_JID, { delete: { remoteJid: STATUS_JID, fromMe: true, id } }, { statusJidList });
        return { event: 'sent', key: sent.key };
    },
    'on-whatsapp': async (sock, { phones }) => ({ event: 'on-whatsapp', results: (await sock.onWhatsApp(...phones)) ?? null }),
    ...MEDIA_ACTIONS
};

/** Reports the message events of `sock` (a new socket after each reconnect); tools: { baileys }. */
export function watchMessages(sock, emit, tools = {}) {
    watchIncoming(sock, emit, tools);
    sock.ev.on('messages.update', updates => {
        for (const { key, update } of updates) {
            emit('update', { key, update });
        }
    });
    sock.ev.on('messages.upsert', ({ messages, type }) => {
        for (const { key, status, messageStubParameters } of messages) {
            if (key.fromMe) {
                emit('upsert', { type, key, status: status ?? null, messageStubParameters: messageStubParameters ?? null });
            }
        }
    });
    sock.ev.on('message-receipt.update', receipts => {
        for (const { key, receipt } of receipts) {
            emit('receipt', { key, receipt });
        }
    });
}

/**
 * Serves stdin commands against the socket `openSocket()` resolves to (the current open one); an action
 * gets (sock, fields, tools), tools being { baileys } (the module, for functions a socket lacks).
 */
export function serveProbeCommands(openSocket, emit, input = process.stdin, tools = {}) {
    const lines = createInterface({ input, crlfDelay: Infinity });
    let chain = Promise.resolve();
    lines.on('line', line => {
        if (!line.trim()) {
            return;
        }
        chain = chain.then(() => runOne(openSocket, emit, line, tools));
    });
}

async function runOne(openSocket, emit, line, tools) {
    let request;
    try {
        request = JSON.parse(line);
    } catch (error) {
        emit('send-failed', { cmd: null, error: `not JSON: ${error.message}` });
        return;
    }
    const { cmd, ...fields } = request ?? {};
    const action = Object.hasOwn(ACTIONS, cmd) ? ACTIONS[cmd] : undefined;
    if (!action) {
        emit('send-failed', { cmd, error: `unknown command ${JSON.stringify(cmd)}` });
        return;
    }
    try {
        const { event, ...result } = await action(await openSocket(), fields, tools);
        emit(event, { cmd, ...result });
    } catch (error) {
        emit('send-failed', { cmd, error: error.message });
    }
}
