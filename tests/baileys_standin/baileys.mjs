// Loads Baileys (and the packages it brings: ws, pino) from the engine's per-machine install directory.
//
// The stand-in and the probe live in the repository, but Baileys is installed per machine
// (`statusgate engines install baileys`), so nothing here can `import 'baileys'` by name. The install
// directory comes from `--baileys-dir` or STANDIN_BAILEYS_DIR: the directory holding `node_modules/`.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const BAILEYS_DIR_ENV = 'STANDIN_BAILEYS_DIR';

/** The install directory named by `--baileys-dir DIR` in argv, else by STANDIN_BAILEYS_DIR. */
export function baileysDirFrom(argv, env = process.env) {
    const at = argv.indexOf('--baileys-dir');
    const dir = at >= 0 ? argv[at + 1] : env[BAILEYS_DIR_ENV];
    if (!dir) {
        throw new Error(`where is Baileys installed? pass --baileys-dir DIR or set ${BAILEYS_DIR_ENV}`);
    }
    return resolve(dir);
}

/**
 * Baileys' module namespace plus `ws`, `pino`, libsignal's curve module and Baileys' Signal repository
 * (`signal.makeLibSignalRepository`, which its index does not export), all from one install, so that
 * what the probe changes (WA_CERT_DETAILS) is the very object Baileys' noise handler reads.
 */
export async function loadBaileys(installDir) {
    const entry = join(installDir, 'node_modules', 'baileys', 'lib', 'index.js');
    if (!existsSync(entry)) {
        throw new Error(`Baileys is not installed in ${installDir} (no ${entry})`);
    }
    const require = createRequire(join(installDir, 'package.json'));
    const baileys = await import(pathToFileURL(entry).href);
    const signalCurve = createRequire(require.resolve('baileys'))('libsignal/src/curve.js');
    const signal = await import(pathToFileURL(join(installDir, 'node_modules', 'baileys', 'lib', 'Signal', 'libsignal.js')).href);
    return { baileys, ws: require('ws'), pino: require('pino'), signalCurve, signal };
}
