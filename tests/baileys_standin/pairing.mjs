// Linking a companion, as WhatsApp's server and the account's phone do it together:
//   registration login -> `pair-device` iq with refs (the companion shows QRs built from them)
//   the phone scans a QR (`scan`), or enters a pairing code (`enter-code`) the companion asked for
//   -> `pair-success` -> the companion's `pair-device-sign` -> stream error 515 (restart required)
// after which the companion reconnects and logs in as the new device (router.mjs).
import { deviceJid, deviceLid } from './accounts.mjs';
import { checkDeviceSignature, finishCodePairing, parseQr, signDeviceIdentity, unwrapWithCode, wrapWithCode } from './phone.mjs';
import { bytes, child, S_WHATSAPP_NET, streamError, unixNow } from './stanzas.mjs';

/** How many QR refs a registration gets (WhatsApp hands out six: one QR each, then the client gives up). */
const REF_COUNT = 6;
const RESTART_REQUIRED = 515;
export const DEFAULT_PHONE = '15550100001';

/** A registration login: hand the companion its refs. */
export async function offerRefs(conn, ctx) {
    const refs = Array.from({ length: REF_COUNT }, () => ctx.accounts.issueRef(conn));
    conn.pairing = { registration: conn.clientPayload.devicePairingData };
    ctx.events.emit('pairing-requested', { conn: conn.id, refs });
    const answer = await conn.query({
        tag: 'iq',
        attrs: { type: 'set', xmlns: 'md' },
        content: [
            { tag: 'pair-device', attrs: {}, content: refs.map(ref => ({ tag: 'ref', attrs: {}, content: Buffer.from(ref) })) }
        ]
    });
    if (answer.attrs.type !== 'result') {
        throw new Error(`the companion refused pair-device: ${answer.attrs.type}`);
    }
}

/** The `scan` command: the phone scans `qr` and links the companion showing it as `phone`:`device`. */
export async function scanQr(ctx, { qr, phone = DEFAULT_PHONE, device, pushName }) {
    if (typeof qr !== 'string') {
        throw new Error('scan needs the QR string the companion showed ("qr")');
    }
    const scanned = parseQr(qr);
    const conn = ctx.accounts.refs.get(scanned.ref);
    if (!conn || conn.closed) {
        throw new Error(`no connection is showing the QR ref ${scanned.ref}`);
    }
    if (!scanned.noiseKey.equals(conn.clientStatic)) {
        throw new Error("the QR's noise key is not the one its connection authenticated with");
    }
    return linkDevice(conn, ctx, {
        phone: String(phone),
        device,
        pushName,
        advSecret: scanned.advSecret,
        companionIdentity: scanned.identityKey
    });
}

async function linkDevice(conn, ctx, { phone, device, pushName, advSecret, companionIdentity }) {
    const { accounts, events, b } = ctx;
    const deviceId = device === undefined ? accounts.freeDeviceId(phone) : Number(device);
    if (!Number.isInteger(deviceId) || deviceId < 1 || accounts.findDevice(phone, deviceId)) {
        throw new Error(`device ${device} of ${phone} is not free`);
    }
    const phoneIdentity = accounts.phoneIdentity(phone);
    const keyIndex = accounts.nextKeyIndex(phone);
    const { deviceIdentity } = signDeviceIdentity(b, { advSecret, companionIdentity, phoneIdentity, keyIndex });
    const jid = deviceJid(phone, deviceId);
    const lid = deviceLid(accounts.lidUser(phone), deviceId);
    const answer = await conn.query({
        tag: 'iq',
        attrs: { type: 'set', xmlns: 'md', t: unixNow() },
        content: [
            {
                tag: 'pair-success',
                attrs: {},
                content: [
                    { tag: 'device-identity', attrs: { 'key-index': String(keyIndex) }, content: deviceIdentity },
                    { tag: 'platform', attrs: { name: 'android' } },
                    { tag: 'device', attrs: { jid, lid } }
                ]
            }
        ]
    });
    const signed = bytes(child(child(answer, 'pair-device-sign'), 'device-identity'));
    if (answer.attrs.type !== 'result' || !signed) {
        throw new Error(`the companion did not sign the pairing (${answer.attrs.type})`);
    }
    checkDeviceSignature(b, signed, { companionIdentity, phoneIdentity });
    const registration = conn.pairing?.registration ?? {};
    const record = accounts.addDevice({
        phone,
        device: deviceId,
        jid,
        lid,
        pushName,
        noiseKey: conn.clientStatic,
        companionIdentity,
        keyIndex,
        registrationId: registration.eRegid ? Buffer.from(registration.eRegid).readUIntBE(0, registration.eRegid.length) : undefined,
        signedPreKey: registration.eSkeyVal
            ? {
                  id: Buffer.from(registration.eSkeyId).readUIntBE(0, registration.eSkeyId.length),
                  public: Buffer.from(registration.eSkeyVal),
                  signature: Buffer.from(registration.eSkeySig)
              }
            : undefined,
        preKeys: new Map()
    });
    accounts.forgetRefsOf(conn);
    events.emit('paired', { conn: conn.id, jid, lid });
    conn.sendAndClose(streamError(RESTART_REQUIRED));
    return { jid: record.jid, lid: record.lid };
}

