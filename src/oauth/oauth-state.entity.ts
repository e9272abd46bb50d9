import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { Product } from '../config/config';

/** A consent in progress. Only the SHA-256 of the random state is stored. */
@Entity('oauth_states')
export class OAuthState {
  @PrimaryColumn({ name: 'state_hash', type: 'bytea' })
  stateHash: Buffer;

  @Column({ type: 'varchar', length: 128 })
  account: string;

  @Column({ type: 'varchar', length: 16 })
  product: Product;

  @Column({ name: 'return_to', type: 'text', nullable: true })
  returnTo: string | null;

  /** The PKCE code_verifier, encrypted by TokenCipher; null when PKCE is off. */
  @Column({ name: 'code_verifier', type: 'text', nullable: true })
  codeVerifierCiphertext: string | null;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt: Date;
}
