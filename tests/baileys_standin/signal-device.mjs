// One device of a WhatsApp user that is not us, as the stand-in plays it: its Signal keys (identity, a
// signed prekey, a batch of one-time prekeys, a registration id), the public half the server hands out as
// a prekey bundle, and the private half kept in memory so that what a client sends to the device can be
// decrypted with Baileys' own libsignal repository (Signal/libsignal.js, not exported by Baileys' index,
// hence loaded by path in baileys.mjs).
import { seededBytes } from './keys.mjs';

const ONE_TIME_PREKEYS = 20;
const SIGNED_PREKEY_ID = 1;

/** A Baileys SignalKeyStore in memory: `get(type, ids)`, `set({type: {id: value|null}})`, `transaction`. */
export function memoryKeyStore() {
    const data = new Map();
    const table = type => data.get(type) ?? data.set(type, new Map()).get(type);
    return {
        async get(type, ids) {
            const found = {};
            for (const id of ids) {
                const value = table(type).get(id);
                if (value !== undefined) {
                    found[id] = value;
                }
            }
            return found;
        },
        async set(changes) {
            for (const [type, entries] of Object.entries(changes)) {
                for (const [id, value] of Object.entries(entries)) {
                    if (value === null || value === undefined) {
                        table(type).delete(id);
                    } else {
                        table(type).set(id, value);
                    }
                }
            }
        },
        // one device's messages are decrypted one at a time (statuses.mjs), so there is nothing to isolate
        transaction: work => work()
    };
}

export class SignalDevice {
    /**
     * @param identity  the device's identity key pair (a phone's device 0 uses the account's phone
     *                  identity, the one that signed its companions' pairings)
     */
    constructor({ b, signal, keys, seed, jid, lid, identity }) {
        this.b = b;
        this.jid = jid;
        this.lid = lid;
        const label = `signal:${jid}`;
        this.identity = identity;
        this.registrationId = (seededBytes(seed, `${label}:registration`, 2).readUInt16BE() % 16380) + 1;
        const signedPair = keys(`${label}:signed-prekey`);
        this.signedPreKey = {
            keyId: SIGNED_PREKEY_ID,
            keyPair: signedPair,
            signature: b.Curve.sign(identity.private, b.generateSignalPubKey(signedPair.public))
        };
        this.store = memoryKeyStore();
        this.unserved = []; // one-time prekey ids the server has not handed out yet
        const preKeys = {};
        for (let id = 1; id <= ONE_TIME_PREKEYS; id++) {
            preKeys[id] = keys(`${label}:prekey:${id}`);
            this.unserved.push(id);
        }
        // (the store's set has nothing to wait for: the keys are in before it returns)
        void this.store.set({ 'pre-key': preKeys });
        this.preKeys = preKeys;
        const creds = { signedIdentityKey: identity, signedPreKey: this.signedPreKey, registrationId: this.registrationId };
        // no PN→LID lookups: the sender's address is given as it is
        this.repository = signal.makeLibSignalRepository({ creds, keys: this.store }, silentLogger, undefined);
    }

    /** The server's prekey bundle for this device (consumes a one-time prekey while there are some). */
    bundle() {
        const preKeyId = this.unserved.shift();
        return {
            registrationId: this.registrationId,
            identity: this.identity.public,
            signedPreKey: { id: this.signedPreKey.keyId, public: this.signedPreKey.keyPair.public, signature: this.signedPreKey.signature },
            preKey: preKeyId === undefined ? undefined : { id: preKeyId, public: this.preKeys[preKeyId].public }
        };
    }

    /** A pkmsg/msg from `senderJid` → the proto.Message it carried. */
    async decryptDirect(senderJid, type, ciphertext) {
        const padded = await this.repository.decryptMessage({ jid: senderJid, type, ciphertext });
        return this.b.proto.Message.decode(this.b.unpadRandomMax16(padded));
    }

    async acceptSenderKey(senderJid, distribution) {
        await this.repository.processSenderKeyDistributionMessage({ item: distribution, authorJid: senderJid });
    }

    /** An skmsg of `group` from `senderJid` → the proto.Message. */
    async decryptGroup(group, senderJid, ciphertext) {
        const padded = await this.repository.decryptGroupMessage({ group, authorJid: senderJid, msg: ciphertext });
        return this.b.proto.Message.decode(this.b.unpadRandomMax16(padded));
    }
}

const silentLogger = {
    level: 'silent',
    child: () => silentLogger,
    trace() {},
    debug() {},
    info() {},
    warn() {},
    error() {}
};
