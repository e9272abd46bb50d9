/**
 * The small pages the browser sees at the end of a consent: self-contained, no external assets,
 * in Brazilian Portuguese or English after Accept-Language (RD Station's users are Brazilian, so
 * Portuguese when the header is missing or names neither).
 */

import { CALLBACK_FAILURES } from './oauth.service';

export type Language = 'pt-BR' | 'en';

/**
 * The language of the highest-weighted range of Accept-Language (RFC 9110 §12.5.4) that is
 * Portuguese or English; ties go to the earlier range. Two languages and a default do not need a
 * negotiation library.
 */
export function pickLanguage(header: unknown): Language {
  if (typeof header !== 'string') return 'pt-BR';
  let best: { language: Language; q: number } | null = null;
  for (const range of header.slice(0, 1000).split(',', 50)) {
    const [tag, ...params] = range.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!(q > 0 && q <= 1)) continue;
    const primary = tag.trim().split('-')[0];
    const language: Language | null = primary === 'pt' ? 'pt-BR' : primary === 'en' ? 'en' : null;
    if (language && (!best || q > best.q)) best = { language, q };
  }
  return best?.language ?? 'pt-BR';
}

const PRODUCT_NAMES = { crm: 'RD Station CRM', marketing: 'RD Station Marketing' };

/** Everything a page says, per language. Failure reasons: the callback's `reason` (README, "Callback failure reasons"). */
export const PAGE_TEXT: Record<
  Language,
  {
    connectedTitle: string;
    connected: (product: 'crm' | 'marketing', account: string) => string;
    failedTitle: string;
    failures: Record<string, string>;
    /** For a reason without a sentence of its own. */
    failedGeneric: string;
    errorWord: string;
    /** The page of a connect or reconnect link, before its button is pressed. */
    linkTitle: (product: 'crm' | 'marketing') => string;
    link: (kind: 'connect' | 'reconnect', product: 'crm' | 'marketing', account: string) => string;
    linkButton: string;
  }
> = {
  en: {
    connectedTitle: 'Connected',
    connected: (product, account) =>
      `${PRODUCT_NAMES[product]} is now connected for account ${account}. You can close this window.`,
    failedTitle: 'Connection failed',
    failedGeneric: 'The connection could not be completed. Nothing was connected.',
    errorWord: 'error',
    linkTitle: (product) => `Connect ${PRODUCT_NAMES[product]}`,
    link: (kind, product, account) =>
      (kind === 'reconnect'
        ? `The connection of ${PRODUCT_NAMES[product]} for account ${account} stopped working and must be authorized again. `
        : `You were invited to connect ${PRODUCT_NAMES[product]} for account ${account}. `) +
      'Press Connect to sign in at RD Station and authorize the access.',
    linkButton: 'Connect',
    // The English sentences are the reasons' own (oauth.service.ts); translations follow them.
    failures: {
      ...CALLBACK_FAILURES,
      reconnect_link_invalid:
        'This reconnect link is unknown, was already used, or has expired. Ask for a new one.',
      connect_link_invalid:
        'This connection link is unknown, was already used, or has expired. Ask for a new one.',
    },
  },
  'pt-BR': {
    connectedTitle: 'Conectado',
    connected: (product, account) =>
      `${PRODUCT_NAMES[product]} está conectado à conta ${account}. Você já pode fechar esta janela.`,
    failedTitle: 'Não foi possível conectar',
    failedGeneric: 'Não foi possível concluir a conexão. Nada foi conectado.',
    errorWord: 'erro',
    linkTitle: (product) => `Conectar ${PRODUCT_NAMES[product]}`,
    link: (kind, product, account) =>
      (kind === 'reconnect'
        ? `A conexão do ${PRODUCT_NAMES[product]} da conta ${account} parou de funcionar e precisa ser autorizada de novo. `
        : `Você foi convidado a conectar o ${PRODUCT_NAMES[product]} à conta ${account}. `) +
      'Clique em Conectar para entrar no RD Station e autorizar o acesso.',
    linkButton: 'Conectar',
    failures: {
      invalid_state:
        'Este link de autorização é desconhecido, já foi usado ou expirou. Comece a conexão de novo.',
      access_denied: 'A autorização foi recusada no RD Station. Nada foi conectado.',
      provider_error:
        'O RD Station devolveu um erro em vez de uma autorização. Nada foi conectado.',
      missing_code:
        'O RD Station devolveu o navegador sem um código de autorização. Comece a conexão de novo.',
      code_rejected:
        'O RD Station recusou o código de autorização (ele pode ter expirado). Comece a conexão de novo.',
      app_misconfigured:
        'O RD Station recusou as configurações do app RD deste broker (client id ou secret) ao concluir a conexão. ' +
        'Nada foi conectado; o operador do broker precisa corrigi-las.',
      invalid_issuer:
        'A resposta da autorização não veio do servidor do RD Station esperado. Nada foi conectado.',
      provider_unavailable:
        'Não foi possível falar com o RD Station para concluir a conexão. Tente de novo em instantes.',
      reconnect_link_invalid:
        'Este link de reconexão é desconhecido, já foi usado ou expirou. Peça um novo link.',
      connect_link_invalid:
        'Este link de conexão é desconhecido, já foi usado ou expirou. Peça um novo link.',
    },
  },
};

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

