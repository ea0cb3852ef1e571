// The stand-in's certificate chain: a test root signs an intermediate, the intermediate signs the
// server's static Noise key. Baileys checks the intermediate against WA_CERT_DETAILS.PUBLIC_KEY and its
// issuerSerial against WA_CERT_DETAILS.SERIAL (noise-handler.js, processHandshake), so a client whose
// PUBLIC_KEY is swapped for our root's accepts this chain; an unmodified client should refuse it.
//
// *Should*: in baileys 7.0.0-rc14 `Curve.verify` returns true for any 64-byte signature (it only catches
// exceptions, and libsignal's verifySignature returns false rather than throwing), so Baileys accepts any
// chain. `verifyChain` checks ours properly, with libsignal's answer, so the stand-in stays honest for the
// day Baileys' check works.

const INTERMEDIATE_SERIAL = 1;
const LEAF_SERIAL = 2;
const YEAR_SECONDS = 365 * 24 * 3600;

/**
 * Build the chain. `keys` is a key source (keys.mjs); returns the key pairs and the encoded
 * proto.CertChain that goes into the server hello's payload.
 */
export function makeServerIdentity({ proto, Curve, WA_CERT_DETAILS }, keys) {
    const root = keys('test-root');
    const intermediate = keys('intermediate');
    const serverStatic = keys('server-static');
    const Details = proto.CertChain.NoiseCertificate.Details;
    const now = Math.floor(Date.now() / 1000);
    const validity = { notBefore: now - YEAR_SECONDS, notAfter: now + YEAR_SECONDS };
    const intermediateDetails = Details.encode({
        serial: INTERMEDIATE_SERIAL,
        issuerSerial: WA_CERT_DETAILS.SERIAL,
        key: intermediate.public,
        ...validity
    }).finish();
    const leafDetails = Details.encode({
        serial: LEAF_SERIAL,
        issuerSerial: INTERMEDIATE_SERIAL,
        key: serverStatic.public,
        ...validity
    }).finish();
    const certChain = proto.CertChain.encode({
        intermediate: { details: intermediateDetails, signature: Curve.sign(root.private, intermediateDetails) },
        leaf: { details: leafDetails, signature: Curve.sign(intermediate.private, leafDetails) }
    }).finish();
    return { rootPublicKey: root.public, serverStatic, certChain: Buffer.from(certChain) };
}

/** Whether `certChain` verifies under `rootPublicKey`, read with a verifier that returns its answer. */
export function verifyChain({ proto }, signalCurve, certChain, rootPublicKey, serverStaticPublic) {
    const withType = key => Buffer.concat([Buffer.from([5]), key]);
    const verify = (key, message, signature) => signalCurve.verifySignature(withType(key), message, signature) === true;
    const { intermediate, leaf } = proto.CertChain.decode(certChain);
    const Details = proto.CertChain.NoiseCertificate.Details;
    const intermediateKey = Buffer.from(Details.decode(intermediate.details).key);
    const leafKey = Buffer.from(Details.decode(leaf.details).key);
    return (
        verify(rootPublicKey, intermediate.details, intermediate.signature) &&
        verify(intermediateKey, leaf.details, leaf.signature) &&
        leafKey.equals(serverStaticPublic)
    );
}
