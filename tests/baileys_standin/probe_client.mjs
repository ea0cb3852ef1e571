#!/usr/bin/env node
// A real Baileys client pointed at the stand-in, printing what it sees as JSON lines on stdout:
//   {"event": "connection", "connection"?, "qr"?, "statusCode"?, "error"?, "isNewLogin"?}  (connection.update)
//   {"event": "pairing-code", "code"}   {"event": "open", "me"}   {"event": "exit", "reason"}
//
//   node probe_client.mjs --baileys-dir DIR --url ws://127.0.0.1:PORT/ws/chat --root-key B64
//        --auth-dir DIR [--pairing-code PHONE] [--exit-on-open] [--log-level warn]
//        [--keep-pinned-root]   (instead of --root-key: keep WhatsApp's root, to see the chain refused)
//        [--no-history-sync]    (a first login does not buffer events for 20 s awaiting a history sync)
//        [--verify-app-state-macs]  (check app-state patch/snapshot MACs and LT hashes: rc14's default is not to)
//
// Once open it takes commands on stdin (send a status, revoke one, onWhatsApp) and reports message
// updates and receipts: probe-commands.mjs.
//
// The pinned Noise root key (WA_CERT_DETAILS.PUBLIC_KEY) is replaced by the stand-in's test root before
// any socket exists; the URL must be on loopback. After stream error 515 (restart required, which
// follows a pairing) it reconnects with the saved creds, as a real caller must: Baileys does not.
import { loadBaileys, baileysDirFrom } from './baileys.mjs';
import { watchAppState } from './probe-appstate.mjs';
import { serveProbeCommands, watchMessages } from './probe-commands.mjs';

const MAX_CONNECTIONS = 5;

function option(argv, name, fallback) {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : fallback;
}

function emit(event, fields = {}) {
    process.stdout.write(`${JSON.stringify({ event, ...fields }, (_key, value) => (typeof value === 'bigint' ? value.toString() : value))}\n`);
}

function loopbackOnly(url) {
    const { hostname } = new URL(url);
    const host = hostname.replace(/^\[|\]$/g, '');
    if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) {
        throw new Error(`the probe connects to loopback only, not ${hostname}`);
    }
    return url;
}

async function main(argv) {
    const { baileys, pino } = await loadBaileys(baileysDirFrom(argv));
    const url = loopbackOnly(option(argv, '--url'));
    const rootKey = Buffer.from(option(argv, '--root-key', ''), 'base64');
    const authDir = option(argv, '--auth-dir');
    const pairingPhone = option(argv, '--pairing-code');
    const exitOnOpen = argv.includes('--exit-on-open');
    const keepPinnedRoot = argv.includes('--keep-pinned-root');
    const noHistorySync = argv.includes('--no-history-sync');
    const verifyAppStateMacs = argv.includes('--verify-app-state-macs');
    if ((rootKey.length !== 32 && !keepPinnedRoot) || !authDir) {
        throw new Error('the probe needs --root-key (32 bytes, base64) and --auth-dir');
    }
    if (!keepPinnedRoot) {
        baileys.WA_CERT_DETAILS.PUBLIC_KEY = rootKey;
    }
    const logger = pino({ level: option(argv, '--log-level', 'warn') }, pino.destination(2));
    const { state, saveCreds } = await baileys.useMultiFileAuthState(authDir);
    let saving = Promise.resolve();
    let connections = 0;
    let askedForCode = false;
    let opened;
    let isOpen = new Promise(resolve => (opened = resolve));
    serveProbeCommands(() => isOpen, emit, process.stdin, { baileys });

    async function finish(reason, code = 0) {
        await saving;
        emit('exit', { reason });
        process.exit(code);
    }

    function connect() {
        connections++;
        const sock = baileys.makeWASocket({
            auth: state,
            waWebSocketUrl: url,
            logger,
            markOnlineOnConnect: false,
            // a test must not wait out Baileys' 60 s default for a query the stand-in does not answer
            defaultQueryTimeoutMs: 20000,
            // with no history-sync notification from the phone, a first login would hold every event 20 s
            ...(noHistorySync ? { shouldSyncHistoryMessage: () => false } : {}),
            ...(verifyAppStateMacs ? { appStateMacVerification: { patch: true, snapshot: true } } : {})
        });
        watchMessages(sock, emit, { baileys });
        watchAppState(sock, emit);
        sock.ev.on('creds.update', () => {
            saving = saving.then(saveCreds);
        });
        sock.ev.on('connection.update', update => {
            const { connection, qr, lastDisconnect, isNewLogin, receivedPendingNotifications } = update;
            const statusCode = lastDisconnect?.error?.output?.statusCode;
            emit('connection', {
                ...(connection ? { connection } : {}),
                ...(qr ? { qr } : {}),
                ...(isNewLogin ? { isNewLogin } : {}),
                ...(receivedPendingNotifications ? { receivedPendingNotifications } : {}),
                ...(connection === 'close' ? { statusCode: statusCode ?? null, error: lastDisconnect?.error?.message ?? null } : {})
            });
            if (qr && pairingPhone && !askedForCode) {
                askedForCode = true;
                sock.requestPairingCode(pairingPhone).then(
                    code => emit('pairing-code', { code }),
                    error => emit('pairing-code-failed', { error: error.message })
                );
            }
            if (connection === 'open') {
                emit('open', { me: sock.user });
                opened(sock);
                if (exitOnOpen) {
                    sock.ev.removeAllListeners('connection.update');
                    sock.end(undefined);
                    void finish('open');
                }
            }
            if (connection === 'close') {
                isOpen = new Promise(resolve => (opened = resolve));
                if (statusCode === baileys.DisconnectReason.restartRequired && connections < MAX_CONNECTIONS) {
                    setImmediate(connect);
                } else {
                    void finish('closed');
                }
            }
        });
    }

    connect();
}

main(process.argv.slice(2)).catch(error => {
    process.stderr.write(`probe: ${error.stack ?? error}\n`);
    process.exit(1);
});
