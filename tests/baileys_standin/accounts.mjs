// What the stand-in's "WhatsApp" knows: the linked companion devices (by JID), the QR refs handed out to
// connections that are registering, and pairing-code requests waiting for the phone to enter the code.
// Everything is in memory for one run of the stand-in.
import { seededBytes } from './keys.mjs';

export class Accounts {
    constructor(seed, keys) {
        this.seed = seed;
        this.keys = keys;
        this.devices = new Map(); // "phone:device@s.whatsapp.net" -> device record
        this.refs = new Map(); // QR ref -> registering connection
        this.linkCodes = new Map(); // phone -> pending pairing-code request
        this.refCount = 0;
        this.keyIndexes = new Map(); // phone -> last key index handed out
    }

    /** A new QR ref for `conn` ("2@" + base64, like WhatsApp's). */
    issueRef(conn) {
        const ref = `2@${seededBytes(this.seed, `ref:${this.refCount++}`, 24).toString('base64')}`;
        this.refs.set(ref, conn);
        return ref;
    }

    forgetRefsOf(conn) {
        for (const [ref, owner] of this.refs) {
            if (owner === conn) {
                this.refs.delete(ref);
            }
        }
        for (const [phone, request] of this.linkCodes) {
            if (request.conn === conn) {
                this.linkCodes.delete(phone);
            }
        }
    }

    /** The account's identity key pair, as its phone holds it (the same for all its devices). */
    phoneIdentity(phone) {
        return this.keys(`phone-identity:${phone}`);
    }

    /** The account's LID user: a stable, seeded 15-digit number per phone number. */
    lidUser(phone) {
        const n = seededBytes(this.seed, `lid:${phone}`, 8).readBigUInt64BE() % 10n ** 14n;
        return `1${n.toString().padStart(14, '0')}`;
    }

    nextKeyIndex(phone) {
        const index = (this.keyIndexes.get(phone) ?? 0) + 1;
        this.keyIndexes.set(phone, index);
        return index;
    }

    /** The lowest free companion device id of `phone` (0 is the phone itself). */
    freeDeviceId(phone) {
        let device = 1;
        while (this.devices.has(deviceJid(phone, device))) {
            device++;
        }
        return device;
    }

    addDevice(record) {
        this.devices.set(record.jid, record);
        return record;
    }

    findDevice(phone, device) {
        return this.devices.get(deviceJid(phone, device));
    }
}

export function deviceJid(phone, device) {
    return `${phone}:${device}@s.whatsapp.net`;
}

export function deviceLid(lidUser, device) {
    return `${lidUser}:${device}@lid`;
}
