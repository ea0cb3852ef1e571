// App state (syncd) of the accounts: the address book the phone keeps in its `critical_unblock_low`
// collection (contactAction mutations, index ["contact", "<PN jid>"]), as patches whose mutations are
// Baileys' own encodeSyncdPatch output, so that Baileys' decodePatches checks real MACs and LT hashes
// against the key the phone shared (phone-messages.mjs).
//
// What the server does with it (Socket/chats.js resyncAppState): a `w:sync:app:state` set `sync` asks
// for collections from a version; the answer holds the patches after it. The stand-in never answers a
// snapshot: Baileys fetches a snapshot from the media host (an ExternalBlobReference, chat-utils.js
// extractSyncdPatches), which the stand-in does not run, so a collection from version 0 gets every
// patch from 1 instead. A change is announced to a keyed, connected companion by
// `<notification type="server_sync"><collection name version/></notification>`, which makes Baileys ask.
import { seededBytes } from './keys.mjs';
import { child, children, IqError, unixNow } from './stanzas.mjs';

export const CONTACTS_COLLECTION = 'critical_unblock_low';
/** The collections Baileys knows (Types/Chat.js ALL_WA_PATCH_NAMES); the stand-in has data in one. */
const COLLECTIONS = new Set(['critical_block', 'critical_unblock_low', 'regular_high', 'regular_low', 'regular']);
/** chat-utils.js chatModificationToAppPatch writes contacts with apiVersion 2 */
const CONTACT_API_VERSION = 2;

function digits(phone, what) {
    const text = String(phone ?? '').replace(/^\+/, '');
    if (!/^\d{6,15}$/.test(text)) {
        throw new Error(`${what} is a phone number of digits, not ${JSON.stringify(phone)}`);
    }
    return text;
}

