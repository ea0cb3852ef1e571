// Baileys lives in this machine's install (`statusgate engines install baileys`, under engines_dir), not
// beside this code, which ships inside the Python package: resolve it from the install's own directory.

import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

export async function importInstalled (installDir, name) {
  const require = createRequire(join(installDir, 'package.json'))
  return import(pathToFileURL(require.resolve(name)).href)
}
