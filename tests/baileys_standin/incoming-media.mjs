// The image of a status a contact posts (`post-status` with `image`): the poster's phone encrypts the
// bytes the test gave with Baileys' own encryptedStream (a random mediaKey, AES-256-CBC + HMAC), the
// encrypted blob goes into the stand-in's media host as if uploaded, and the imageMessage names it as
// WhatsApp's upload answer would (url, directPath), with the hashes and key a recipient needs.
import { readFile, unlink } from 'node:fs/promises';

const FIELDS = ['caption', 'mimetype', 'width', 'height'];

/** {data (base64), mimetype?, caption?, jpegThumbnail? (base64), width?, height?} → { imageMessage }. */
export async function postedImage(b, media, image) {
    if (typeof image?.data !== 'string' || !image.data) {
        throw new Error('post-status "image" needs "data": the picture, base64 (the stand-in makes none up)');
    }
    const { mediaKey, encFilePath, fileEncSha256, fileSha256, fileLength } = await b.encryptedStream(Buffer.from(image.data, 'base64'), 'image');
    let encrypted;
    try {
        encrypted = await readFile(encFilePath);
    } finally {
        await unlink(encFilePath).catch(() => undefined);
    }
    const { url, directPath } = media.keep('image', encrypted);
    const imageMessage = {
        url,
        directPath,
        mediaKey,
        fileEncSha256,
        fileSha256,
        fileLength,
        mediaKeyTimestamp: Math.floor(Date.now() / 1000),
        mimetype: 'image/jpeg'
    };
    for (const name of FIELDS) {
        if (image[name] !== undefined) {
            imageMessage[name] = image[name];
        }
    }
    if (image.jpegThumbnail !== undefined) {
        imageMessage.jpegThumbnail = Buffer.from(image.jpegThumbnail, 'base64');
    }
    return { imageMessage };
}