export function makeAppState(ctx) {
    const { b, accounts, events } = ctx;
    const { encodeSyncdPatch, newLTHashState, proto } = b;
    // account phone -> { contacts: Map(phone -> contactAction), in the book's order; state: the LT hash
    // state after the last patch; patches: the encoded SyncdPatch of version i + 1 at index i }
    const books = new Map();
    const keyed = new Map(); // companion JID the phone shared the app-state key with -> version last announced

    /** The account's app-state sync key, as its phone holds it (seeded per phone). */
    function syncKey(phone) {
        return {
            keyId: seededBytes(accounts.seed, `app-state-key-id:${phone}`, 6),
            keyData: seededBytes(accounts.seed, `app-state-key:${phone}`, 32),
            // a fixed time: the key is the same for every run with the same seed
            timestamp: 1764806400000
        };
    }

    function bookOf(phone) {
        if (!books.has(phone)) {
            books.set(phone, { contacts: new Map(), state: newLTHashState(), patches: [] });
        }
        return books.get(phone);
    }

    /**
     * The mutation keys of an app-state key: HKDF-SHA256 of its key data, 160 bytes, info "WhatsApp
     * Mutation Keys", cut in five (what whatsapp-rust-bridge's expandAppStateKeys gives Baileys).
     */
    function mutationKeys(keyData) {
        const expanded = Buffer.from(b.hkdf(keyData, 160, { info: 'WhatsApp Mutation Keys' }));
        const [indexKey, valueEncryptionKey, valueMacKey, snapshotMacKey, patchMacKey] = [0, 1, 2, 3, 4].map(i => expanded.subarray(i * 32, i * 32 + 32));
        return { indexKey, valueEncryptionKey, valueMacKey, snapshotMacKey, patchMacKey };
    }

    function u64(version) {
        const out = Buffer.alloc(8);
        out.writeBigUInt64BE(BigInt(version));
        return out;
    }

    /**
     * One patch of `changes` ([{contactPhone, contactAction, operation}]) on the book's collection. Each
     * mutation is encoded by Baileys' encodeSyncdPatch (its record, and the LT hash moved by it); the patch
     * that holds them all gets the next version and its own snapshot and patch MACs, as chat-utils.js
     * decodePatches checks them.
     */
    async function addPatch(phone, book, changes) {
        const key = syncKey(phone);
        const keyId = key.keyId.toString('base64');
        const keys = mutationKeys(key.keyData);
        let state = book.state;
        const mutations = [];
        for (const { contactPhone, contactAction, operation } of changes) {
            const encoded = await encodeSyncdPatch(
                {
                    type: CONTACTS_COLLECTION,
                    index: ['contact', `${contactPhone}@s.whatsapp.net`],
                    syncAction: { timestamp: Date.now(), contactAction },
                    apiVersion: CONTACT_API_VERSION,
                    operation
                },
                keyId,
                state,
                async id => (id === keyId ? { keyData: key.keyData } : undefined)
            );
            const mutation = encoded.patch.mutations[0];
            state = encoded.state;
            if (operation === proto.SyncdMutation.SyncdOperation.REMOVE) {
                // rc14's encodeSyncdPatch records a REMOVE's index as present again; Baileys' decoder (and
                // the next LT hash subtraction) must not see it
                delete state.indexValueMap[Buffer.from(mutation.record.index.blob).toString('base64')];
            }
            mutations.push(mutation);
        }
        // encodeSyncdPatch counted one version per mutation: the patch is one version
        state = { ...state, version: book.state.version + 1 };
        const valueMacs = mutations.map(m => Buffer.from(m.record.value.blob).subarray(-32));
        const name = Buffer.from(CONTACTS_COLLECTION);
        const snapshotMac = b.hmacSign(Buffer.concat([state.hash, u64(state.version), name]), keys.snapshotMacKey, 'sha256');
        const patchMac = b.hmacSign(Buffer.concat([snapshotMac, ...valueMacs, u64(state.version), name]), keys.patchMacKey);
        const patch = { version: { version: state.version }, mutations, snapshotMac, patchMac, keyId: { id: key.keyId } };
        book.state = state;
        book.patches.push(Buffer.from(proto.SyncdPatch.encode(patch).finish()));
    }

    /**
     * `contacts`: sets entries ({phone, fullName?, firstName?, lidJid?}: new ones appended in the order
     * given, known ones replaced) and removes phones, in one patch (or in patches of `mutationsPerPatch`
     * mutations); then tells the account's keyed, connected companions → {version, contacts, told}.
     * `removeValue`: what a REMOVE mutation's value carries — "empty" (an empty contactAction, the
     * default) or "previous" (the removed entry's names). Which a real phone sends is not known here.
     */
    async function setContacts({ phone, entries = [], remove = [], removeValue = 'empty', mutationsPerPatch }) {
        const account = digits(phone, 'contacts: "phone" (our account)');
        if (!['empty', 'previous'].includes(removeValue)) {
            throw new Error(`contacts: "removeValue" is "empty" or "previous", not ${JSON.stringify(removeValue)}`);
        }
        const book = bookOf(account);
        const from = book.state.version;
        const { SET, REMOVE } = proto.SyncdMutation.SyncdOperation;
        const changes = [];
        const contacts = new Map(book.contacts);
        for (const entry of entries) {
            const contactPhone = digits(entry?.phone, 'a contact\'s "phone"');
            if (!entry.fullName && !entry.firstName) {
                throw new Error(`contacts: the entry of ${contactPhone} needs a "fullName" or a "firstName"`);
            }
            const contactAction = {};
            for (const field of ['fullName', 'firstName', 'lidJid']) {
                if (entry[field]) {
                    contactAction[field] = String(entry[field]);
                }
            }
            changes.push({ contactPhone, contactAction, operation: SET });
            contacts.set(contactPhone, contactAction);
        }
        for (const gone of remove) {
            const contactPhone = digits(gone, 'a phone to remove');
            const known = contacts.get(contactPhone);
            if (!known) {
                throw new Error(`contacts: ${contactPhone} is not in the address book of ${account}`);
            }
            changes.push({ contactPhone, contactAction: removeValue === 'previous' ? known : {}, operation: REMOVE });
            contacts.delete(contactPhone);
        }
        const size = mutationsPerPatch === undefined ? Math.max(changes.length, 1) : Number(mutationsPerPatch);
        if (!Number.isInteger(size) || size < 1) {
            throw new Error(`contacts: "mutationsPerPatch" is a whole number from 1, not ${JSON.stringify(mutationsPerPatch)}`);
        }
        for (let at = 0; at < changes.length; at += size) {
            await addPatch(account, book, changes.slice(at, at + size));
        }
        book.contacts = contacts;
        const told = book.state.version > from ? announce(account) : 0;
        return { version: book.state.version, contacts: book.contacts.size, told };
    }

    /** server_sync to every open connection of a companion of `phone` that has the key → how many. */
    function announce(phone) {
        const version = String(bookOf(phone).state.version);
        let told = 0;
        for (const conn of ctx.connections.values()) {
            if (conn.device?.phone === phone && keyed.has(conn.device.jid) && !conn.closed) {
                keyed.set(conn.device.jid, Number(version));
                conn.send({
                    tag: 'notification',
                    attrs: { from: 's.whatsapp.net', type: 'server_sync', id: conn.generateId(), t: unixNow() },
                    content: [{ tag: 'collection', attrs: { name: CONTACTS_COLLECTION, version } }]
                });
                told++;
            }
        }
        events.emit('server-sync', { phone, collection: CONTACTS_COLLECTION, version: Number(version), told });
        return told;
    }

    /**
     * The phone shared the key with `jid`: from now on its changes are announced to it, and a book that
     * is not empty is announced `delayMs` later (→ whether it will be). Baileys stores the key in its
     * message handler and answers a server_sync in its notification handler, which run side by side: a
     * server_sync that comes first finds no key, and the collection is parked until the key lands
     * (chats.js blockedCollections), then fetched again — which works, but splits the events.
     */
    function keyShared(jid, phone, delayMs) {
        keyed.set(jid, keyed.get(jid) ?? 0);
        if (!bookOf(phone).patches.length || delayMs === null) {
            return false;
        }
        setTimeout(() => announce(phone), delayMs);
        return true;
    }

    /**
     * A keyed companion logs in after changes it was not told of (it was offline): the server tells it
     * now, after its `<ib><offline count="0"/>` — as a live notification, not as an offline one.
     */
    function onLogin(conn) {
        const device = conn.device;
        if (keyed.has(device.jid) && bookOf(device.phone).state.version > keyed.get(device.jid)) {
            announce(device.phone);
        }
    }

    /** w:sync:app:state / sync: the patches after each asked collection's version. */
    function answerSync(iq, { conn }) {
        const device = conn.device;
        if (!device) {
            throw new IqError(401, 'not-authorized');
        }
        const asked = [];
        const collections = children(child(iq, 'sync'), 'collection').map(collection => {
            const { attrs } = collection;
            if (!COLLECTIONS.has(attrs.name)) {
                throw new IqError(400, `unknown collection ${attrs.name}`);
            }
            if (children(collection, 'patch').length) {
                // a client's own change (chats.js appPatch: chatModify, addOrEditContact…): not built
                throw new IqError(501, `app-state patches from a client (${attrs.name}) are not built`);
            }
            const since = Number(attrs.version ?? 0);
            const patches = attrs.name === CONTACTS_COLLECTION ? bookOf(device.phone).patches.slice(since) : [];
            const version = since + patches.length;
            asked.push({ name: attrs.name, since, snapshot: attrs.return_snapshot === 'true', patches: patches.length });
            const content = patches.length ? [{ tag: 'patches', attrs: {}, content: patches.map(p => ({ tag: 'patch', attrs: {}, content: p })) }] : undefined;
            return { tag: 'collection', attrs: { name: attrs.name, version: String(version), has_more_patches: 'false' }, ...(content ? { content } : {}) };
        });
        events.emit('app-state-sync', { conn: conn.id, jid: device.jid, collections: asked });
        return [{ tag: 'sync', attrs: {}, content: collections }];
    }

    return { syncKey, setContacts, keyShared, onLogin, answerSync };
}
