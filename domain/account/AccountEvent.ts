import type { CreditLineData } from "../values/CreditLine.ts";
import type { MessageClass } from "../values/MessageClass.ts";
import type { Currency, MoneyData } from "../values/Money.ts";

/** How a consent change reached us. */
export type ConsentSource = "api" | "sms-keyword" | "import";

/** The inbound SMS keywords that change consent (HELP is answered, never recorded). */
export type ConsentKeyword = "stop" | "start";

/** Why a balance refresh was asked for. */
export type RefreshReason = "scheduled" | "manual" | "pre-send-recheck";

/** Consent per message class. */
export type Consents = Readonly<Record<MessageClass, boolean>>;

/** Events of the account stream `account-<accountId>`; times are canonical UTC ISO text. */
export type AccountEvent =
  | {
      readonly type: "AccountOpened";
      readonly data: {
        readonly accountId: string;
        readonly customerId: string;
        readonly phone: string;
        readonly currency: Currency;
        readonly timeZone: string;
        readonly consents: Consents;
        readonly openedAt: string;
      };
    }
  | { readonly type: "ContactChanged"; readonly data: { readonly phone: string; readonly changedAt: string } }
  | {
      readonly type: "ConsentChanged";
      readonly data: {
        readonly messageClass: MessageClass;
        readonly granted: boolean;
        readonly source: ConsentSource;
        /**
         * The provider's id of the inbound SMS that carried the keyword; null from the API or an
         * import. Absent in events written before it was kept: read it as null.
         */
        readonly messageId?: string | null;
        readonly at: string;
      };
    }
  | {
      /** An inbound STOP / START, recorded once per provider message id whatever it changed. */
      readonly type: "SmsKeywordReceived";
      readonly data: {
        readonly keyword: ConsentKeyword;
        /** The provider (by its configured name) the message came in through. */
        readonly provider: string;
        readonly messageId: string;
        readonly receivedAt: string;
      };
    }
  | {
      readonly type: "BalanceRefreshRequested";
      readonly data: { readonly reason: RefreshReason; readonly requestedAt: string };
    }
  | {
      readonly type: "BalanceObserved";
      readonly data: {
        readonly balance: MoneyData;
        /**
         * Open Banking balance type, e.g. "InterimAvailable": one of `CURRENT_BALANCE_PRECEDENCE`
         * since the decider checks it; any letters in older events.
         */
        readonly balanceType: string;
        /** Whether any credit line is included in the amount (derived from `creditLines`). */
        readonly creditLineIncluded: boolean;
        /** As the bank reported them; absent in events recorded before they were kept: none. */
        readonly creditLines?: readonly CreditLineData[];
        /** The bank's time for this balance: what orders observations. */
        readonly referenceTime: string;
        readonly observedAt: string;
        readonly source: "push" | "pull";
        readonly bankReference: string | null;
        /**
         * Does not come after the last observation (by reference time, then balance type
         * precedence): kept for the record, changes nothing.
         */
        readonly stale: boolean;
      };
    }
  | {
      readonly type: "BalanceRefreshFailed";
      readonly data: { readonly reason: string; readonly retryable: boolean; readonly failedAt: string };
    }
  | {
      readonly type: "AccountQualified" | "AccountDisqualified";
      readonly data: {
        readonly ruleId: string;
        readonly ruleVersion: number;
        /** The rule set version the decision was made under; absent in events from before rule sets. */
        readonly rulesetVersion?: number;
        readonly episode: number;
        /** The amount the rule compared (with or without credit lines, as the rule says). */
        readonly balance: MoneyData;
        readonly at: string;
      };
    }
  | {
      readonly type: "AccountClosed";
      readonly data: { readonly reason: string | null; readonly closedAt: string };
    };

/** Every type of account event, exactly once: the compiler checks the list is complete. */
export const ACCOUNT_EVENT_TYPES = Object.keys({
  AccountOpened: true,
  ContactChanged: true,
  ConsentChanged: true,
  SmsKeywordReceived: true,
  BalanceRefreshRequested: true,
  BalanceObserved: true,
  BalanceRefreshFailed: true,
  AccountQualified: true,
  AccountDisqualified: true,
  AccountClosed: true,
} satisfies Record<AccountEvent["type"], true>) as readonly AccountEvent["type"][];

/** When an account event happened, as its data says (every type carries its time). */
export function accountEventTime(event: AccountEvent): string {
  switch (event.type) {
    case "AccountOpened":
      return event.data.openedAt;
    case "ContactChanged":
      return event.data.changedAt;
    case "ConsentChanged":
    case "AccountQualified":
    case "AccountDisqualified":
      return event.data.at;
    case "SmsKeywordReceived":
      return event.data.receivedAt;
    case "BalanceRefreshRequested":
      return event.data.requestedAt;
    case "BalanceObserved":
      return event.data.observedAt;
    case "BalanceRefreshFailed":
      return event.data.failedAt;
    case "AccountClosed":
      return event.data.closedAt;
  }
}
