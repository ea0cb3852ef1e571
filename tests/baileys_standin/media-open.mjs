// What a recipient does with a media message it decrypted: fetch the blob its directPath names (here:
// from the stand-in's own media host, media-host.mjs, not over HTTP), check it against fileEncSha256 and
// its MAC, decrypt it with the keys Baileys derives from the mediaKey (getMediaKeys: HKDF-SHA256 to iv,
// cipherKey, macKey), and check the plaintext against fileSha256 and fileLength — the checks a phone
// makes before it shows a status.
import { createDecipheriv, createHash, createHmac } from 'node:crypto';

const MEDIA_TYPES = ['image', 'video', 'audio'];
const MAC_LENGTH = 10;

const sha256 = data => createHash('sha256').update(data).digest();

/** The media part of `message` (a proto.Message) → { type, content } or undefined. */
export function mediaOf(b, message) {
    const inner = b.normalizeMessageContent(message);
    for (const type of MEDIA_TYPES) {
        if (inner?.[`${type}Message`]) {
            return { type, content: inner[`${type}Message`] };
        }
    }
    return undefined;
}

/**
 * Opens the media of `message` as a recipient would → { type, bytes, sha256ok, sha256, uploads } or,
 * when a check fails, { type, sha256ok: false, error }; undefined for a message without media.
 */
export async function openMedia(b, host, message) {
    const found = mediaOf(b, message);
    if (!found) {
        return undefined;
    }
    const { type, content } = found;
    try {
        const blob = host.find(content);
        if (!blob) {
            throw new Error(`the media host has nothing at ${content.directPath || content.url}`);
        }
        const encrypted = blob.data;
        if (!sha256(encrypted).equals(Buffer.from(content.fileEncSha256 ?? []))) {
            throw new Error('the blob does not match fileEncSha256');
        }
        const { iv, cipherKey, macKey } = await b.getMediaKeys(Buffer.from(content.mediaKey ?? []), type);
        const ciphertext = encrypted.subarray(0, encrypted.length - MAC_LENGTH);
        const mac = createHmac('sha256', macKey).update(iv).update(ciphertext).digest().subarray(0, MAC_LENGTH);
        if (!mac.equals(encrypted.subarray(encrypted.length - MAC_LENGTH))) {
            throw new Error('the MAC does not verify under the mediaKey');
        }
        const decipher = createDecipheriv('aes-256-cbc', cipherKey, iv);
        const plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
        const digest = sha256(plain);
        if (!digest.equals(Buffer.from(content.fileSha256 ?? []))) {
            throw new Error('the plaintext does not match fileSha256');
        }
        if (Number(content.fileLength) !== plain.length) {
            throw new Error(`fileLength ${content.fileLength} but ${plain.length} bytes`);
        }
        return { type, bytes: plain.length, sha256ok: true, sha256: digest.toString('hex'), uploads: blob.uploads };
    } catch (error) {
        return { type, sha256ok: false, error: error.message };
    }
}
