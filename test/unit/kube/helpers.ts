import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Text of a fixture under test/fixtures/kube/. */
export function fixture(name: string): string {
  return readFileSync(fileURLToPath(new URL(`../../fixtures/kube/${name}`, import.meta.url)), 'utf8');
}
