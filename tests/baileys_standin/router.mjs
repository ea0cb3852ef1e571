// What the stand-in does with a connection once its handshake is done: a registration gets QR refs, a
// login gets `success` (or `failure 401` for a device it does not know), and every stanza after that is
// answered (iqs, iq-handlers.mjs; statuses, statuses.mjs) or reported on the control channel.
import { deliverQueued } from './incoming.mjs';
import { IQ_HANDLERS, IqError } from './iq-handlers.mjs';
import { offerRefs } from './pairing.mjs';
import { firstChildTag, iqError, iqResult, summarize, unixNow } from './stanzas.mjs';
import { STATUS_JID } from './statuses.mjs';

const LOGGED_OUT = 401;

export function makeRouter(ctx) {
    const { accounts, events } = ctx;

    async function onClientPayload(conn, payload) {
        if (payload.devicePairingData) {
            events.emit('handshake', { conn: conn.id, kind: 'registration' });
            // not awaited: the client's answer comes through this same connection's frame loop
            offerRefs(conn, { ...ctx, conn }).catch(error => conn.fail(error));
            return;
        }
        const phone = String(payload.username ?? '');
        const deviceId = payload.device ?? 0;
        const device = accounts.findDevice(phone, deviceId);
        events.emit('handshake', { conn: conn.id, kind: 'login', phone, device: deviceId });
        if (!device || !device.noiseKey.equals(conn.clientStatic)) {
            events.emit('login-refused', { conn: conn.id, phone, device: deviceId, reason: device ? 'noise key' : 'unknown device' });
            conn.sendAndClose({ tag: 'failure', attrs: { reason: String(LOGGED_OUT), location: 'standin' } });
            return;
        }
        conn.device = device;
        device.pushName = payload.pushName || device.pushName;
        const t = unixNow();
        conn.send({ tag: 'success', attrs: { t, props: '1', abprops: '1', location: 'standin', creation: t, lid: device.lid } });
        events.emit('logged-in', { conn: conn.id, jid: device.jid, lid: device.lid });
        // what waited offline (incoming.mjs), then the end of it: lets Baileys flush its buffered events
        const offline = deliverQueued(conn);
        conn.send({ tag: 'ib', attrs: {}, content: [{ tag: 'offline', attrs: { count: String(offline) } }] });
        ctx.appState?.onLogin(conn);
    }

    async function onNode(conn, node) {
        if (node.tag === 'iq' && (node.attrs.type === 'get' || node.attrs.type === 'set' || !node.attrs.type)) {
            answerIq(conn, node);
            return;
        }
        if (node.tag === 'message' && node.attrs.to === STATUS_JID) {
            await ctx.statuses.receive(conn, node);
            return;
        }
        events.emit('stanza', { conn: conn.id, ...summarize(node) });
    }

    function answerIq(conn, iq) {
        const key = `${iq.attrs.xmlns}/${firstChildTag(iq)}`;
        const handler = Object.hasOwn(IQ_HANDLERS, key) ? IQ_HANDLERS[key] : undefined;
        const seen = { conn: conn.id, id: iq.attrs.id, xmlns: iq.attrs.xmlns, type: iq.attrs.type, child: firstChildTag(iq) };
        let reply;
        try {
            reply = handler ? iqResult(iq, handler(iq, { ...ctx, conn })) : iqError(iq, 501, 'feature-not-implemented');
        } catch (error) {
            const code = error instanceof IqError ? error.code : 500;
            events.emit('iq-failed', { ...seen, error: error.message });
            reply = iqError(iq, code, error.message);
        }
        events.emit('iq', { ...seen, handled: Boolean(handler) });
        conn.send(reply);
    }

    function onClose(conn) {
        accounts.forgetRefsOf(conn);
        events.emit('closed', { conn: conn.id, jid: conn.device?.jid ?? null });
    }

    return { onClientPayload, onNode, onClose };
}