/**
 * A link page's headers: those of the callback pages, except that its one form may post to the
 * page itself, and the 303 that answers it may go on to RD's consent (`consentOrigins`).
 */
export function linkPageHeaders(consentOrigins: readonly string[]): Record<string, string> {
  return {
    ...PAGE_HEADERS,
    'Content-Security-Policy':
      `default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; ` +
      `form-action 'self' ${consentOrigins.join(' ')}; frame-ancestors 'none'`,
  };
}

/**
 * The page of a connect or reconnect link: what it connects, and a Connect button that posts to
 * the link itself. Viewing it (or a link preview fetching it) uses nothing up; the POST does.
 */
export function linkPage(
  language: Language,
  kind: 'connect' | 'reconnect',
  product: 'crm' | 'marketing',
  account: string,
): string {
  const text = PAGE_TEXT[language];
  // No action attribute: the form posts to the page's own URL, the link.
  const form = `<form method="post"><button type="submit">${escapeHtml(text.linkButton)}</button></form>`;
  return renderPage(
    language,
    'action',
    text.linkTitle(product),
    text.link(kind, product, account),
    form,
  );
}

/** The page saying the connection worked. */
export function successPage(
  language: Language,
  product: 'crm' | 'marketing',
  account: string,
): string {
  const text = PAGE_TEXT[language];
  return renderPage(language, 'success', text.connectedTitle, text.connected(product, account));
}

/**
 * The page saying why it failed; an unknown reason falls back to a generic sentence. A provider's
 * own error code (`provider_error`) is shown after it, escaped like everything else.
 */
export function failurePage(language: Language, reason: string, providerError?: string): string {
  const text = PAGE_TEXT[language];
  const message =
    (text.failures[reason] ?? text.failedGeneric) +
    (providerError ? ` (${text.errorWord}: ${providerError})` : '');
  return renderPage(language, 'error', text.failedTitle, message);
}

const COLORS = { success: '#13795b', error: '#b42318', action: '#1d4ed8' };

export function renderPage(
  language: Language,
  kind: 'success' | 'error' | 'action',
  title: string,
  message: string,
  /** Trusted markup after the message (the link page's form); never user input. */
  extra = '',
): string {
  const color = COLORS[kind];
  return `<!doctype html>
<html lang="${language}">
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
  button { margin-top: 1.25rem; font: inherit; font-weight: 600; color: #fff; background: ${color};
           border: 0; border-radius: 8px; padding: .6rem 1.4rem; cursor: pointer; }
</style>
</head>
<body>
<main role="${kind === 'error' ? 'alert' : 'status'}">
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
${extra}</main>
</body>
</html>
`;
}
