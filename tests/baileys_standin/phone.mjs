// The fake phone's cryptography: what the primary device computes when it links a companion, by QR or
// by pairing code. Pure functions over Baileys' primitives; pairing.mjs drives them over a connection.
//
// Linking gives the companion an ADVSignedDeviceIdentityHMAC (validate-connection.js,
// configureSuccessfulPairing): HMAC-SHA256 under the adv secret over an ADVSignedDeviceIdentity, whose
// account signature is the phone's identity key signing [6, 0] + device details + the companion's
// identity key. The companion answers with its device signature over [6, 1] + details + its identity key
// + the phone's identity key.
import { randomBytes, randomInt } from 'node:crypto';

const QR_PREFIX = 'https://wa.me/settings/linked_devices#';

/** The QR Baileys shows: `<prefix>ref,noiseKeyB64,identityKeyB64,advSecretB64,platformId`. */
export function parseQr(qr) {
    const text = qr.startsWith(QR_PREFIX) ? qr.slice(QR_PREFIX.length) : qr;
    const [ref, noiseKey, identityKey, advSecret, platformId] = text.split(',');
    if (!ref || !noiseKey || !identityKey || !advSecret) {
        throw new Error('not a WhatsApp linking QR (want ref,noiseKey,identityKey,advSecret[,platform])');
    }
    return {
        ref,
        noiseKey: Buffer.from(noiseKey, 'base64'),
        identityKey: Buffer.from(identityKey, 'base64'),
        advSecret: Buffer.from(advSecret, 'base64'),
        platformId
    };
}

/** The `device-identity` bytes of a pair-success, and the device details the companion signs. */
export function signDeviceIdentity(b, { advSecret, companionIdentity, phoneIdentity, keyIndex }) {
    const { proto, Curve, hmacSign, WA_ADV_ACCOUNT_SIG_PREFIX } = b;
    const deviceDetails = Buffer.from(
        proto.ADVDeviceIdentity.encode({
            rawId: randomInt(1, 2 ** 31),
            timestamp: Math.floor(Date.now() / 1000),
            keyIndex,
            accountType: proto.ADVEncryptionType.E2EE,
            deviceType: proto.ADVEncryptionType.E2EE
        }).finish()
    );
    const accountSignature = Curve.sign(
        phoneIdentity.private,
        Buffer.concat([WA_ADV_ACCOUNT_SIG_PREFIX, deviceDetails, companionIdentity])
    );
    const details = Buffer.from(
        proto.ADVSignedDeviceIdentity.encode({
            details: deviceDetails,
            accountSignatureKey: phoneIdentity.public,
            accountSignature
        }).finish()
    );
    const hmac = hmacSign(details, advSecret);
    const signed = proto.ADVSignedDeviceIdentityHMAC.encode({
        details,
        hmac,
        accountType: proto.ADVEncryptionType.E2EE
    }).finish();
    return { deviceIdentity: Buffer.from(signed), deviceDetails };
}

/** Whether the companion's pair-device-sign carries a valid device signature; returns the identity. */
export function checkDeviceSignature(b, signedBytes, { companionIdentity, phoneIdentity }) {
    const { proto, Curve, WA_ADV_DEVICE_SIG_PREFIX } = b;
    const signed = proto.ADVSignedDeviceIdentity.decode(signedBytes);
    const message = Buffer.concat([
        WA_ADV_DEVICE_SIG_PREFIX,
        signed.details,
        companionIdentity,
        phoneIdentity.public
    ]);
    if (!signed.deviceSignature || !Curve.verify(companionIdentity, message, signed.deviceSignature)) {
        throw new Error('the companion device signature does not verify');
    }
    return signed;
}

// Pairing code: the companion wraps an ephemeral public key as salt(32) + iv(16) + AES-CTR(key), the key
// being PBKDF2 of the 8-character code (Baileys' derivePairingCodeKey); the phone answers with its own
// ephemeral wrapped the same way.

export async function unwrapWithCode(b, code, wrapped) {
    const salt = wrapped.subarray(0, 32);
    const iv = wrapped.subarray(32, 48);
    const key = await b.derivePairingCodeKey(code, salt);
    return Buffer.from(b.aesDecryptCTR(wrapped.subarray(48, 80), key, iv));
}

export async function wrapWithCode(b, code, publicKey) {
    const salt = randomBytes(32);
    const iv = randomBytes(16);
    const key = await b.derivePairingCodeKey(code, salt);
    return Buffer.concat([salt, iv, b.aesEncryptCTR(publicKey, key, iv)]);
}

/**
 * The phone's side of the companion's `companion_finish`: opens the key bundle, checks it names our
 * identity, and derives the adv secret exactly as the companion does (messages-recv.js,
 * link_code_companion_reg).
 */
export function finishCodePairing(b, { wrappedBundle, companionIdentity, companionEphemeral, primaryEphemeral, phoneIdentity }) {
    const { Curve, hkdf, aesDecryptGCM } = b;
    const sharedEphemeral = Curve.sharedKey(primaryEphemeral.private, companionEphemeral);
    const salt = wrappedBundle.subarray(0, 32);
    const iv = wrappedBundle.subarray(32, 44);
    const bundleKey = Buffer.from(
        hkdf(sharedEphemeral, 32, { salt, info: 'link_code_pairing_key_bundle_encryption_key' })
    );
    const bundle = aesDecryptGCM(wrappedBundle.subarray(44), bundleKey, iv, Buffer.alloc(0));
    const bundledCompanion = bundle.subarray(0, 32);
    const bundledPrimary = bundle.subarray(32, 64);
    const random = bundle.subarray(64, 96);
    if (!bundledCompanion.equals(companionIdentity) || !bundledPrimary.equals(phoneIdentity.public)) {
        throw new Error('the companion key bundle names other identity keys');
    }
    const sharedIdentity = Curve.sharedKey(phoneIdentity.private, companionIdentity);
    const advSecret = hkdf(Buffer.concat([sharedEphemeral, sharedIdentity, random]), 32, { info: 'adv_secret' });
    return Buffer.from(advSecret);
}
