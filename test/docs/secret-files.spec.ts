import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SECRET_VARIABLES } from '../../src/config/secret-files';

const ROOT = join(__dirname, '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

describe('secrets from files in the shipped configuration', () => {
  it('.env.example shows both forms of every secret', () => {
    const example = read('.env.example');
    for (const name of SECRET_VARIABLES) {
      expect({ [name]: new RegExp(`^${name}=`, 'm').test(example) }).toEqual({ [name]: true });
      if (name !== 'TOKEN_ENCRYPTION_PREVIOUS_KEYS') {
        expect({ [name]: new RegExp(`^# ${name}_FILE=/run/secrets/`, 'm').test(example) }).toEqual({
          [name]: true,
        });
      }
    }
  });

  it('docker-compose.yml takes the passwords from secret files and DATABASE_URL from one place', () => {
    const compose = read('docker-compose.yml');
    const config = compose.replace(/^\s*#.*$/gm, '');
    // No password written in the file, and no DATABASE_URL that would override the one of .env.
    expect(config).not.toMatch(/POSTGRES_PASSWORD:/);
    expect(config).not.toMatch(/\bDATABASE_URL:/);
    expect(config).not.toMatch(/postgres:\/\/[^\s]*:[^\s]*@/);
    expect(config).toMatch(/POSTGRES_PASSWORD_FILE: \/run\/secrets\/postgres_password/);
    expect(config).toMatch(/DATABASE_URL_FILE: \/run\/secrets\/database_url/);
    // Every broker variable read from a file is one the broker accepts as <VAR>_FILE.
    const fileVariables = [...config.matchAll(/^\s+(\w+)_FILE:/gm)]
      .map((match) => match[1])
      .filter((name) => name !== 'POSTGRES_PASSWORD');
    expect(fileVariables.length).toBeGreaterThan(0);
    for (const name of fileVariables) expect(SECRET_VARIABLES).toContain(name);
    // The secret files stay out of git and out of the image's build context.
    for (const match of config.matchAll(/file: (\.\/secrets\/\w+)/g)) {
      expect(match[1]).toMatch(/^\.\/secrets\//);
    }
    expect(read('.gitignore')).toMatch(/^secrets\/$/m);
    expect(read('.dockerignore')).toMatch(/^secrets$/m);
  });

  it("the Dockerfile runs Node 24 (a major the suite is run on, tracing's cheap context), and says how to give secrets as files", () => {
    const dockerfile = read('Dockerfile');
    expect([...dockerfile.matchAll(/^FROM node:(\d+)/gm)].map((match) => match[1])).toEqual([
      '24',
      '24',
    ]);
    expect(read('.ci/run')).toMatch(/node_dir 24/);
    expect(dockerfile).toContain('_FILE=/run/secrets/');
  });
});
