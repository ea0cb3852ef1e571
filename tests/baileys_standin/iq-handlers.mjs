// Answers to the iqs a client sends, keyed "<xmlns>/<first child's tag>".
//
// A handler gets (iq, ctx) — ctx: { conn, accounts, users, events, b } — and returns the result's content
// (undefined: an empty result), or throws IqError for an error answer. An iq with no handler is answered
// `error 501` and reported (`"handled": false`), so a test that reaches an unbuilt path fails loudly
// instead of being fed a made-up answer. usync (usync.mjs) and prekey bundles (prekey-bundles.mjs) have
// modules of their own; media_conn is media-host.mjs's; app state… is still to come.
import { acceptCodeRequest, finishCodeRequest } from './pairing.mjs';
import { preKeyBundles } from './prekey-bundles.mjs';
import { bytes, child, children, IqError } from './stanzas.mjs';
import { usync } from './usync.mjs';

export { IqError };

function loggedInDevice(ctx) {
    if (!ctx.conn.device) {
        throw new IqError(401, 'not-authorized');
    }
    return ctx.conn.device;
}

function readUInt(buffer) {
    return buffer ? buffer.readUIntBE(0, buffer.length) : undefined;
}

function readPreKey(node) {
    return { id: readUInt(bytes(child(node, 'id'))), public: bytes(child(node, 'value')), signature: bytes(child(node, 'signature')) };
}

/** encrypt/get count: how many one-time prekeys of this device the server holds. */
function preKeyCount(_iq, ctx) {
    return [{ tag: 'count', attrs: { value: String(loggedInDevice(ctx).preKeys.size) } }];
}

/** encrypt/set: the device uploads its identity, signed prekey and a batch of one-time prekeys. */
function preKeyUpload(iq, ctx) {
    const device = loggedInDevice(ctx);
    device.registrationId = readUInt(bytes(child(iq, 'registration')));
    device.companionIdentity = bytes(child(iq, 'identity')) ?? device.companionIdentity;
    for (const key of children(child(iq, 'list'), 'key')) {
        const preKey = readPreKey(key);
        device.preKeys.set(preKey.id, preKey.public);
    }
    device.signedPreKey = readPreKey(child(iq, 'skey'));
    ctx.events.emit('prekeys-uploaded', { conn: ctx.conn.id, jid: device.jid, count: device.preKeys.size });
}

/** encrypt/get digest: the server's view of the device's key bundle (Baileys only checks it is there). */
function keyBundleDigest(_iq, ctx) {
    const device = loggedInDevice(ctx);
    const registration = Buffer.alloc(4);
    registration.writeUInt32BE(device.registrationId ?? 0);
    return [
        {
            tag: 'digest',
            attrs: {},
            content: [
                { tag: 'registration', attrs: {}, content: registration },
                { tag: 'type', attrs: {}, content: Buffer.from([5]) },
                { tag: 'identity', attrs: {}, content: device.companionIdentity },
                {
                    tag: 'list',
                    attrs: {},
                    content: [...device.preKeys.keys()].map(id => {
                        const encoded = Buffer.alloc(3);
                        encoded.writeUIntBE(id, 0, 3);
                        return { tag: 'id', attrs: {}, content: encoded };
                    })
                }
            ]
        }
    ];
}

/** encrypt/set rotate: a new signed prekey. */
function rotateSignedPreKey(iq, ctx) {
    loggedInDevice(ctx).signedPreKey = readPreKey(child(child(iq, 'rotate'), 'skey'));
}

/** md/set link_code_companion_reg: the two companion stages of pairing by code. */
function linkCodeStage(iq, ctx) {
    const stage = child(iq, 'link_code_companion_reg').attrs.stage;
    if (stage === 'companion_hello') {
        return acceptCodeRequest(iq, ctx);
    }
    if (stage === 'companion_finish') {
        return finishCodeRequest(iq, ctx);
    }
    throw new IqError(400, `unknown link_code_companion_reg stage ${stage}`);
}

/** md/set remove-companion-device: logout; the device is forgotten. */
function removeCompanion(iq, ctx) {
    const jid = child(iq, 'remove-companion-device').attrs.jid;
    ctx.accounts.devices.delete(jid);
    ctx.events.emit('device-removed', { conn: ctx.conn.id, jid });
}

const PRIVACY = { last: 'all', online: 'all', profile: 'all', status: 'contacts', readreceipts: 'all', groupadd: 'all', calladd: 'all' };

const nothing = () => undefined;

export const IQ_HANDLERS = {
    'encrypt/count': preKeyCount,
    'encrypt/registration': preKeyUpload,
    'encrypt/digest': keyBundleDigest,
    'encrypt/rotate': rotateSignedPreKey,
    'encrypt/key': preKeyBundles,
    'usync/usync': usync,
    // app-state.mjs: the patches of the account's collections
    'w:sync:app:state/sync': (iq, ctx) => ctx.appState.answerSync(iq, ctx),
    'passive/active': nothing,
    'passive/passive': nothing,
    'w:p/ping': nothing,
    'w:stats/add': nothing,
    'abt/props': () => [{ tag: 'props', attrs: { protocol: '1', hash: 'standin-props-1' } }],
    'blocklist/': () => [{ tag: 'list', attrs: {} }],
    'privacy/privacy': () => [
        {
            tag: 'privacy',
            attrs: {},
            content: Object.entries(PRIVACY).map(([name, value]) => ({ tag: 'category', attrs: { name, value } }))
        }
    ],
    'md/link_code_companion_reg': linkCodeStage,
    'md/remove-companion-device': removeCompanion,
    'w:m/media_conn': (_iq, ctx) => ctx.media.mediaConn()
};
