// The stand-in's media server: a loopback HTTPS host (test CA, test-tls.mjs) that takes Baileys' uploads
// and serves them back, and the `media_conn` iq that points Baileys at it.
//
// Baileys (Utils/messages-media.js getWAUploadToServer) asks `w:m` set <media_conn/> for hosts and an
// auth token, encrypts the file (encryptedStream: AES-256-CBC + a 10-byte HMAC, a random media key), and
// POSTs the encrypted bytes to
//     https://<host.hostname><MEDIA_PATH_MAP[type]>/<fileEncSha256, base64url>?auth=<auth>&token=<same>
// (image /mms/image, video /mms/video, audio and voice notes /mms/audio). It reads `url` and
// `direct_path` from the JSON answer (and meta_hmac, fbid, ts, which only business uploads use) into
// the message's url/directPath; an answer without either makes it refresh media_conn and fail.
// hostname is written into the URL as it is, so "127.0.0.1:PORT" is what the host attribute carries.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const HOST = '127.0.0.1';
const UPLOAD_PATH = /^\/mms\/(image|video|audio|document)\/([A-Za-z0-9_-]+)$/;
const MAX_BYTES = 64 * 1024 * 1024;
// media_conn's ttl in seconds: Baileys asks again once it has passed
const TTL = 300;

export const base64url = bytes => Buffer.from(bytes).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** Starts the host with the TLS files of test-tls.mjs → { hostname, blobs, mediaConn, keep, find, close }. */
export async function startMediaHost({ events }, { certFile, keyFile }) {
    const auth = base64url(randomBytes(24));
    const blobs = new Map(); // fileEncSha256 (base64url) -> { type, data, uploads, directPath }
    const byPath = new Map(); // direct path (no query) -> the same record
    let hostname;

    function upload(request, response, type, token, body) {
        const sha = base64url(createHash('sha256').update(body).digest());
        const url = new URL(request.url, `https://${hostname}`);
        if (url.searchParams.get('auth') !== auth) {
            return answer(response, 401, { error: 'bad auth' });
        }
        if (sha !== token) {
            events.emit('upload-refused', { path: url.pathname, bytes: body.length, type, why: 'the body does not hash to the path' });
            return answer(response, 400, { error: 'hash mismatch' });
        }
        events.emit('upload', { path: url.pathname, bytes: body.length, type });
        const { url: mediaUrl, directPath } = keep(type, body);
        answer(response, 200, { url: mediaUrl, direct_path: directPath });
    }

    /**
     * Keeps an encrypted blob (an upload, or one the stand-in's own phones post) → {url, directPath} as
     * WhatsApp answers an upload: a full URL on the media host, and the same path with its query.
     */
    function keep(type, body) {
        const token = base64url(createHash('sha256').update(body).digest());
        let blob = blobs.get(token);
        if (!blob) {
            const path = `/o1/v/t62.7118-24/standin/${token}.enc`;
            blob = { type, data: body, uploads: 0, directPath: path };
            blobs.set(token, blob);
            byPath.set(path, blob);
        }
        blob.uploads++;
        const directPath = `${blob.directPath}?ccb=11-4&mms3=true`;
        return { url: `https://${hostname}${directPath}`, directPath };
    }

    const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (request, response) => {
        const path = new URL(request.url, `https://${HOST}`).pathname;
        if (request.method === 'GET') {
            const blob = byPath.get(path);
            events.emit('download', { path, found: Boolean(blob), bytes: blob?.data.length ?? 0 });
            if (!blob) {
                return answer(response, 404, { error: 'no such media' });
            }
            response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.data.length });
            return response.end(blob.data);
        }
        const match = request.method === 'POST' && UPLOAD_PATH.exec(path);
        if (!match) {
            return answer(response, 404, { error: 'not an upload path' });
        }
        const chunks = [];
        let size = 0;
        request.on('data', chunk => {
            size += chunk.length;
            if (size > MAX_BYTES) {
                request.destroy();
            } else {
                chunks.push(chunk);
            }
        });
        request.on('end', () => upload(request, response, match[1], match[2], Buffer.concat(chunks)));
    });
    server.on('tlsClientError', error => events.emit('media-tls-error', { error: error.message }));
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, HOST, resolve);
    });
    hostname = `${HOST}:${server.address().port}`;

    /** w:m/media_conn: one host, ours. */
    function mediaConn() {
        return [
            {
                tag: 'media_conn',
                attrs: { auth, ttl: String(TTL), auth_ttl: String(TTL), max_buckets: '12' },
                content: [{ tag: 'host', attrs: { hostname, maxContentLengthBytes: String(MAX_BYTES) } }]
            }
        ];
    }

    /** The blob a message's directPath (or url) names, or undefined. */
    function find({ directPath, url }) {
        const path = directPath || (url ? new URL(url).pathname : '');
        return byPath.get(path.split('?')[0]);
    }

    return { hostname, blobs, mediaConn, keep, find, close: () => server.close() };
}

function answer(response, status, json) {
    const body = JSON.stringify(json);
    response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    response.end(body);
}
