import {
  failurePage,
  linkPage,
  PAGE_TEXT,
  pickLanguage,
  successPage,
} from '../../src/oauth/callback-page';
import { CALLBACK_FAILURES } from '../../src/oauth/oauth.service';

describe('callback pages', () => {
  it.each([
    [undefined, 'pt-BR'],
    ['', 'pt-BR'],
    ['pt-BR', 'pt-BR'],
    ['pt', 'pt-BR'],
    ['pt-PT,en;q=0.5', 'pt-BR'],
    ['en', 'en'],
    ['en-US,en;q=0.9', 'en'],
    ['en-US,pt-BR;q=0.8', 'en'],
    ['fr-FR,en;q=0.7,pt;q=0.9', 'pt-BR'],
    ['fr-FR,en;q=0.7', 'en'],
    ['de, fr', 'pt-BR'], // unsure: Portuguese
    ['*', 'pt-BR'],
    ['en;q=0, pt;q=0', 'pt-BR'],
    ['en;q=abc', 'pt-BR'],
    ['EN-us', 'en'],
    [`${'x,'.repeat(5000)}en`, 'pt-BR'], // a hostile header is cut short, not parsed whole
  ])('Accept-Language %p → %s', (header, expected) => {
    expect(pickLanguage(header)).toBe(expected);
  });

  it('has a Portuguese sentence for every callback reason and the reconnect link', () => {
    for (const reason of [
      ...Object.keys(CALLBACK_FAILURES),
      'reconnect_link_invalid',
      'connect_link_invalid',
    ]) {
      expect(PAGE_TEXT['pt-BR'].failures[reason]).toEqual(expect.any(String));
      expect(PAGE_TEXT.en.failures[reason]).toEqual(expect.any(String));
    }
  });

  it('escapes what it shows and names its language', () => {
    const page = successPage('pt-BR', 'crm', 'a<b>');
    expect(page).toContain('<html lang="pt-BR">');
    expect(page).toContain('a&#60;b&#62;');
    expect(failurePage('en', 'no_such_reason')).toContain('could not be completed');
  });

  it('shows a link page naming the product and account, with a form posting to the link itself', () => {
    const page = linkPage('en', 'connect', 'marketing', 'acme<1>');
    expect(page).toContain('Connect RD Station Marketing');
    expect(page).toContain('acme&#60;1&#62;');
    expect(page).toContain('<form method="post"><button type="submit">Connect</button></form>');
    expect(linkPage('pt-BR', 'reconnect', 'crm', 'x')).toContain('precisa ser autorizada de novo');
  });
});
