// /reset/result.html?r=<code>: the code only selects an entry of a fixed table.
import { RESULTS, RESULT_GENERIC, lookup } from './messages.js';
import { $, clearResetCsrf, params } from './ui.js';

const result = lookup(RESULTS, params().get('r')) ?? RESULT_GENERIC;

// Every outcome shown here ends the flow: its token is of no further use.
clearResetCsrf();

const title = $('#title');
const body = $('#body');
const actions = $('#actions');

title.textContent = result.title;
document.title = `${result.title} — simguard`;
body.replaceChildren(
  ...result.text.map((line) => {
    const p = document.createElement('p');
    p.textContent = line;
    return p;
  }),
);
actions.replaceChildren(
  ...result.actions.map(({ href, label }) => {
    const a = document.createElement('a');
    a.className = 'button';
    a.href = href;
    a.textContent = label;
    return a;
  }),
);
