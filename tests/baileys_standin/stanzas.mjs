// Small helpers over Baileys' BinaryNode shape ({ tag, attrs, content }) for building the server's
// stanzas and reading the client's.

export const S_WHATSAPP_NET = 's.whatsapp.net';

/** Thrown by an iq handler for an error answer (`<error code text/>`). */
export class IqError extends Error {
    constructor(code, text) {
        super(text);
        this.code = code;
    }
}

export function children(node, tag) {
    return Array.isArray(node?.content) ? node.content.filter(c => tag === undefined || c.tag === tag) : [];
}

export function child(node, tag) {
    return children(node, tag)[0];
}

export function firstChildTag(node) {
    return Array.isArray(node?.content) ? (node.content[0]?.tag ?? '') : '';
}

export function bytes(node) {
    const content = node?.content;
    if (content instanceof Uint8Array) {
        return Buffer.from(content);
    }
    return typeof content === 'string' ? Buffer.from(content) : undefined;
}

export function unixNow() {
    return String(Math.floor(Date.now() / 1000));
}

export function iqResult(iq, content, attrs = {}) {
    const node = { tag: 'iq', attrs: { from: S_WHATSAPP_NET, type: 'result', id: iq.attrs.id, ...attrs } };
    if (content !== undefined) {
        node.content = content;
    }
    return node;
}

export function iqError(iq, code, text) {
    return iqResult(iq, [{ tag: 'error', attrs: { code: String(code), text } }], { type: 'error' });
}

export function streamError(code) {
    return { tag: 'stream:error', attrs: { code: String(code) } };
}

/** What an event says about a stanza: its tag, its attributes (no byte contents) and its children's tags. */
export function summarize(node) {
    return {
        tag: node.tag,
        attrs: node.attrs,
        children: children(node).map(c => c.tag)
    };
}
