/**
 * PyRestServer's side of obscuring, independently of our code: vaultconfig's Obscurer
 * (Python `cryptography`, the library vaultconfig uses) with PyRestServer's key.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export const KEY_HEX = '0a34b62682e9bae989fc36e770382b38f598f3ceff418e241da459fc801c7863';

const PYTHON = `
import base64, json, os, sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
key = bytes.fromhex(${JSON.stringify(KEY_HEX)})
def crypt(data, iv):
    e = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return e.update(data) + e.finalize()
def obscure(p):
    if not p: return ""
    iv = os.urandom(16)
    return base64.urlsafe_b64encode(iv + crypt(p.encode("utf-8"), iv)).decode("ascii").rstrip("=")
def reveal(o):
    if not o: return ""
    raw = base64.urlsafe_b64decode((o + "=" * ((4 - len(o) % 4) % 4)).encode("ascii"))
    if len(raw) < 16: raise ValueError("Input too short - is it obscured?")
    return crypt(raw[16:], raw[:16]).decode("utf-8")
req = json.load(sys.stdin)
print(json.dumps({"obscured": [obscure(v) for v in req["obscure"]], "revealed": [reveal(v) for v in req["reveal"]]}))
`;

function python(req: { obscure: string[]; reveal: string[] }): { obscured: string[]; revealed: string[] } {
  const run = spawnSync('python3', ['-c', PYTHON], { input: JSON.stringify(req), encoding: 'utf8' });
  assert.equal(run.error, undefined, 'python3 must be installed');
  assert.equal(run.status, 0, `python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** Values obscured the way PyRestServer does. */
export const pyObscure = (values: string[]): string[] => python({ obscure: values, reveal: [] }).obscured;
/** Values revealed the way PyRestServer does (fails on a value it cannot reveal). */
export const pyReveal = (values: string[]): string[] => python({ obscure: [], reveal: values }).revealed;
