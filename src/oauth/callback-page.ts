/** The small pages the browser sees at the end of a consent: self-contained, no external assets. */

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export const PAGE_HEADERS: Record<string, string> = {
  'Content-Type': 'text/html; charset=utf-8',
  // The callback URL carries a code: never cache the page, never send it on as a Referer.
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  // Nothing but the inline style may load or run; no <base> or form can send the browser on.
  'Content-Security-Policy':
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

export function renderPage(kind: 'success' | 'error', title: string, message: string): string {
  const color = kind === 'success' ? '#13795b' : '#b42318';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font-family: system-ui, sans-serif; background: #f6f7f9; color: #1d2939; margin: 0; }
  main { max-width: 32rem; margin: 12vh auto; background: #fff; padding: 2rem; border-radius: 12px;
         box-shadow: 0 1px 3px rgba(16, 24, 40, .1); border-top: 6px solid ${color}; }
  h1 { font-size: 1.4rem; margin: 0 0 .75rem; color: ${color}; }
  p { line-height: 1.5; margin: 0; }
</style>
</head>
<body>
<main role="${kind === 'success' ? 'status' : 'alert'}">
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
</main>
</body>
</html>
`;
}
