// WhatsApp's Noise XX (Noise_XX_25519_AESGCM_SHA256), the responder's side, on Baileys' own primitives.
//
// The initiator is Baileys' makeNoiseHandler (Utils/noise-handler.js); every step here mirrors one there:
//   client hello  -> e
//   server hello  <- e, ee, s (encrypted), es, payload = our proto.CertChain (encrypted)
//   client finish -> s (the client's noise key, encrypted), se, payload = proto.ClientPayload (encrypted)
// One counter serves both directions during the handshake and restarts at every key mix, as in Baileys.
// After it, the split gives the client's sending key first: we read with it and write with the second.

const IV_LENGTH = 12;

function nonce(counter) {
    const iv = Buffer.alloc(IV_LENGTH);
    iv.writeUInt32BE(counter, 8);
    return iv;
}

class SymmetricState {
    constructor({ sha256, hkdf, aesEncryptGCM, aesDecryptGCM }, protocolName) {
        this.c = { sha256, hkdf, aesEncryptGCM, aesDecryptGCM };
        const name = Buffer.from(protocolName);
        this.hash = name.length === 32 ? name : sha256(name);
        this.salt = this.hash;
        this.key = this.hash;
        this.counter = 0;
    }

    mixHash(data) {
        this.hash = this.c.sha256(Buffer.concat([this.hash, data]));
    }

    expand(inputKey) {
        const out = Buffer.from(this.c.hkdf(Buffer.from(inputKey), 64, { salt: this.salt, info: '' }));
        return [out.subarray(0, 32), out.subarray(32)];
    }

    mixKey(inputKey) {
        [this.salt, this.key] = this.expand(inputKey);
        this.counter = 0;
    }

    encryptAndHash(plaintext) {
        const ciphertext = this.c.aesEncryptGCM(plaintext, this.key, nonce(this.counter++), this.hash);
        this.mixHash(ciphertext);
        return ciphertext;
    }

    decryptAndHash(ciphertext) {
        const plaintext = this.c.aesDecryptGCM(ciphertext, this.key, nonce(this.counter++), this.hash);
        this.mixHash(ciphertext);
        return plaintext;
    }
}

/** The transport after the handshake: one key and counter per direction. */
class Transport {
    constructor({ aesEncryptGCM, aesDecryptGCM }, readKey, writeKey) {
        this.c = { aesEncryptGCM, aesDecryptGCM };
        this.readKey = readKey;
        this.writeKey = writeKey;
        this.readCounter = 0;
        this.writeCounter = 0;
    }

    encrypt(plaintext) {
        return this.c.aesEncryptGCM(plaintext, this.writeKey, nonce(this.writeCounter++), Buffer.alloc(0));
    }

    decrypt(ciphertext) {
        return this.c.aesDecryptGCM(ciphertext, this.readKey, nonce(this.readCounter++), Buffer.alloc(0));
    }
}

/**
 * One connection's handshake, server side. `baileys` gives the primitives (Curve, hkdf, sha256, AES-GCM,
 * NOISE_MODE, proto); `identity` is certs.mjs' server identity.
 */
export class NoiseResponder {
    constructor(baileys, identity) {
        this.b = baileys;
        this.identity = identity;
        this.state = new SymmetricState(baileys, baileys.NOISE_MODE);
        this.ephemeral = baileys.Curve.generateKeyPair();
        this.clientStatic = null;
    }

    /** `prologue` is the 4-byte WA header the client opened with; returns the encoded server hello. */
    answerClientHello(prologue, helloBytes) {
        const { proto, Curve } = this.b;
        const { clientHello } = proto.HandshakeMessage.decode(helloBytes);
        if (!clientHello?.ephemeral || clientHello.ephemeral.length !== 32) {
            throw new Error('client hello without a 32-byte ephemeral key');
        }
        const clientEphemeral = Buffer.from(clientHello.ephemeral);
        this.clientEphemeral = clientEphemeral;
        const s = this.state;
        s.mixHash(prologue);
        s.mixHash(clientEphemeral);
        s.mixHash(this.ephemeral.public);
        s.mixKey(Curve.sharedKey(this.ephemeral.private, clientEphemeral));
        const staticEnc = s.encryptAndHash(this.identity.serverStatic.public);
        s.mixKey(Curve.sharedKey(this.identity.serverStatic.private, clientEphemeral));
        const payloadEnc = s.encryptAndHash(this.identity.certChain);
        return Buffer.from(
            proto.HandshakeMessage.encode({
                serverHello: { ephemeral: this.ephemeral.public, static: staticEnc, payload: payloadEnc }
            }).finish()
        );
    }

    /** Reads the client finish; returns the client's static (noise) key, its ClientPayload and the transport. */
    acceptClientFinish(finishBytes) {
        const { proto, Curve } = this.b;
        const { clientFinish } = proto.HandshakeMessage.decode(finishBytes);
        if (!clientFinish?.static || !clientFinish?.payload) {
            throw new Error('client finish without static key or payload');
        }
        const s = this.state;
        const clientStatic = Buffer.from(s.decryptAndHash(clientFinish.static));
        s.mixKey(Curve.sharedKey(this.ephemeral.private, clientStatic));
        const payload = proto.ClientPayload.decode(s.decryptAndHash(clientFinish.payload));
        const [clientWrites, serverWrites] = s.expand(Buffer.alloc(0));
        this.clientStatic = clientStatic;
        return { clientStatic, payload, transport: new Transport(this.b, clientWrites, serverWrites) };
    }
}