/** `md` iq `link_code_companion_reg`, stage companion_hello: the companion asks to pair by code. */
export function acceptCodeRequest(iq, ctx) {
    const { conn, accounts, events } = ctx;
    const request = child(iq, 'link_code_companion_reg');
    const phone = String(request.attrs.jid ?? '').split('@')[0];
    const wrappedEphemeral = bytes(child(request, 'link_code_pairing_wrapped_companion_ephemeral_pub'));
    const noiseKey = bytes(child(request, 'companion_server_auth_key_pub'));
    if (!phone || !wrappedEphemeral || wrappedEphemeral.length !== 80 || !noiseKey) {
        throw new Error('link_code_companion_reg without jid, wrapped ephemeral key or noise key');
    }
    if (!noiseKey.equals(conn.clientStatic)) {
        throw new Error("the pairing request's noise key is not its connection's");
    }
    const ref = accounts.issueRef(conn);
    accounts.linkCodes.set(phone, { conn, ref, wrappedEphemeral });
    events.emit('pairing-code-requested', { conn: conn.id, phone });
    return [
        {
            tag: 'link_code_companion_reg',
            attrs: {},
            content: [{ tag: 'link_code_pairing_ref', attrs: {}, content: Buffer.from(ref) }]
        }
    ];
}

/** The `enter-code` command: the phone's user types the code the companion showed. */
export async function enterCode(ctx, { code, phone }) {
    const { accounts, b } = ctx;
    if (typeof code !== 'string' || code.length !== 8) {
        throw new Error('enter-code needs the 8-character "code"');
    }
    const pending = [...accounts.linkCodes.entries()].filter(([p, r]) => (phone === undefined || p === String(phone)) && !r.conn.closed);
    if (pending.length !== 1) {
        throw new Error(`${pending.length} pairing-code requests match; name the "phone"`);
    }
    const [number, request] = pending[0];
    request.companionEphemeral = await unwrapWithCode(b, code, request.wrappedEphemeral);
    request.primaryEphemeral = b.Curve.generateKeyPair();
    const phoneIdentity = accounts.phoneIdentity(number);
    request.conn.send({
        tag: 'notification',
        attrs: { from: S_WHATSAPP_NET, type: 'link_code_companion_reg', id: request.conn.generateId(), t: unixNow() },
        content: [
            {
                tag: 'link_code_companion_reg',
                attrs: { stage: 'primary_hello' },
                content: [
                    { tag: 'link_code_pairing_ref', attrs: {}, content: Buffer.from(request.ref) },
                    { tag: 'primary_identity_pub', attrs: {}, content: phoneIdentity.public },
                    {
                        tag: 'link_code_pairing_wrapped_primary_ephemeral_pub',
                        attrs: {},
                        content: await wrapWithCode(b, code, request.primaryEphemeral.public)
                    }
                ]
            }
        ]
    });
    return { phone: number };
}

/** `md` iq `link_code_companion_reg`, stage companion_finish: derive the adv secret, then link. */
export function finishCodeRequest(iq, ctx) {
    const { conn, accounts, events, b } = ctx;
    const finish = child(iq, 'link_code_companion_reg');
    const phone = String(finish.attrs.jid ?? '').split('@')[0];
    const request = accounts.linkCodes.get(phone);
    if (!request || request.conn !== conn || !request.primaryEphemeral) {
        throw new Error(`no code pairing of ${phone} is waiting for companion_finish on this connection`);
    }
    const ref = bytes(child(finish, 'link_code_pairing_ref'))?.toString();
    if (ref !== request.ref) {
        throw new Error('companion_finish names another pairing ref');
    }
    const companionIdentity = bytes(child(finish, 'companion_identity_public'));
    const advSecret = finishCodePairing(b, {
        wrappedBundle: bytes(child(finish, 'link_code_pairing_wrapped_key_bundle')),
        companionIdentity,
        companionEphemeral: request.companionEphemeral,
        primaryEphemeral: request.primaryEphemeral,
        phoneIdentity: accounts.phoneIdentity(phone)
    });
    accounts.linkCodes.delete(phone);
    // the answer goes first; the phone then confirms the link
    setImmediate(() => {
        linkDevice(conn, ctx, { phone, advSecret, companionIdentity }).catch(error =>
            events.emit('pairing-failed', { conn: conn.id, phone, error: error.message })
        );
    });
    return undefined;
}
