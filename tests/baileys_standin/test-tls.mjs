// A throwaway TLS identity for the loopback media host: a test CA and a server certificate for the IP
// 127.0.0.1 (an IP SAN: Baileys' upload URL names the host by address), made at start-up with the
// `openssl` CLI, since Node can sign but not build an X.509 certificate. Random keys each run: nothing
// outside one run trusts them, and a Baileys process is told to with NODE_EXTRA_CA_CERTS=<ca.pem>.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = statusgate stand-in test CA
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Writes ca.pem, cert.pem and key.pem into `dir` → their paths. Throws if there is no openssl. */
export function makeTestTls(dir) {
    mkdirSync(dir, { recursive: true });
    const file = name => join(dir, name);
    writeFileSync(file('openssl.cnf'), CONFIG);
    // a private config: the machine's openssl.cnf must not add or clash with extensions
    const openssl = args => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    openssl(['req', '-x509', '-config', 'openssl.cnf', '-extensions', 'ca', ...EC_KEY, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2']);
    openssl(['req', '-new', '-config', 'openssl.cnf', '-subj', '/CN=127.0.0.1', ...EC_KEY, '-keyout', 'key.pem', '-out', 'server.csr']);
    openssl([
        'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-set_serial', '2', '-days', '2',
        '-extfile', 'openssl.cnf', '-extensions', 'server', '-out', 'cert.pem'
    ]);
    return { caFile: file('ca.pem'), certFile: file('cert.pem'), keyFile: file('key.pem') };
}
