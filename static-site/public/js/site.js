// The site's name and support contact, from /site.json: written at deploy time from the stack's
// SiteName and SupportContact (scripts/deploy-site), served by the local stack from its settings.
// Missing or unreadable, the pages say "our support team" instead.

let info;

/** @returns {Promise<{ name: string, support: string, simChangeWindowDays: number }>} */
export function siteInfo() {
  info ??= fetch('/site.json', { headers: { accept: 'application/json' } })
    .then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({}))
    .then((j) => ({
      name: typeof j?.name === 'string' ? j.name : '',
      support: typeof j?.support === 'string' ? j.support.trim() : '',
      simChangeWindowDays: Number.isInteger(j?.sim_change_window_days) ? j.sim_change_window_days : 0,
    }));
  return info;
}

const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;
const HTTPS = /^https:\/\/[^\s"<>]+$/;

/** The support contact as an element: a link for an address or an https page; null when none. */
export function supportContact(support) {
  if (!support) return null;
  const href = EMAIL.test(support) ? `mailto:${support}` : HTTPS.test(support) ? support : null;
  const contact = document.createElement(href ? 'a' : 'strong');
  if (href) contact.href = href;
  contact.textContent = support;
  return contact;
}

/** "Contact <support> to regain access to your account." */
function supportParagraph(support) {
  const p = document.createElement('p');
  p.className = 'support';
  p.append('Contact ', supportContact(support) ?? 'our support team', ' to regain access to your account.');
  return p;
}

/** When a SIM-changed phone can be used again, as far as the site's window says. */
function windowParagraph(days) {
  const p = document.createElement('p');
  p.className = 'window';
  p.textContent =
    days > 0
      ? `If the SIM change was yours, this works again ${days} ${days === 1 ? 'day' : 'days'} after the change.`
      : 'If the SIM change was yours, this works again once some time has passed since the change.';
  return p;
}

/**
 * Adds to `body`, once the site's settings are known, what a refusal page's entry asks for: when a
 * SIM-changed number works again (`window`) and how to reach support (`contact`); `support` is both.
 * @param {HTMLElement} body
 * @param {{ support?: boolean, window?: boolean, contact?: boolean }} entry
 */
export async function appendHelp(body, entry) {
  const showWindow = entry.support === true || entry.window === true;
  const showContact = entry.support === true || entry.contact === true;
  if (!showWindow && !showContact) return;
  const { support, simChangeWindowDays } = await siteInfo();
  if (showWindow) body.append(windowParagraph(simChangeWindowDays));
  if (showContact) body.append(supportParagraph(support));
}
