// The `usync` iq: what Baileys asks about users (WAUSync/). A query names its protocols in <query> and its
// users in <list>; the answer lists each user with one node per protocol, which Baileys' parsers read
// (USyncQuery.parseUSyncQueryResult): only usync > list > user[jid] > <protocol> matters to them.
//
//   devices  <devices><device-list><device id="0"/><device id="N" key-index="K"/>…</device-list></devices>
//            (Baileys drops a non-zero device without key-index, and the sending device itself)
//   lid      <lid val="LID@lid"/>, or <lid/> for a user without one
//   contact  (onWhatsApp: the user is <contact>+number</contact>, no jid) <contact type="in"|"out"/>
//
// A user the stand-in does not know has no devices and no LID (and is reported); a protocol it does not
// answer fails the whole iq with 501, like an iq with no handler.
import { bytes, child, children, IqError } from './stanzas.mjs';
import { userJid } from './users.mjs';

const ANSWERS = {
    devices: (found, users) => ({
        tag: 'devices',
        attrs: {},
        content: [
            {
                tag: 'device-list',
                attrs: {},
                content: (found ? users.devicesOf(found.user) : []).map(({ id, keyIndex }) => ({
                    tag: 'device',
                    attrs: keyIndex === undefined ? { id: String(id) } : { id: String(id), 'key-index': String(keyIndex) }
                }))
            }
        ]
    }),
    lid: found => ({ tag: 'lid', attrs: found?.user.lid ? { val: userJid(found.user.lid, 'lid') } : {} }),
    contact: found => ({ tag: 'contact', attrs: { type: found ? 'in' : 'out' } })
};

/** usync/usync: answers every user of the query for every protocol it names. */
export function usync(iq, ctx) {
    const request = child(iq, 'usync');
    const protocols = children(child(request, 'query')).map(p => p.tag);
    const missing = protocols.filter(p => !Object.hasOwn(ANSWERS, p));
    if (missing.length) {
        throw new IqError(501, `usync protocols the stand-in does not answer: ${missing}`);
    }
    const unknown = [];
    const list = children(child(request, 'list'), 'user').map(user => {
        const { jid, found } = lookUp(user, ctx.users);
        if (!found) {
            unknown.push(jid);
        }
        return { tag: 'user', attrs: { jid }, content: protocols.map(p => ANSWERS[p](found, ctx.users)) };
    });
    ctx.events.emit('usync', {
        conn: ctx.conn.id,
        context: request.attrs.context,
        protocols,
        users: list.map(u => u.attrs.jid),
        unknown
    });
    return [
        {
            tag: 'usync',
            attrs: { sid: request.attrs.sid, mode: request.attrs.mode, context: request.attrs.context, last: 'true', index: '0' },
            content: [{ tag: 'list', attrs: {}, content: list }]
        }
    ];
}

/** A <user> of the query: by its jid, or (onWhatsApp) by the phone number in its <contact>. */
function lookUp(user, users) {
    if (user.attrs.jid) {
        return { jid: user.attrs.jid, found: users.resolve(user.attrs.jid) };
    }
    const number = bytes(child(user, 'contact'))?.toString().replace(/^\+/, '');
    if (!number || !/^\d+$/.test(number)) {
        throw new IqError(400, 'a usync user with neither a jid nor a +number contact');
    }
    const jid = userJid(number, 's.whatsapp.net');
    return { jid, found: users.resolve(jid) };
}
