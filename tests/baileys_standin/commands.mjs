// The control commands (control.mjs carries them). Each is `async (fields, ctx) => result`; add new ones
// here (contacts, statuses, acks…), one function each.
import { enterCode, scanQr } from './pairing.mjs';

export const COMMANDS = {
    /** {qr, phone?, device?, pushName?}: the phone scans a QR the companion showed → {jid, lid} */
    scan: (fields, ctx) => scanQr(ctx, fields),

    /** {code, phone?}: the phone's user enters the pairing code the companion showed → {phone} */
    'enter-code': (fields, ctx) => enterCode(ctx, fields),

    /** the linked devices the stand-in knows */
    devices: (_fields, ctx) =>
        [...ctx.accounts.devices.values()].map(d => ({ jid: d.jid, lid: d.lid, preKeys: d.preKeys.size })),

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
