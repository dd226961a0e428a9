import type { CurrentBalanceType } from "../values/BalanceType.ts";
import type { CreditLine } from "../values/CreditLine.ts";
import type { Instant } from "../values/Instant.ts";
import type { MessageClass } from "../values/MessageClass.ts";
import type { Currency, Money } from "../values/Money.ts";
import type { PhoneNumber } from "../values/PhoneNumber.ts";
import type { TimeZone } from "../values/TimeZone.ts";
import type { ConsentKeyword, Consents, RefreshReason } from "./AccountEvent.ts";

/** Commands on one account. The caller has validated values and supplies `now`. */
export type AccountCommand =
  | {
      readonly type: "OpenAccount";
      readonly data: {
        readonly accountId: string;
        readonly customerId: string;
        readonly phone: PhoneNumber;
        readonly currency: Currency;
        readonly timeZone: TimeZone;
        readonly consents: Consents;
        readonly now: Instant;
      };
    }
  | { readonly type: "ChangeContact"; readonly data: { readonly phone: PhoneNumber; readonly now: Instant } }
  | {
      /** An explicit answer for one class; SMS keywords go through `ApplySmsKeyword` instead. */
      readonly type: "ChangeConsent";
      readonly data: {
        readonly messageClass: MessageClass;
        readonly granted: boolean;
        readonly source: "api" | "import";
        readonly now: Instant;
      };
    }
  | {
      /**
       * An inbound STOP or START, identified by the provider it came through and that provider's
       * message id: STOP withdraws every class granted; START restores only what STOPs withdrew
       * and nothing has changed since; a message already handled changes nothing.
       */
      readonly type: "ApplySmsKeyword";
      readonly data: {
        readonly keyword: ConsentKeyword;
        readonly provider: string;
        readonly messageId: string;
        readonly now: Instant;
      };
    }
  | {
      readonly type: "RequestBalanceRefresh";
      readonly data: { readonly reason: RefreshReason; readonly now: Instant };
    }
  | {
      readonly type: "RecordBalance";
      readonly data: {
        /** In the account's currency; anything else is refused. */
        readonly balance: Money;
        readonly balanceType: CurrentBalanceType;
        readonly creditLines: readonly CreditLine[];
        /** Within the decider's `ReferenceTimeBounds` of `now`; anything else is refused. */
        readonly referenceTime: Instant;
        readonly source: "push" | "pull";
        readonly bankReference: string | null;
        readonly now: Instant;
      };
    }
  | {
      readonly type: "RecordBalanceRefreshFailure";
      readonly data: { readonly reason: string; readonly retryable: boolean; readonly now: Instant };
    }
  | {
      readonly type: "CloseAccount";
      readonly data: { readonly reason: string | null; readonly now: Instant };
    };
