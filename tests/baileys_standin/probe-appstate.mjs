// What the probe reports of Baileys' app-state sync (Socket/chats.js resyncAppState → processSyncAction),
// one JSON line per Baileys event, in the order Baileys emits them:
//   {"event": "contacts-upsert", "contacts": [{id, name?, username?, lid?, phoneNumber?}, …]}
//   {"event": "contacts-update", "contacts": [{id, …}, …]}
//   {"event": "app-state-key", "keyId"}   (creds.update with myAppStateKeyId: a key share was stored)
//   {"event": "history-set", "syncType", "isLatest", "chats", "contacts", "messages"} (messaging-history.set,
//    the lists' lengths)
// resyncAppState is a buffered function: every contact of one sync comes in one contacts.upsert, in the
// order of the mutations (a contact changed twice in one sync keeps its first place).
export function watchAppState(sock, emit) {
    sock.ev.on('contacts.upsert', contacts => emit('contacts-upsert', { contacts }));
    sock.ev.on('contacts.update', contacts => emit('contacts-update', { contacts }));
    sock.ev.on('messaging-history.set', ({ chats, contacts, messages, syncType, isLatest }) =>
        emit('history-set', { syncType: syncType ?? null, isLatest: isLatest ?? null, chats: chats.length, contacts: contacts.length, messages: messages.length })
    );
    sock.ev.on('creds.update', ({ myAppStateKeyId }) => {
        if (myAppStateKeyId) {
            emit('app-state-key', { keyId: myAppStateKeyId });
        }
    });
}
