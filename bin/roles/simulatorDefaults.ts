import type { Config } from "../loadConfig.ts";

/** The built-in SMS provider simulator's account: fixed and public, it guards nothing real. */
export const SIMULATOR_ACCOUNT_SID = "AC00000000000000000000000000000000";
export const SIMULATOR_AUTH_TOKEN = "simulator-auth-token";
export const SIMULATOR_BANK_TOKEN = "simulator-bank-token";

/** The configured SMS providers, or the built-in simulator. */
export function smsProvidersOf(config: Config): Config["smsProviders"] {
  if (config.smsProviders.length > 0) return config.smsProviders;
  return [
    {
      name: "simulator",
      baseUrl: `http://127.0.0.1:${config.smsSimulatorPort}`,
      accountSid: SIMULATOR_ACCOUNT_SID,
      authToken: SIMULATOR_AUTH_TOKEN,
      from: "Tidemark",
    },
  ];
}

/** The SMS webhooks' base URL as providers call it. */
export function webhookBaseUrlOf(config: Config): string {
  return config.smsWebhookBaseUrl ?? `http://127.0.0.1:${config.trackingPort}`;
}

/** The configured Banking API, or the built-in simulator. */
export function bankingApiOf(config: Config): { readonly url: string; readonly token: string } {
  return (
    config.bankingApi ?? {
      url: `http://127.0.0.1:${config.bankingSimulatorPort}`,
      token: SIMULATOR_BANK_TOKEN,
    }
  );
}
