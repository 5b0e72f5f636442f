// Where the silent check comes back (SIMGUARD_COGNITO_RETURN_URL): its parameters answer the round.
import { resume } from './challenge.js';

await resume();
