// `npm run -s keygen -w services/users`: prints a fresh private signing key (a
// JWK) for USER_TOKEN_SIGNING_KEYS. `-- --array` prints it as a one-key array,
// the whole value of the variable. The key is a secret: keep it out of logs.
import { generateSigningKey } from './signing-keys.js';

const key = await generateSigningKey();
process.stdout.write(`${JSON.stringify(process.argv.includes('--array') ? [key] : key)}\n`);
