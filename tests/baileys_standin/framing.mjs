// WhatsApp's framing over the WebSocket: the client's first bytes are an intro (the 4-byte `WA` header,
// or an `ED` routing prefix followed by it), then every frame is a 3-byte big-endian length and its bytes.
// WebSocket messages need not line up with frames, so bytes are buffered until a frame is whole.

const MAX_FRAME = (1 << 24) - 1;

export class FrameReader {
    constructor() {
        this.buffer = Buffer.alloc(0);
        this.prologue = null; // the WA header, once read
        this.routingInfo = null;
    }

    /** Adds bytes; returns the frames now complete. Throws on an intro that is not WhatsApp's. */
    push(bytes) {
        this.buffer = this.buffer.length ? Buffer.concat([this.buffer, bytes]) : Buffer.from(bytes);
        const frames = [];
        if (!this.prologue && !this.readIntro()) {
            return frames;
        }
        while (this.buffer.length >= 3) {
            const size = this.buffer.readUIntBE(0, 3);
            if (this.buffer.length < size + 3) {
                break;
            }
            frames.push(this.buffer.subarray(3, size + 3));
            this.buffer = this.buffer.subarray(size + 3);
        }
        return frames;
    }

    readIntro() {
        let at = 0;
        if (this.buffer.length >= 2 && this.buffer.toString('latin1', 0, 2) === 'ED') {
            if (this.buffer.length < 7) {
                return false;
            }
            const length = (this.buffer[4] << 16) | this.buffer.readUInt16BE(5);
            if (this.buffer.length < 7 + length) {
                return false;
            }
            this.routingInfo = this.buffer.subarray(7, 7 + length);
            at = 7 + length;
        }
        if (this.buffer.length < at + 4) {
            return false;
        }
        const header = this.buffer.subarray(at, at + 4);
        if (header.toString('latin1', 0, 2) !== 'WA') {
            throw new Error(`not WhatsApp's intro: ${header.toString('hex')}`);
        }
        this.prologue = Buffer.from(header);
        this.buffer = this.buffer.subarray(at + 4);
        return true;
    }
}

/** One frame as the server sends it (the server sends no intro). */
export function encodeFrame(data) {
    if (data.length > MAX_FRAME) {
        throw new Error(`frame of ${data.length} bytes is too long`);
    }
    const frame = Buffer.alloc(3 + data.length);
    frame.writeUIntBE(data.length, 0, 3);
    frame.set(data, 3);
    return frame;
}
