// What the probe reports of Baileys' app-state sync (Socket/chats.js resyncAppState → processSyncAction),
// one JSON line per Baileys event, in the order Baileys emits them:
//   {"event": "contacts-upsert", "contacts": [{id, name?, username?, lid?, phoneNumber?}, …]}
//   {"event": "contacts-update", "contacts": [{id, …}, …]}
//   {"event": "app-state-key", "keyId"}   (creds.update with myAppStateKeyId: a key share was stored)
// resyncAppState is a buffered function: every contact of one sync comes in one contacts.upsert, in the
// order of the mutations (a contact changed twice in one sync keeps its first place).
export function watchAppState(sock, emit) {
    sock.ev.on('contacts.upsert', contacts => emit('contacts-upsert', { contacts }));
    sock.ev.on('contacts.update', contacts => emit('contacts-update', { contacts }));
    sock.ev.on('creds.update', ({ myAppStateKeyId }) => {
        if (myAppStateKeyId) {
            emit('app-state-key', { keyId: myAppStateKeyId });
        }
    });
}
