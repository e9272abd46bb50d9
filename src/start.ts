/**
 * `npm start`: the broker with `./.env` when there is one (a variable already set in the
 * environment wins). Node's own `--env-file-if-exists` prints ".env not found" on every start
 * without one; this says nothing. `node dist/main.js` reads only the environment.
 */
import { existsSync } from 'node:fs';

if (existsSync('.env')) process.loadEnvFile('.env');
// After .env is loaded: main.ts reads the environment as it is imported.
void import('./main.js');
