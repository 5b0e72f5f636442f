// A typed phone number shown back as the server reads it (national forms in the site's region),
// before anything is submitted: a mistyped number is seen here, not after every code went to a
// stranger. Used by registration and by the account page's phone change.
import { post } from './api.js';

/** Shows `say(international)` in `output` a moment after `input` stops changing (nothing stored). */
export function wirePhoneEcho(input, output, say = (number) => `We will text ${number}.`) {
  let timer = null;
  let echoed = '';
  async function echo() {
    const typed = input.value.trim();
    if (typed === echoed) return;
    echoed = typed;
    if (typed.replace(/[^0-9]/g, '').length < 7) {
      output.textContent = '';
      return;
    }
    const result = await post('/api/phone/check', { phone: typed });
    if (input.value.trim() !== typed) return; // typed on meanwhile
    output.textContent =
      result.ok && typeof result.data?.international === 'string' ? say(result.data.international) : '';
  }
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(echo, 400);
  });
  input.addEventListener('blur', echo);
}
