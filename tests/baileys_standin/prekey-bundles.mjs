// The `encrypt` get `key` iq: the prekey bundles a client needs to open Signal sessions with devices it
// has no session with (messages-send.js assertSessions; Utils/signal.js parseAndInjectE2ESessions).
//
//   <key><user jid="…" reason?="identity"/>…</key>  →
//   <list><user jid><registration 4B/><type>05</type><identity 32B/>
//         <skey><id 3B/><value/><signature/></skey><key><id 3B/><value/></key>?</user>…</list>
//
// With LID mappings known Baileys asks for the LID JIDs. A device the stand-in holds keys for gives up one
// of its one-time prekeys per bundle; a linked companion gives up one it uploaded. A device nobody knows
// gets <error code="404"/> in its <user>, which makes Baileys abort the whole send (assertNodeErrorFree).
import { child, children } from './stanzas.mjs';

function uintBytes(value, length) {
    const out = Buffer.alloc(length);
    out.writeUIntBE(value, 0, length);
    return out;
}

const node = (tag, content) => ({ tag, attrs: {}, content });

function bundleNode(jid, { registrationId, identity, signedPreKey, preKey }) {
    const content = [
        node('registration', uintBytes(registrationId ?? 0, 4)),
        node('type', Buffer.from([5])),
        node('identity', identity),
        node('skey', [
            node('id', uintBytes(signedPreKey.id, 3)),
            node('value', signedPreKey.public),
            node('signature', signedPreKey.signature)
        ])
    ];
    if (preKey) {
        content.push(node('key', [node('id', uintBytes(preKey.id, 3)), node('value', preKey.public)]));
    }
    return { tag: 'user', attrs: { jid }, content };
}

/** A linked companion's bundle from what it uploaded (iq-handlers.mjs preKeyUpload); uses up a prekey. */
export function companionBundle(device) {
    const [preKeyId, preKeyPublic] = device.preKeys.entries().next().value ?? [];
    if (preKeyId !== undefined) {
        device.preKeys.delete(preKeyId);
    }
    return {
        registrationId: device.registrationId,
        identity: device.companionIdentity,
        signedPreKey: device.signedPreKey,
        preKey: preKeyId === undefined ? undefined : { id: preKeyId, public: preKeyPublic }
    };
}

/** `withhold-bundles {phones}`: these users' bundles are left out of every answer from now on (no error
 * either), so Baileys has no session for their devices and cannot encrypt for them: the path where it
 * drops a recipient and only logs it (messages-send.js createParticipantNodes). `{phones: []}` ends it. */
export function withholdBundles({ phones }, ctx) {
    ctx.withheldBundles = new Set((phones ?? []).map(String));
    return { withheld: [...ctx.withheldBundles] };
}

/** encrypt/key */
export function preKeyBundles(iq, ctx) {
    const served = [];
    const missing = [];
    const withheld = [];
    const asked = children(child(iq, 'key'), 'user').filter(({ attrs: { jid } }) => {
        const phone = ctx.users.resolve(jid)?.user.phone;
        if (phone !== undefined && ctx.withheldBundles?.has(phone)) {
            withheld.push(jid);
            return false;
        }
        return true;
    });
    const users = asked.map(({ attrs: { jid } }) => {
        const device = ctx.users.device(jid);
        const bundle = device?.held ? device.held.bundle() : device?.companion?.signedPreKey ? companionBundle(device.companion) : undefined;
        if (!bundle) {
            missing.push(jid);
            return { tag: 'user', attrs: { jid }, content: [{ tag: 'error', attrs: { code: '404', text: 'item-not-found' } }] };
        }
        served.push({ jid, of: device.held ? 'held' : 'companion', preKeyId: bundle.preKey?.id ?? null });
        return bundleNode(jid, bundle);
    });
    ctx.events.emit('prekey-bundles', { conn: ctx.conn.id, served, missing, withheld });
    return [{ tag: 'list', attrs: {}, content: users }];
}
