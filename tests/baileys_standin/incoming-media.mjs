// The media of a status a contact posts (`post-status` with `image`, `video` or `audio`): the poster's
// phone encrypts the bytes the test gave with Baileys' own encryptedStream (a random mediaKey, AES-256-CBC
// + HMAC, keys by media type: a voice note is "audio"), the encrypted blob goes into the stand-in's media
// host as if uploaded, and the message names it as WhatsApp's upload answer would (url, directPath), with
// the hashes and key a recipient needs.
import { readFile, unlink } from 'node:fs/promises';

export const MEDIA_KINDS = ['image', 'video', 'audio'];
const DEFAULT_MIMETYPES = { image: 'image/jpeg', video: 'video/mp4', audio: 'audio/ogg; codecs=opus' };
const FIELDS = ['caption', 'mimetype', 'width', 'height', 'seconds', 'ptt', 'backgroundArgb'];
const BYTES = ['jpegThumbnail', 'waveform'];

/** Which media kind `fields` posts (its own key), or undefined for a text status. */
export function mediaKindOf(fields) {
    const kinds = MEDIA_KINDS.filter(kind => fields[kind] !== undefined);
    if (kinds.length > 1) {
        throw new Error(`post-status takes one of ${MEDIA_KINDS.join(', ')}, not ${kinds.join(' and ')}`);
    }
    return kinds[0];
}

/**
 * kind, {data (base64), mimetype?, caption?, jpegThumbnail? (base64), width?, height?, seconds?, ptt?,
 * waveform? (base64), backgroundArgb?} → { <kind>Message }.
 */
export async function postedMedia(b, media, kind, given) {
    if (typeof given?.data !== 'string' || !given.data) {
        throw new Error(`post-status "${kind}" needs "data": the file, base64 (the stand-in makes none up)`);
    }
    const { mediaKey, encFilePath, fileEncSha256, fileSha256, fileLength } = await b.encryptedStream(Buffer.from(given.data, 'base64'), kind);
    let encrypted;
    try {
        encrypted = await readFile(encFilePath);
    } finally {
        await unlink(encFilePath).catch(() => undefined);
    }
    const { url, directPath } = media.keep(kind, encrypted);
    const message = {
        url,
        directPath,
        mediaKey,
        fileEncSha256,
        fileSha256,
        fileLength,
        mediaKeyTimestamp: Math.floor(Date.now() / 1000),
        mimetype: DEFAULT_MIMETYPES[kind]
    };
    for (const name of FIELDS) {
        if (given[name] !== undefined) {
            message[name] = given[name];
        }
    }
    for (const name of BYTES) {
        if (given[name] !== undefined) {
            message[name] = Buffer.from(given[name], 'base64');
        }
    }
    return { [`${kind}Message`]: message };
}
