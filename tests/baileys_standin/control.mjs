// The control channel: JSON lines. Commands come on stdin ({"cmd": "...", "id": ..., ...fields}); events and
// replies go to stdout ({"event": "...", ...fields}). Nothing else may write to stdout: logs go to stderr.
//
// Every command gets one {"event": "reply", "id", "ok", "result" | "error"}; an unknown command or a bad
// line is answered the same way (ok false), never by exiting.
import { createInterface } from 'node:readline';

export class Events {
    constructor(out = process.stdout) {
        this.out = out;
    }

    emit(event, fields = {}) {
        this.out.write(`${JSON.stringify({ event, ...fields }, jsonValue)}\n`);
    }
}

// Buffers (keys, refs) are written as base64; BigInt/Long as strings
function jsonValue(_key, value) {
    if (value && value.type === 'Buffer' && Array.isArray(value.data)) {
        return Buffer.from(value.data).toString('base64');
    }
    if (value instanceof Uint8Array) {
        return Buffer.from(value).toString('base64');
    }
    if (typeof value === 'bigint') {
        return value.toString();
    }
    return value;
}

/**
 * Reads commands from `input` and runs them from `commands` (name → async (fields, context) => result).
 * Resolves when the input closes.
 */
export function serveCommands(commands, context, events, input = process.stdin) {
    const lines = createInterface({ input, crlfDelay: Infinity });
    let chain = Promise.resolve();
    lines.on('line', line => {
        if (!line.trim()) {
            return;
        }
        chain = chain.then(() => runOne(commands, context, events, line));
    });
    return new Promise(resolve => lines.on('close', () => chain.then(resolve)));
}

async function runOne(commands, context, events, line) {
    let request;
    try {
        request = JSON.parse(line);
    } catch (error) {
        events.emit('reply', { id: null, ok: false, error: `not JSON: ${error.message}` });
        return;
    }
    const { cmd, id = null, ...fields } = request ?? {};
    const command = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined;
    if (!command) {
        events.emit('reply', { id, cmd, ok: false, error: `unknown command ${JSON.stringify(cmd)}` });
        return;
    }
    try {
        const result = await command(fields, context);
        events.emit('reply', { id, cmd, ok: true, result: result ?? null });
    } catch (error) {
        events.emit('reply', { id, cmd, ok: false, error: error.message });
    }
}
