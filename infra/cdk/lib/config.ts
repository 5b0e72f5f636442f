// The app's settings, from CDK context (cdk.json, or `-c name=value`), checked as the SAM template's
// parameters are: a bad value stops `cdk synth` with the setting's name.

export interface SimguardConfig {
  readonly stackName: string;
  readonly truIdBaseUrl: string;
  readonly otpProvider: 'vonage-v2' | 'vonage-v1' | 'twilio';
  readonly twilioServiceSid: string;
  readonly otpBrand: string;
  /** Who the text to the old number after a phone change comes from; empty sends none. */
  readonly smsSender: string;
  readonly smsCountries: string;
  readonly defaultRegion: string;
  readonly simChangeWindowMinutes: number;
  readonly simCheckUnavailablePolicy: 'deny' | 'allow_with_notice';
  /** Who proves possession silently, in order. */
  readonly silentProviders: string;
  /** Who answers the SIM-swap gate, in order. */
  readonly simSwapSources: string;
  /** The CAMARA API root and token endpoint ('' unless simSwapSources names camara). */
  readonly camaraBaseUrl: string;
  readonly camaraTokenUrl: string;
  readonly camaraAuthorizeUrl: string;
  readonly smsGlobalHourlyBudget: number;
  readonly resetGlobalHourlyBudget: number;
  readonly otpStartReservedConcurrency: number;
  readonly apiRateLimit: number;
  readonly apiBurstLimit: number;
  readonly otpStartRateLimit: number;
  readonly otpStartBurstLimit: number;
  readonly siteDomainName: string;
  readonly siteCertificateArn: string;
  readonly logRetentionDays: number;
  readonly alarmEmail: string;
  readonly providerErrorAlarmThreshold: number;
  readonly smsConversionAlarmPercent: number;
  readonly smsConversionMinSends: number;
  readonly simChangeBlockedAlarmThreshold: number;
  /** An existing user pool that may invoke the Cognito triggers (docs/cognito.md); '' for none. */
  readonly cognitoUserPoolArn: string;
  /** Where a Cognito sign-in's silent proof returns (your app's page); '' for the site's. */
  readonly cognitoReturnUrl: string;
  /** Create an example user pool with the triggers attached. */
  readonly cognitoExamplePool: boolean;
}

type Lookup = (key: string) => unknown;

function text(get: Lookup, key: string, pattern: RegExp): string {
  const value = get(key);
  const s = value === undefined || value === null ? '' : String(value);
  if (!pattern.test(s)) {
    throw new Error(`context ${key}=${JSON.stringify(s)} does not match ${pattern}`);
  }
  return s;
}

function number(get: Lookup, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(get(key));
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`context ${key}=${JSON.stringify(get(key))} must be a whole number in ${min}..${max}`);
  }
  return n;
}

// CloudWatch Logs' allowed retention periods (the SAM parameter's AllowedValues).
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

function oneOf(get: Lookup, key: string, allowed: readonly number[]): number {
  const n = Number(get(key));
  if (!allowed.includes(n)) {
    throw new Error(`context ${key}=${JSON.stringify(get(key))} must be one of ${allowed.join(', ')}`);
  }
  return n;
}

