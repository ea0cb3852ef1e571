#!/usr/bin/env node
// The loopback stand-in for WhatsApp's chat server (see README.md).
//
//   node server.mjs --baileys-dir DIR [--seed SEED] [--port PORT] [--home DIR (default $HOME)]
//
// Listens on 127.0.0.1 only (port 0: the OS picks), prints {"event": "listening", "port", "url",
// "rootPublicKey", "verifiesUnderWhatsAppRoot": false, "mediaHost", "caFile"} on stdout, then takes control commands on stdin (commands.mjs) and reports events on
// stdout, one JSON object a line. It never opens a connection itself.
import { join } from 'node:path';
import { loadBaileys, baileysDirFrom } from './baileys.mjs';
import { makeServerIdentity, verifyChain } from './certs.mjs';
import { Accounts } from './accounts.mjs';
import { makeAppState } from './app-state.mjs';
import { COMMANDS } from './commands.mjs';
import { Connection } from './connection.mjs';
import { Events, serveCommands } from './control.mjs';
import { makeKeySource } from './keys.mjs';
import { startMediaHost } from './media-host.mjs';
import { makePhoneMessages } from './phone-messages.mjs';
import { makeRouter } from './router.mjs';
import { makeStatuses } from './statuses.mjs';
import { makeTestTls } from './test-tls.mjs';
import { Users } from './users.mjs';

const HOST = '127.0.0.1';

function option(argv, name, fallback) {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : fallback;
}

async function main(argv) {
    const { baileys, ws, signalCurve, signal } = await loadBaileys(baileysDirFrom(argv));
    const seed = option(argv, '--seed', undefined);
    const port = Number(option(argv, '--port', '0'));
    const events = new Events();
    const keys = makeKeySource(seed);
    const identity = makeServerIdentity(baileys, keys);
    const chainVerifies = root => verifyChain(baileys, signalCurve, identity.certChain, root, identity.serverStatic.public);
    if (!chainVerifies(identity.rootPublicKey)) {
        throw new Error('the certificate chain does not verify under its own test root');
    }
    // the media host's TLS files go to the stand-in's home (a test's temporary directory); it starts
    // before the WebSocket server, whose `listening` is awaited below and must not pass meanwhile
    const tls = makeTestTls(join(option(argv, '--home', process.env.HOME ?? '.'), 'media-tls'));
    const media = await startMediaHost({ events }, tls);
    const connections = new Map();
    const server = new ws.WebSocketServer({ host: HOST, port });
    const accounts = new Accounts(seed, keys);
    const users = new Users({ b: baileys, signal, keys, seed, accounts });
    const ctx = { b: baileys, events, accounts, users, connections, media, stop };
    ctx.statuses = makeStatuses(ctx);
    ctx.appState = makeAppState(ctx);
    ctx.phoneMessages = makePhoneMessages(ctx);
    const router = makeRouter(ctx);
    let nextConnection = 1;

    function stop() {
        for (const conn of connections.values()) {
            conn.close();
        }
        ctx.media.close();
        server.close(() => process.exit(0));
        // sockets that do not close in time do not hold the exit
        setTimeout(() => process.exit(0), 2000).unref();
    }

    server.on('connection', (socket, request) => {
        const id = nextConnection++;
        const conn = new Connection({ id, socket, baileys, identity, router, events });
        connections.set(id, conn);
        socket.on('close', () => connections.delete(id));
        events.emit('connected', { conn: id, path: request.url });
    });
    server.on('error', error => {
        events.emit('fatal', { error: error.message });
        process.exit(1);
    });
    await new Promise(resolve => server.once('listening', resolve));
    const bound = server.address().port;
    events.emit('listening', {
        port: bound,
        url: `ws://${HOST}:${bound}/ws/chat`,
        rootPublicKey: identity.rootPublicKey.toString('base64'),
        // what a client pinning WhatsApp's own root would conclude, were its check working (certs.mjs)
        verifiesUnderWhatsAppRoot: chainVerifies(baileys.WA_CERT_DETAILS.PUBLIC_KEY),
        // the HTTPS media host, and the CA a Baileys process must trust for it (NODE_EXTRA_CA_CERTS)
        mediaHost: ctx.media.hostname,
        caFile: tls.caFile
    });
    // the test's end of stdin closing means it is gone: so is the stand-in
    await serveCommands(COMMANDS, ctx, events);
    stop();
}

main(process.argv.slice(2)).catch(error => {
    process.stderr.write(`stand-in: ${error.stack ?? error}\n`);
    process.exit(1);
});
