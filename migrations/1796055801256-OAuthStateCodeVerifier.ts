import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * oauth_states.code_verifier: the PKCE verifier of a consent in progress (RD_<PRODUCT>_PKCE=true),
 * encrypted like the tokens, so it never sits in the database (or a dump of it) in clear.
 */
export class OAuthStateCodeVerifier1796055801256 implements MigrationInterface {
  name = 'OAuthStateCodeVerifier1796055801256';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE oauth_states ADD COLUMN code_verifier text`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE oauth_states DROP COLUMN code_verifier`);
  }
}
