import assert from "node:assert/strict";
import {
  hashPassword,
  PasswordHashFormatError,
  verifyDummy,
  verifyPassword,
} from "../../lib/server/accounts/password_hash.ts";

Deno.test("password hash - self-describing scrypt with a random salt, verified in either spelling of é", async () => {
  const first = await hashPassword("caf\u00e9 au lait");
  const second = await hashPassword("caf\u00e9 au lait");
  assert.match(first, /^scrypt\$15\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
  assert.notEqual(first, second, "each hash has a salt of its own");
  assert.equal(await verifyPassword("caf\u00e9 au lait", first), true);
  assert.equal(await verifyPassword("cafe\u0301 au lait", first), true, "NFD is the same password");
  assert.equal(await verifyPassword("cafe au lait", first), false);
  assert.equal(first.includes("lait"), false);
});

Deno.test("password hash - hashes of other parameters are still verified, and a foreign one is refused", async () => {
  // The same hash with its cost written as N = 2^14: another hash, so no match, but read.
  const hash = await hashPassword("correct horse");
  assert.equal(await verifyPassword("correct horse", hash.replace("$15$", "$14$")), false);
  for (const foreign of ["$2b$10$abcdefghijklmnopqrstuv", "scrypt$99$8$1$AA==$AA==", ""]) {
    await assert.rejects(verifyPassword("x", foreign), PasswordHashFormatError);
  }
});

Deno.test("password hash - the dummy verification never matches", async () => {
  assert.equal(await verifyDummy("anything at all"), false);
});
