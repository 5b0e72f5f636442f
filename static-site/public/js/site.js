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

/** Adds when a SIM-changed number works again to `body`, once the site's settings are known. */
export async function appendWindow(body) {
  const { simChangeWindowDays } = await siteInfo();
  body.append(windowParagraph(simChangeWindowDays));
}

/** Adds when it works again and how to reach support to `body`, once the site's settings are known. */
export async function appendSupport(body) {
  const { support, simChangeWindowDays } = await siteInfo();
  body.append(windowParagraph(simChangeWindowDays), supportParagraph(support));
}

/** Adds how to reach support (no SIM-change window) to `body`, once the site's settings are known. */
export async function appendContact(body) {
  const { support } = await siteInfo();
  body.append(supportParagraph(support));
}
