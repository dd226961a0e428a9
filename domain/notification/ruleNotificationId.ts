const FNV_OFFSET_BASIS = 0x6c62272e07bb014262b821756295c58dn;
const FNV_PRIME = 0x0000000001000000000000000000013bn;
const MASK_128 = (1n << 128n) - 1n;
const MIX_1 = 0x9e3779b97f4a7c15f39cc0605cedc835n;
const MIX_2 = 0xff51afd7ed558ccdc4ceb9fe1a85ec53n;

/**
 * The notification id for one qualification episode of one rule on one account: the same inputs
 * always give the same id, so a redelivered `AccountQualified` lands on the notification stream
 * that already exists and can never create a second SMS.
 *
 * A UUID version 8 (RFC 9562, "custom"): 122 bits of a 128-bit hash of the UTF-8 JSON array
 * `["tidemark/rule-notification/v1", accountId, ruleId, episode]`. JSON so that no two different
 * triples share an input; the version tag so the scheme can change without colliding with old ids.
 * The hash is FNV-1a followed by a multiply-xorshift finaliser (FNV alone leaves the ids of
 * consecutive episodes differing in a few hex digits). Pure, so no `node:crypto`; not a secret:
 * anyone who knows the inputs can compute the id.
 *
 * What makes an alert distinct is one episode of one rule key (rule id and currency) of an
 * account. The currency is not an input on purpose: an account has one currency and the account
 * decider refuses balances in any other, so its rule keys all carry that currency, and the
 * qualification policy never announces a qualification in another currency (only logs from before
 * that refusal hold one; it once took the id of the account's own alert of the same episode).
 * Adding the currency would change the id of every qualification already recorded, and one
 * redelivered after the change, within its validity, would become a second SMS.
 *
 * @throws RangeError when `episode` is not a non-negative safe integer (a programming error).
 */
export function ruleNotificationId(accountId: string, ruleId: string, episode: number): string {
  if (!Number.isSafeInteger(episode) || episode < 0) {
    throw new RangeError(`episode must be a non-negative integer, got ${episode}`);
  }
  const input = JSON.stringify(["tidemark/rule-notification/v1", accountId, ruleId, episode]);
  const hex = avalanche(fnv1a128(UTF8.encode(input)))
    .toString(16)
    .padStart(32, "0");
  const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    `8${hex.slice(13, 16)}`,
    `${variant}${hex.slice(17, 20)}`,
    hex.slice(20, 32),
  ].join("-");
}

const UTF8 = new TextEncoder();
const TWO_32 = 2 ** 32;
/** The offset basis in little-endian 32-bit limbs. */
const [BASIS_0, BASIS_1, BASIS_2, BASIS_3] = [0n, 32n, 64n, 96n].map((shift) =>
  Number((FNV_OFFSET_BASIS >> shift) & 0xffffffffn),
) as [number, number, number, number];

/**
 * 128-bit FNV-1a of `bytes`, exactly as `fnv1a128Reference` computes it with BigInt, but in four
 * 32-bit limbs held in plain numbers: a BigInt multiply per byte cost more than the rest of a
 * qualification's request. The FNV prime is 2^88 + 0x13b, so `hash * prime` is
 * `hash * 0x13b + (hash << 88)` (mod 2^128); a limb times 0x13b plus a carry and a shifted limb
 * stays below 2^43, exact in a double.
 */
export function fnv1a128(bytes: Uint8Array): bigint {
  let l0 = BASIS_0;
  let l1 = BASIS_1;
  let l2 = BASIS_2;
  let l3 = BASIS_3;
  for (const byte of bytes) {
    l0 = (l0 ^ byte) >>> 0;
    const t0 = l0 * 0x13b;
    const t1 = l1 * 0x13b + Math.floor(t0 / TWO_32);
    // hash << 88 lands in limbs 2 and 3: limb 0 moved up 24 bits, then limb 1's low byte above it.
    const t2 = l2 * 0x13b + Math.floor(t1 / TWO_32) + ((l0 << 24) >>> 0);
    const t3 = l3 * 0x13b + Math.floor(t2 / TWO_32) + (((l1 << 24) | (l0 >>> 8)) >>> 0);
    l0 = t0 >>> 0;
    l1 = t1 >>> 0;
    l2 = t2 >>> 0;
    l3 = t3 >>> 0;
  }
  return (BigInt(l3) << 96n) | (BigInt(l2) << 64n) | (BigInt(l1) << 32n) | BigInt(l0);
}

/** 128-bit FNV-1a in BigInt, as the ids were first computed: what `fnv1a128` is tested against. */
export function fnv1a128Reference(bytes: Uint8Array): bigint {
  let hash = FNV_OFFSET_BASIS;
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * FNV_PRIME) & MASK_128;
  return hash;
}

/** A bijection on 128 bits that spreads every input bit over the whole output (splitmix-style). */
function avalanche(value: bigint): bigint {
  let mixed = value;
  mixed = ((mixed ^ (mixed >> 67n)) * MIX_1) & MASK_128;
  mixed = ((mixed ^ (mixed >> 61n)) * MIX_2) & MASK_128;
  return mixed ^ (mixed >> 64n);
}
