import assert from "node:assert/strict";
import { NicknameCoordinator } from "../../lib/server/workers/nickname_coordinator.ts";

Deno.test("nickname coordinator - the first claim wins; others get taken until it is released", () => {
  const names = new NicknameCoordinator();
  assert.equal(names.claim("alice", "1:1001"), "claimed");
  assert.equal(names.claim("alice", "2:1002"), "taken");
  // Claiming again what one holds is no conflict.
  assert.equal(names.claim("alice", "1:1001", "alice"), "claimed");
  names.release("1:1001");
  assert.equal(names.holder("alice"), undefined);
  assert.equal(names.claim("alice", "2:1002"), "claimed");
  assert.equal(names.holder("alice"), "2:1002");
});

Deno.test("nickname coordinator - a new name frees the old one, with or without previousKey", () => {
  const names = new NicknameCoordinator();
  names.claim("alice", "1:1001");
  assert.equal(names.claim("alicia", "1:1001", "alice"), "claimed");
  assert.equal(names.holder("alice"), undefined);
  assert.equal(names.claim("alice", "2:1002"), "claimed");
  // The coordinator knows what each holder holds: a claim frees it even unnamed.
  assert.equal(names.claim("ally", "1:1001"), "claimed");
  assert.equal(names.holder("alicia"), undefined);
  assert.equal(names.size, 2);
});

Deno.test("nickname coordinator - a lost claim keeps the loser's name; a release of nothing is harmless", () => {
  const names = new NicknameCoordinator();
  names.claim("alice", "1:1001");
  names.claim("bob", "2:1002");
  assert.equal(names.claim("alice", "2:1002", "bob"), "taken");
  assert.equal(names.holder("bob"), "2:1002");
  // A previousKey someone else holds is not the claimant's to free.
  assert.equal(names.claim("carol", "3:1003", "alice"), "claimed");
  assert.equal(names.holder("alice"), "1:1001");
  names.release("9:9009");
  names.release("2:1002");
  names.release("2:1002");
  assert.equal(names.holder("bob"), undefined);
  assert.equal(names.size, 2);
});
