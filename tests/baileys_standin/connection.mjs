// One client connection: framing, the Noise handshake, then binary nodes over the Noise transport.
//
// What a connection *means* (registration or login, what to answer) is the router's business
// (router.mjs); this module only moves bytes and nodes, and matches the client's answers to the
// queries the server sent (`query`).
import { encodeFrame, FrameReader } from './framing.mjs';
import { NoiseResponder } from './noise.mjs';
import { S_WHATSAPP_NET } from './stanzas.mjs';

const QUERY_TIMEOUT_MS = 15000;

export class Connection {
    /**
     * @param socket   the accepted `ws` WebSocket
     * @param router   { onClientPayload(conn, payload), onNode(conn, node), onClose(conn) }; its handlers
     *                 run in this connection's frame loop, so they must never wait for the client's next
     *                 stanza (a `query` they start must not be awaited there)
     */
    constructor({ id, socket, baileys, identity, router, events }) {
        this.id = id;
        this.socket = socket;
        this.b = baileys;
        this.router = router;
        this.events = events;
        this.reader = new FrameReader();
        this.noise = new NoiseResponder(baileys, identity);
        this.transport = null;
        this.clientStatic = null; // the client's noise key, known once the handshake is done
        this.clientPayload = null;
        this.device = null; // the linked device logged in on this connection (accounts.mjs)
        this.pairing = null; // registration data while pairing
        this.waiting = new Map(); // id of a query we sent -> settle(answer, error)
        this.nextId = 1;
        this.closed = false;
        this.work = Promise.resolve();
        socket.on('message', data => {
            this.work = this.work.then(() => this.onBytes(data)).catch(error => this.fail(error));
        });
        socket.on('close', () => this.onClosed());
        socket.on('error', error => this.events.emit('socket-error', { conn: this.id, error: error.message }));
    }

    async onBytes(data) {
        if (this.closed) {
            return;
        }
        for (const frame of this.reader.push(Buffer.from(data))) {
            await this.onFrame(frame);
        }
    }

    async onFrame(frame) {
        if (this.transport) {
            const node = await this.b.decodeBinaryNode(this.transport.decrypt(frame));
            await this.onNode(node);
        } else if (!this.noise.clientEphemeral) {
            this.socket.send(encodeFrame(this.noise.answerClientHello(this.reader.prologue, frame)));
        } else {
            const { clientStatic, payload, transport } = this.noise.acceptClientFinish(frame);
            this.transport = transport;
            this.clientStatic = clientStatic;
            this.clientPayload = payload;
            await this.router.onClientPayload(this, payload);
        }
    }

    async onNode(node) {
        const id = node.attrs?.id;
        if (node.tag === 'iq' && (node.attrs.type === 'result' || node.attrs.type === 'error') && this.waiting.has(id)) {
            this.waiting.get(id)(node);
            return;
        }
        await this.router.onNode(this, node);
    }

    send(node) {
        if (this.closed || !this.transport) {
            throw new Error(`connection ${this.id} cannot send: ${this.closed ? 'closed' : 'no transport yet'}`);
        }
        this.socket.send(encodeFrame(this.transport.encrypt(this.b.encodeBinaryNode(node))));
    }

    /** A server-side id, distinct from the client's. */
    generateId() {
        return `standin-${this.id}-${this.nextId++}`;
    }

    /** Sends an iq (get/set) to the client and resolves with its answer; rejects on close or timeout. */
    query(node, timeoutMs = QUERY_TIMEOUT_MS) {
        const iq = { ...node, attrs: { from: S_WHATSAPP_NET, id: this.generateId(), ...node.attrs } };
        const id = iq.attrs.id;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.waiting.delete(id);
                reject(new Error(`no answer to ${id} in ${timeoutMs} ms`));
            }, timeoutMs);
            const settle = (answer, error) => {
                clearTimeout(timer);
                this.waiting.delete(id);
                return error ? reject(error) : resolve(answer);
            };
            this.waiting.set(id, settle);
            this.send(iq);
        });
    }

    /** Sends `node` (a stream error, say), then closes the socket once it is written. */
    sendAndClose(node) {
        this.send(node);
        this.close();
    }

    close() {
        if (!this.closed) {
            this.socket.close();
        }
    }

    fail(error) {
        this.events.emit('connection-error', { conn: this.id, error: error.message });
        this.close();
    }

    onClosed() {
        if (this.closed) {
            return;
        }
        this.closed = true;
        for (const [id, settle] of [...this.waiting]) {
            settle(undefined, new Error(`connection ${this.id} closed before answering ${id}`));
        }
        this.router.onClose(this);
    }
}