export function readConfig(get: Lookup): SimguardConfig {
  const config: SimguardConfig = {
    stackName: text(get, 'stackName', /^[A-Za-z][A-Za-z0-9-]{0,127}$/),
    truIdBaseUrl: text(get, 'truIdBaseUrl', /^https:\/\/[a-z0-9.-]+$/),
    otpProvider: text(get, 'otpProvider', /^(vonage-v2|vonage-v1|twilio)$/) as SimguardConfig['otpProvider'],
    twilioServiceSid: text(get, 'twilioServiceSid', /^(VA[0-9a-fA-F]{32})?$/),
    otpBrand: text(get, 'otpBrand', /^[^/{}:$]{1,18}$/),
    smsSender: text(get, 'smsSender', /^(MG[0-9a-fA-F]{32}|\+[1-9][0-9]{6,14}|(?=[A-Za-z0-9 ]*[A-Za-z])[A-Za-z0-9]([A-Za-z0-9 ]{0,9}[A-Za-z0-9])?)?$/),
    smsCountries: text(get, 'smsCountries', /^(\*|[1-9][0-9]{0,3}(,[1-9][0-9]{0,3})*)$/),
    defaultRegion: text(get, 'defaultRegion', /^[A-Z]{2}$/),
    simChangeWindowMinutes: number(get, 'simChangeWindowMinutes', 60, 540000),
    simCheckUnavailablePolicy: text(get, 'simCheckUnavailablePolicy', /^(deny|allow_with_notice)$/) as SimguardConfig['simCheckUnavailablePolicy'],
    silentProviders: text(get, 'silentProviders', /^(truid|camara|vonage)(,(truid|camara|vonage))*$/),
    simSwapSources: text(get, 'simSwapSources', /^(truid|camara|twilio-lookup)(,(truid|camara|twilio-lookup))*$/),
    camaraBaseUrl: text(get, 'camaraBaseUrl', /^(https:\/\/[^\s?#]+)?$/),
    camaraTokenUrl: text(get, 'camaraTokenUrl', /^(https:\/\/[^\s?#]+)?$/),
    camaraAuthorizeUrl: text(get, 'camaraAuthorizeUrl', /^(https:\/\/[^\s?#]+)?$/),
    smsGlobalHourlyBudget: number(get, 'smsGlobalHourlyBudget', 1, 1_000_000),
    resetGlobalHourlyBudget: number(get, 'resetGlobalHourlyBudget', 1, 1_000_000),
    otpStartReservedConcurrency: number(get, 'otpStartReservedConcurrency', 1),
    apiRateLimit: number(get, 'apiRateLimit', 1),
    apiBurstLimit: number(get, 'apiBurstLimit', 1),
    otpStartRateLimit: number(get, 'otpStartRateLimit', 1),
    otpStartBurstLimit: number(get, 'otpStartBurstLimit', 1),
    siteDomainName: text(get, 'siteDomainName', /^([a-z0-9-]+(\.[a-z0-9-]+)+)?$/),
    siteCertificateArn: text(get, 'siteCertificateArn', /^(arn:aws[a-zA-Z-]*:acm:us-east-1:[0-9]{12}:certificate\/.+)?$/),
    logRetentionDays: oneOf(get, 'logRetentionDays', LOG_RETENTION_DAYS),
    alarmEmail: text(get, 'alarmEmail', /^([^@\s]+@[^@\s]+)?$/),
    providerErrorAlarmThreshold: number(get, 'providerErrorAlarmThreshold', 1),
    smsConversionAlarmPercent: number(get, 'smsConversionAlarmPercent', 1, 100),
    smsConversionMinSends: number(get, 'smsConversionMinSends', 1),
    simChangeBlockedAlarmThreshold: number(get, 'simChangeBlockedAlarmThreshold', 1),
    cognitoUserPoolArn: text(get, 'cognitoUserPoolArn', /^(arn:aws[a-zA-Z-]*:cognito-idp:[a-z0-9-]+:[0-9]{12}:userpool\/[\w-]+_[0-9a-zA-Z]+)?$/),
    cognitoReturnUrl: text(get, 'cognitoReturnUrl', /^(https:\/\/[^\s#]+)?$/),
    cognitoExamplePool: text(get, 'cognitoExamplePool', /^(true|false)$/) === 'true',
  };
  if (config.otpProvider === 'twilio' && config.twilioServiceSid === '') {
    throw new Error('context otpProvider=twilio needs twilioServiceSid');
  }
  if ((config.siteDomainName === '') !== (config.siteCertificateArn === '')) {
    throw new Error('context siteDomainName and siteCertificateArn go together (an ACM certificate in us-east-1)');
  }
  return config;
}
