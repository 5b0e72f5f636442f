// A stand-in for Amazon Cognito's user-pool API, enough for a custom-authentication sign-in:
// InitiateAuth (CUSTOM_AUTH with SRP_A) and RespondToAuthChallenge (PASSWORD_VERIFIER, then
// CUSTOM_CHALLENGE rounds), calling the real triggers as Cognito would — through the local stack's
// `POST /dev/cognito-trigger`, with the events Cognito sends. What it does not model: SRP itself (any
// password proof is accepted: checking the password is Cognito's job, not simguard's), token
// signatures, and every other operation. moto's cognito-idp does not invoke auth-challenge triggers,
// hence this.
import { createServer } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';

/**
 * @param {{ stackSite: string, userPoolId: string, users: Record<string, Record<string, string>> }} options
 *   `users`: username → Cognito attributes (phone_number, phone_number_verified, email, …).
 */
export async function startFakeCognito({ stackSite, userPoolId, users }) {
  const sessions = new Map();
  const calls = [];

  const trigger = async (source, username, request) => {
    const event = {
      version: '1',
      region: userPoolId.split('_')[0],
      userPoolId,
      userName: username,
      callerContext: { awsSdkVersion: 'aws-sdk-unknown-unknown', clientId: 'example-client' },
      triggerSource: source,
      request: { userAttributes: users[username], ...request },
      response: {},
    };
    calls.push(source);
    const res = await fetch(`${stackSite}/dev/cognito-trigger`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(event),
    });
    if (!res.ok) throw new Error(`${source}: ${res.status} ${await res.text()}`);
    return (await res.json()).response;
  };

  const refused = () => ({ status: 400, body: { __type: 'NotAuthorizedException', message: 'Incorrect username or password.' } });

  /** Define's decision from the rounds so far, and Create's challenge when it asks for one. */
  const next = async (state) => {
    const define = await trigger('DefineAuthChallenge_Authentication', state.username, { session: state.rounds, userNotFound: false });
    if (define.failAuthentication) return refused();
    if (define.issueTokens) {
      const token = (use) => {
        const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
        const now = Math.floor(Date.now() / 1000);
        const claims = { sub: users[state.username].sub, email: users[state.username].email, token_use: use, iat: now, exp: now + 3600 };
        return `${part({ alg: 'none' })}.${part(claims)}.`;
      };
      return {
        status: 200,
        body: { ChallengeParameters: {}, AuthenticationResult: { IdToken: token('id'), AccessToken: token('access'), RefreshToken: randomUUID(), ExpiresIn: 3600, TokenType: 'Bearer' } },
      };
    }
    if (define.challengeName === 'PASSWORD_VERIFIER') {
      const session = randomUUID();
      sessions.set(session, state);
      return {
        status: 200,
        body: {
          ChallengeName: 'PASSWORD_VERIFIER',
          Session: session,
          ChallengeParameters: {
            SALT: randomBytes(16).toString('hex'),
            SRP_B: `1${randomBytes(383).toString('hex')}`,
            SECRET_BLOCK: randomBytes(64).toString('base64'),
            USERNAME: state.username,
            USER_ID_FOR_SRP: state.username,
          },
        },
      };
    }
    const create = await trigger('CreateAuthChallenge_Authentication', state.username, {
      challengeName: define.challengeName,
      session: state.rounds,
      clientMetadata: state.clientMetadata,
    });
    state.pending = create;
    const session = randomUUID();
    sessions.set(session, state);
    return { status: 200, body: { ChallengeName: 'CUSTOM_CHALLENGE', Session: session, ChallengeParameters: create.publicChallengeParameters } };
  };

  const operations = {
    InitiateAuth: async (req) => {
      const username = req.AuthParameters?.USERNAME;
      if (req.AuthFlow !== 'CUSTOM_AUTH' || !users[username]) return refused();
      const state = { username, rounds: [], clientMetadata: req.ClientMetadata ?? {} };
      if (req.AuthParameters.SRP_A) state.rounds.push({ challengeName: 'SRP_A', challengeResult: true, challengeMetadata: null });
      return next(state);
    },
    RespondToAuthChallenge: async (req) => {
      const state = sessions.get(req.Session);
      // A session answers once: Cognito hands out a new one with each challenge.
      sessions.delete(req.Session);
      if (!state) return { status: 400, body: { __type: 'NotAuthorizedException', message: 'Invalid session for the user.' } };
      if (req.ClientMetadata) state.clientMetadata = req.ClientMetadata;
      if (req.ChallengeName === 'PASSWORD_VERIFIER') {
        state.rounds.push({ challengeName: 'PASSWORD_VERIFIER', challengeResult: true, challengeMetadata: null });
        return next(state);
      }
      if (req.ChallengeName !== 'CUSTOM_CHALLENGE' || !state.pending) return refused();
      const verify = await trigger('VerifyAuthChallengeResponse_Authentication', state.username, {
        privateChallengeParameters: state.pending.privateChallengeParameters,
        challengeAnswer: req.ChallengeResponses?.ANSWER ?? '',
        clientMetadata: state.clientMetadata,
      });
      state.rounds.push({ challengeName: 'CUSTOM_CHALLENGE', challengeResult: verify.answerCorrect, challengeMetadata: state.pending.challengeMetadata });
      state.pending = null;
      return next(state);
    },
  };

  const server = createServer(async (req, res) => {
    const cors = {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Headers': 'content-type, x-amz-target, x-amz-user-agent, cache-control',
      'Access-Control-Allow-Methods': 'POST',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      return res.end();
    }
    let body = '';
    for await (const chunk of req) body += chunk;
    const operation = (req.headers['x-amz-target'] ?? '').split('.').at(-1);
    let answer;
    try {
      answer = operations[operation] ? await operations[operation](JSON.parse(body)) : { status: 400, body: { __type: 'InvalidAction' } };
    } catch (e) {
      answer = { status: 500, body: { __type: 'InternalErrorException', message: e.message } };
    }
    res.writeHead(answer.status, { ...cors, 'Content-Type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address();
  return { endpoint: `http://127.0.0.1:${port}/`, calls, stop: () => new Promise((res) => server.close(res)) };
}
