// The WhatsApp users the stand-in knows besides the linked companions (accounts.mjs): users registered by
// a test (`register`), and the phones of the accounts that linked a companion. Each has a phone number,
// usually a LID, and devices; the stand-in holds the Signal keys of every such device (signal-device.mjs)
// so it can decrypt what a client sends them. An account's linked companions are listed with its devices
// too, but their private keys live in their Baileys client: the stand-in serves their uploaded prekeys
// and cannot decrypt for them.
import { SignalDevice } from './signal-device.mjs';

const PN_SERVER = 's.whatsapp.net';
const LID_SERVER = 'lid';

/** A device as Baileys addresses it: device 0 has no ":0" (jidEncode leaves a falsy device out). */
export function userJid(user, server, device = 0) {
    return device ? `${user}:${device}@${server}` : `${user}@${server}`;
}

export class Users {
    constructor({ b, signal, keys, seed, accounts }) {
        this.deps = { b, signal, keys, seed };
        this.accounts = accounts;
        this.registered = new Map(); // phone -> user
        this.phonesOfAccounts = new Map(); // phone -> user made for an account's phone, once asked for
    }

    /** `register`: a user of WhatsApp who is not us, with the devices (ids) given. */
    register({ phone, devices = [0], lid = true }) {
        phone = String(phone ?? '').replace(/^\+/, '');
        if (!/^\d{6,15}$/.test(phone)) {
            throw new Error(`register needs a phone number of digits, not ${JSON.stringify(phone)}`);
        }
        const ids = [...new Set(devices.map(Number))].sort((x, y) => x - y);
        if (!ids.length || ids.some(id => !Number.isInteger(id) || id < 0 || id > 98)) {
            throw new Error(`register: device ids are integers 0..98, not ${JSON.stringify(devices)}`);
        }
        const taken = ids.filter(id => id > 0 && this.accounts.findDevice(phone, id));
        if (taken.length) {
            throw new Error(`devices ${taken} of ${phone} are linked companions`);
        }
        const lidUser = lid ? this.accounts.lidUser(phone) : null;
        const known = this.registered.get(phone);
        // the same registration again keeps the devices' Signal state (their sessions with senders)
        const same = known && known.lid === lidUser && [...known.held.keys()].join() === ids.join();
        const user = same ? known : this.makeUser(phone, ids, lidUser);
        this.registered.set(phone, user);
        this.phonesOfAccounts.delete(phone);
        return { jid: userJid(phone, PN_SERVER), lid: user.lid ? userJid(user.lid, LID_SERVER) : null, devices: [...user.held.values()].map(d => d.jid) };
    }

    makeUser(phone, ids, lidUser) {
        const { keys } = this.deps;
        const held = new Map();
        for (const id of ids) {
            // device 0 is the phone: its identity is the account's, the one that signs its pairings
            const identity = id === 0 ? this.accounts.phoneIdentity(phone) : keys(`device-identity:${phone}:${id}`);
            const jid = userJid(phone, PN_SERVER, id);
            const lid = lidUser ? userJid(lidUser, LID_SERVER, id) : null;
            held.set(id, new SignalDevice({ ...this.deps, jid, lid, identity }));
        }
        return { phone, lid: lidUser, held };
    }

    companionsOf(phone) {
        return [...this.accounts.devices.values()].filter(d => d.phone === phone);
    }

    /** The user with this phone number: registered, or the phone of an account with linked companions. */
    byPhone(phone) {
        const registered = this.registered.get(phone);
        if (registered) {
            return registered;
        }
        if (!this.companionsOf(phone).length) {
            return undefined;
        }
        if (!this.phonesOfAccounts.has(phone)) {
            this.phonesOfAccounts.set(phone, this.makeUser(phone, [0], this.accounts.lidUser(phone)));
        }
        return this.phonesOfAccounts.get(phone);
    }

    byLid(lidUser) {
        for (const user of this.registered.values()) {
            if (user.lid === lidUser) {
                return user;
            }
        }
        const linkedPhones = new Set([...this.accounts.devices.values()].map(d => d.phone));
        const phone = [...linkedPhones].find(p => this.accounts.lidUser(p) === lidUser);
        return phone === undefined ? undefined : this.byPhone(phone);
    }

    /** `jid` (PN or LID, with or without a device) → { user, device, server } or undefined. */
    resolve(jid) {
        const decoded = this.deps.b.jidDecode(jid);
        if (!decoded?.user) {
            return undefined;
        }
        const user = decoded.server === LID_SERVER ? this.byLid(decoded.user) : decoded.server === PN_SERVER ? this.byPhone(decoded.user) : undefined;
        return user && { user, device: decoded.device ?? 0, server: decoded.server };
    }

    /**
     * The user's devices, as usync lists them: the ones the stand-in holds keys for (no key index for
     * the phone, device 0; the id as key index otherwise), then the account's linked companions with the
     * key index of their pairing.
     */
    devicesOf(user) {
        const held = [...user.held.keys()].map(id => ({ id, keyIndex: id === 0 ? undefined : id }));
        const companions = this.companionsOf(user.phone).map(d => ({ id: d.device, keyIndex: d.keyIndex }));
        return [...held, ...companions].sort((x, y) => x.id - y.id);
    }

    /** The device `jid` names: { held: SignalDevice } or { companion: linked device record }, or undefined. */
    device(jid) {
        const found = this.resolve(jid);
        if (!found) {
            return undefined;
        }
        const held = found.user.held.get(found.device);
        if (held) {
            return { held };
        }
        const companion = found.device > 0 ? this.accounts.findDevice(found.user.phone, found.device) : undefined;
        return companion ? { companion } : undefined;
    }
}
