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
const LIMBS = 8;
const LIMB_MASK = 0xffff;
/** The offset basis in little-endian 16-bit limbs. */
const OFFSET_BASIS_LIMBS: readonly number[] = Array.from({ length: LIMBS }, (_, limb) =>
  Number((FNV_OFFSET_BASIS >> BigInt(16 * limb)) & 0xffffn),
);

/**
 * 128-bit FNV-1a of `bytes`, exactly as `fnv1a128Reference` computes it with BigInt, but in eight
 * 16-bit limbs: a BigInt multiply per byte cost more than the rest of a qualification's request.
 * The FNV prime is 2^88 + 0x13b, so `hash * prime` is `(hash << 88) + hash * 0x13b` (mod 2^128).
 */
export function fnv1a128(bytes: Uint8Array): bigint {
  const hash = Uint32Array.from(OFFSET_BASIS_LIMBS);
  const product = new Uint32Array(LIMBS);
  for (const byte of bytes) {
    hash[0] = (hash[0] ?? 0) ^ byte;
    let carry = 0;
    for (let limb = 0; limb < LIMBS; limb += 1) {
      const term = (hash[limb] ?? 0) * 0x13b + carry;
      product[limb] = term & LIMB_MASK;
      carry = term >>> 16;
    }
    // hash << 88: limb j takes limb j-5 shifted by 8 bits and the top byte of limb j-6.
    carry = 0;
    for (let limb = 5; limb < LIMBS; limb += 1) {
      const low = limb >= 6 ? (hash[limb - 6] ?? 0) >>> 8 : 0;
      const sum = (product[limb] ?? 0) + ((((hash[limb - 5] ?? 0) << 8) | low) & LIMB_MASK) + carry;
      product[limb] = sum & LIMB_MASK;
      carry = sum >>> 16;
    }
    hash.set(product);
  }
  let value = 0n;
  for (let limb = LIMBS - 1; limb >= 0; limb -= 1) value = (value << 16n) | BigInt(hash[limb] ?? 0);
  return value;
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
