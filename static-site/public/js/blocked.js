// /blocked.html?r=<code>&flow=<reset|login|phone>[&n=new]: where the SMS path stops (SIM changed, no
// SIM answer, too many wrong codes; `n=new`: a phone change's new number). The parameters only select
// entries of fixed tables; unknown codes get the generic text.
import { BLOCKED, BLOCKED_GENERIC, BLOCKED_NEW_NUMBER, HELP_ACTION, RESTART, lookup } from './messages.js';
import { appendHelp } from './site.js';
import { $, clearFlowCsrf, params } from './ui.js';

const query = params();
const newNumber = query.get('flow') === 'phone' && query.get('n') === 'new';
const blocked = lookup(newNumber ? BLOCKED_NEW_NUMBER : BLOCKED, query.get('r')) ?? BLOCKED_GENERIC;
const restart = lookup(RESTART, query.get('flow')) ?? RESTART.login;

// Whatever stopped here, the flow is over: its token is of no further use.
clearFlowCsrf('reset');
clearFlowCsrf('login');
clearFlowCsrf('phone');

$('#title').textContent = blocked.title;
document.title = `${blocked.title} — simguard`;
$('#body').replaceChildren(
  ...blocked.text.map((line) => {
    const p = document.createElement('p');
    p.textContent = line;
    return p;
  }),
);
appendHelp($('#body'), blocked);
const actions = blocked.help ? [HELP_ACTION, { ...restart, secondary: true }] : [restart];
$('#actions').replaceChildren(
  ...actions.map(({ href, label, secondary }) => {
    const a = document.createElement('a');
    a.className = secondary ? 'button secondary' : 'button';
    a.href = href;
    a.textContent = label;
    return a;
  }),
);
