// The site's name, from /site.json (see site.js), in the header, the footer and the tab's title of
// every page; "simguard" stays where the site gives none.
import { siteInfo } from './site.js';

const DEFAULT = 'simguard';

siteInfo().then(({ name }) => {
  const shown = name.trim();
  if (!shown || shown === DEFAULT) return;
  for (const el of document.querySelectorAll('[data-site-name]')) el.textContent = shown;
  if (document.title.endsWith(` — ${DEFAULT}`)) {
    document.title = `${document.title.slice(0, -DEFAULT.length)}${shown}`;
  }
});
