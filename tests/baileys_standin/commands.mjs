// The control commands (control.mjs carries them). Each is `async (fields, ctx) => result`; add new ones
// here, one function each.
import { postStatus } from './incoming.mjs';
import { enterCode, scanQr } from './pairing.mjs';
import { withholdBundles } from './prekey-bundles.mjs';
import { streamError } from './stanzas.mjs';

const LOGGED_OUT = 401;

export const COMMANDS = {
    /** {qr, phone?, device?, pushName?}: the phone scans a QR the companion showed → {jid, lid} */
    scan: (fields, ctx) => scanQr(ctx, fields),

    /** {code, phone?}: the phone's user enters the pairing code the companion showed → {phone} */
    'enter-code': (fields, ctx) => enterCode(ctx, fields),

    /** the linked devices the stand-in knows */
    devices: (_fields, ctx) =>
        [...ctx.accounts.devices.values()].map(d => ({ jid: d.jid, lid: d.lid, preKeys: d.preKeys.size })),

    /** {phone, devices?: [0, …], lid?: true}: a WhatsApp user who is not us → {jid, lid, devices} */
    register: (fields, ctx) => ctx.users.register(fields),

    /** {error, from?} / {silent: true} / {}: how the server acks the statuses it gets (statuses.mjs) */
    'ack-policy': (fields, ctx) => ctx.statuses.setAckPolicy(fields),

    /** {phones}: those users' prekey bundles are left out of every answer (Baileys then drops them) */
    'withhold-bundles': (fields, ctx) => withholdBundles(fields, ctx),

    /** {messageId, phone, type?, to}: a recipient's delivery ("read": read) receipt for a status → {sent} */
    receipt: (fields, ctx) => ctx.statuses.sendReceipt(fields),

    /**
     * {phone, to, messageId?, text, backgroundArgb?, font? | image/video/audio: {data, …}, pushName?, addressing?}:
     * a contact posts a status to our account's companions (incoming.mjs) → {sent, queued, id, devices}
     */
    'post-status': (fields, ctx) => postStatus(fields, ctx),

    /** {phone, entries?: [{phone, fullName, firstName?}], remove?: [phone], removeValue?}: the account's
     * address book changes (app-state.mjs); keyed companions that are connected hear server_sync */
    contacts: (fields, ctx) => ctx.appState.setContacts(fields),

    /** {jid}: the phone shares the app-state sync key with its companion jid (phone-messages.mjs) */
    'share-app-state-key': (fields, ctx) => ctx.phoneMessages.shareAppStateKey(fields),

    /** {jid, syncType?}: the phone's (empty, inline) history-sync notification to its companion jid */
    'history-sync': (fields, ctx) => ctx.phoneMessages.historySync(fields),

    /** {jid}: the phone unlinks the device: its connections end (stream error 401), its logins are refused */
    unlink: ({ jid }, ctx) => {
        if (!ctx.accounts.devices.delete(jid)) {
            throw new Error(`no linked device ${jid}`);
        }
        let ended = 0;
        for (const conn of ctx.connections.values()) {
            if (conn.device?.jid === jid && !conn.closed) {
                conn.sendAndClose({ ...streamError(LOGGED_OUT), content: [{ tag: 'conflict', attrs: { type: 'device_removed' } }] });
                ended++;
            }
        }
        ctx.events.emit('device-removed', { jid });
        return { ended };
    },

    /** {jid?}: close the connections (of one device, or all) from the server's side */
    drop: ({ jid }, ctx) => {
        let dropped = 0;
        for (const conn of ctx.connections.values()) {
            if (jid === undefined || conn.device?.jid === jid) {
                conn.close();
                dropped++;
            }
        }
        return { dropped };
    },

    /** close everything and exit (after the reply) */
    stop: (_fields, ctx) => {
        ctx.stop();
        return { stopping: true };
    }
};
