// The probe's media status: what an engine that splits a big status list does — build the message once
// (generateWAMessageContent with `upload: sock.waUploadToServer`: one encryption, one upload), then relay
// that same content to each chunk of the list (relayMessage('status@broadcast', content, {messageId,
// statusJidList})), so every chunk carries the same url, directPath and mediaKey.
//
//   {"cmd": "send-media-status", "kind": "image"|"video"|"audio", "path", "mimetype", "caption"?,
//    "jpegThumbnail"? (base64), "width"?, "height"?, "seconds"?, "ptt"?, "waveform"? (base64),
//    "backgroundColor"? ("#RRGGBB": a voice note's backgroundArgb), "messageId",
//    "statusJidLists": [[jid…], …] (one relay per list; or "statusJidList": one list)}
//   → {"event": "sent", "cmd", "key", "chunks", "media": {url, directPath, fileLength}}
//
// A thumbnail, the seconds and the waveform are given: without them Baileys computes them with sharp or
// jimp, music-metadata and ffmpeg-like decoding, none of which the engine installs.
const STATUS_JID = 'status@broadcast';
const KINDS = ['image', 'video', 'audio'];

const fromBase64 = value => (value === undefined ? undefined : Buffer.from(value, 'base64'));

function mediaContent({ kind, path, mimetype, caption, jpegThumbnail, width, height, seconds, ptt, waveform }) {
    if (!KINDS.includes(kind) || !path) {
        throw new Error(`send-media-status needs "kind" (${KINDS.join(', ')}) and "path"`);
    }
    const content = { [kind]: { url: path }, mimetype };
    const optional = { caption, jpegThumbnail: fromBase64(jpegThumbnail), width, height, seconds, ptt, waveform: fromBase64(waveform) };
    for (const [name, value] of Object.entries(optional)) {
        if (value !== undefined) {
            content[name] = value;
        }
    }
    return content;
}

export const MEDIA_ACTIONS = {
    'send-media-status': async (sock, fields, { baileys }) => {
        const lists = fields.statusJidLists ?? (fields.statusJidList ? [fields.statusJidList] : []);
        if (!lists.length || !fields.messageId) {
            throw new Error('send-media-status needs "statusJidLists" (or "statusJidList") and "messageId"');
        }
        const content = await baileys.generateWAMessageContent(mediaContent(fields), {
            upload: sock.waUploadToServer,
            // rc14 reads it for a voice note only (prepareWAMessageMedia: backgroundArgb when ptt)
            backgroundColor: fields.backgroundColor
        });
        for (const statusJidList of lists) {
            await sock.relayMessage(STATUS_JID, content, { messageId: fields.messageId, statusJidList });
        }
        const media = content[`${fields.kind}Message`];
        return {
            event: 'sent',
            key: { remoteJid: STATUS_JID, fromMe: true, id: fields.messageId },
            chunks: lists.length,
            media: { url: media.url, directPath: media.directPath, fileLength: String(media.fileLength) }
        };
    }
};
