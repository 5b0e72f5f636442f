// The site's name and support contact, from /site.json (see site.js). The name goes in the header,
// the footer and the tab's title of every page; "simguard" stays where the site gives none. The
// contact replaces the text of every [data-support-contact] element ("our support team" in the
// page's HTML stays where the site gives none).
import { siteInfo, supportContact } from './site.js';

const DEFAULT = 'simguard';

siteInfo().then(({ name, support }) => {
  for (const el of document.querySelectorAll('[data-support-contact]')) {
    const contact = supportContact(support);
    if (contact) el.replaceChildren(contact);
  }
  const shown = name.trim();
  if (!shown || shown === DEFAULT) return;
  for (const el of document.querySelectorAll('[data-site-name]')) el.textContent = shown;
  if (document.title.endsWith(` — ${DEFAULT}`)) {
    document.title = `${document.title.slice(0, -DEFAULT.length)}${shown}`;
  }
});
