// Curve25519 key pairs for the stand-in's long-lived identities (test root, intermediate, server static,
// fake phones), derived from a seed so that a run can be repeated; without a seed they are random.
//
// Key pairs have Baileys' shape: { private: 32 bytes, public: 32 bytes (no 0x05 type byte) }, so Baileys'
// `Curve.sign`/`Curve.sharedKey` take them as they are. Per-connection ephemerals stay random: only the
// client's own randomness would make a handshake unrepeatable anyway.
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';

// PKCS#8 DER header of a raw X25519 private key (RFC 8410)
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

function clamp(scalar) {
    const key = Buffer.from(scalar);
    key[0] &= 248;
    key[31] &= 127;
    key[31] |= 64;
    return key;
}

export function keyPairFromPrivate(privateKey) {
    const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
    const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
    return { private: Buffer.from(privateKey), public: Buffer.from(spki.subarray(spki.length - 32)) };
}

/** Deterministic bytes for `label` under `seed`; random bytes when there is no seed. */
export function seededBytes(seed, label, length = 32) {
    if (seed === undefined || seed === null) {
        return randomBytes(length);
    }
    const out = [];
    for (let block = 0; Buffer.concat(out).length < length; block++) {
        out.push(createHash('sha256').update(`${seed}\0${label}\0${block}`).digest());
    }
    return Buffer.concat(out).subarray(0, length);
}

/** `(label) => keyPair`: the same label under the same seed gives the same key pair. */
export function makeKeySource(seed) {
    return label => keyPairFromPrivate(clamp(seededBytes(seed, `key:${label}`)));
}
