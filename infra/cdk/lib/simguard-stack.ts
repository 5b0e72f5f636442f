// The same system as infra/sam/template.yaml: nine Rust functions (cargo-lambda-cdk, arm64), eight
// behind an HTTP API and one that sends the security emails from an SQS queue through Amazon SES, one
// DynamoDB table, the provider secret, alarms and a dashboard, and the static site on CloudFront with
// /api/* routed to the API. shared/tests/integration/infra.rs checks the synthesized template against the SAM
// template and against the route table in shared/src/routes.rs.
import * as path from 'node:path';
import * as cdk from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { SimguardConfig } from './config';

/** The workspace manifest: every function is a binary of it. */
const WORKSPACE_MANIFEST = path.join(__dirname, '..', '..', '..', 'Cargo.toml');

/** As shared/src/site.rs and the SAM template. */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/** No query string, no headers: the callback's query holds the tru.ID code (docs/security.md H2). */
const ACCESS_LOG_FORMAT =
  '{"requestId":"$context.requestId","requestTime":"$context.requestTime","routeKey":"$context.routeKey",' +
  '"status":"$context.status","responseLength":"$context.responseLength","latency":"$context.responseLatency",' +
  '"integrationStatus":"$context.integrationStatus","integrationError":"$context.integrationErrorMessage"}';

/** The operations dashboard, one widget a line; `${...}` are for Fn::Sub. */
const DASHBOARD_BODY =
  '{"widgets":[' +
  '{"type":"metric","x":0,"y":0,"width":12,"height":6,"properties":{"title":"Flow steps by outcome","region":"${AWS::Region}","view":"timeSeries","stat":"Sum","period":300,"metrics":[[{"expression":"SEARCH(\'{simguard/${AWS::StackName},Function,Outcome,Step} MetricName=\\"StepOutcome\\"\', \'Sum\', 300)"}]]}},' +
  '{"type":"metric","x":12,"y":0,"width":12,"height":6,"properties":{"title":"SMS sent and verified","region":"${AWS::Region}","view":"timeSeries","stat":"Sum","period":300,"metrics":[["simguard/${AWS::StackName}","SmsSent",{"label":"sent"}],["simguard/${AWS::StackName}","OtpVerified",{"label":"verified"}]]}},' +
  '{"type":"metric","x":0,"y":6,"width":12,"height":6,"properties":{"title":"SIM-change blocks","region":"${AWS::Region}","view":"timeSeries","stat":"Sum","period":300,"metrics":[["simguard/${AWS::StackName}","SimChangeBlocked",{"label":"blocked"}],["simguard/${AWS::StackName}","SimCheckUnavailableAllowed",{"label":"allowed without a SIM answer"}]]}},' +
  '{"type":"metric","x":12,"y":6,"width":12,"height":6,"properties":{"title":"Rate-limit hits by limit","region":"${AWS::Region}","view":"timeSeries","stat":"Sum","period":300,"metrics":[[{"expression":"SEARCH(\'{simguard/${AWS::StackName},Bucket,Function} MetricName=\\"RateLimited\\"\', \'Sum\', 300)"}]]}},' +
  '{"type":"metric","x":0,"y":12,"width":12,"height":6,"properties":{"title":"Provider errors by provider and call","region":"${AWS::Region}","view":"timeSeries","stat":"Sum","period":300,"metrics":[[{"expression":"SEARCH(\'{simguard/${AWS::StackName},Call,Function,Provider} MetricName=\\"ProviderError\\"\', \'Sum\', 300)"}]]}},' +
  '{"type":"metric","x":12,"y":12,"width":12,"height":6,"properties":{"title":"Provider latency by provider and call (p90, ms)","region":"${AWS::Region}","view":"timeSeries","stat":"p90","period":300,"metrics":[[{"expression":"SEARCH(\'{simguard/${AWS::StackName},Call,Function,Provider} MetricName=\\"ProviderLatency\\"\', \'p90\', 300)"}]]}},' +
  '{"type":"metric","x":0,"y":18,"width":12,"height":6,"properties":{"title":"Notification emails by outcome","region":"${AWS::Region}","view":"timeSeries","stat":"Sum","period":300,"metrics":[[{"expression":"SEARCH(\'{simguard/${AWS::StackName},Function,Outcome} MetricName=\\"Notification\\"\', \'Sum\', 300)"}]]}},' +
  '{"type":"metric","x":12,"y":18,"width":12,"height":6,"properties":{"title":"Notification backlog","region":"${AWS::Region}","view":"timeSeries","stat":"Maximum","period":300,"metrics":[["AWS/SQS","ApproximateNumberOfMessagesVisible","QueueName","${QueueName}",{"label":"queued","stat":"Maximum"}],["AWS/SQS","ApproximateAgeOfOldestMessage","QueueName","${QueueName}",{"label":"oldest (s)","stat":"Maximum","yAxis":"right"}],["AWS/SQS","ApproximateNumberOfMessagesVisible","QueueName","${DeadLetterQueueName}",{"label":"dead letters","stat":"Maximum"}]]}}' +
  ']}';

type TableAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'ConditionCheckItem' | 'Query';

interface FunctionSpec {
  /** Logical id prefix, as in the SAM template. */
  readonly id: string;
  /** The binary (functions/<name>). */
  readonly name: string;
  readonly description: string;
  readonly memoryMb?: number;
  readonly timeout: cdk.Duration;
  readonly environment: Record<string, string>;
  /** The table actions its code performs (shared/tests/integration/infra.rs records them). */
  readonly tableActions: TableAction[];
}

interface ApiFunctionSpec extends Omit<FunctionSpec, 'description' | 'timeout'> {
  /** Method, path, and `'iam'` for a route API Gateway authorises with IAM (SigV4). */
  readonly routes: ReadonlyArray<[apigwv2.HttpMethod, string] | [apigwv2.HttpMethod, string, 'iam']>;
  /** Puts security emails on the notification queue. */
  readonly notifies?: boolean;
}

export interface SimguardStackProps extends cdk.StackProps {
  readonly config: SimguardConfig;
}

export class SimguardStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props: SimguardStackProps) {
    super(scope, id, props);
    const c = props.config;
    const { GET, POST } = apigwv2.HttpMethod;
    const metricsNamespace = `simguard/${this.stackName}`;

    // The email settings are stack parameters, as in the SAM template, not context: MailFrom has no
    // default, each deployment gives its own (`cdk deploy --parameters MailFrom=notices@example.com`).
    const mailFrom = new cdk.CfnParameter(this, 'MailFrom', {
      type: 'String',
      minLength: 3,
      allowedPattern: '^[^@\\s<>"]+@[^@\\s<>"]+\\.[^@\\s<>"]+$',
      constraintDescription: 'a bare address such as notices@example.com',
      description:
        'The address the security emails come from; its domain (or itself) must be a verified SES identity (README.md, "Email").',
    });
    const sesIdentity = new cdk.CfnParameter(this, 'SesIdentity', {
      type: 'String',
      default: '',
      description:
        "The verified SES identity MailFrom belongs to (a domain or an address); empty means MailFrom's domain.",
    });
    const mailReplyTo = new cdk.CfnParameter(this, 'MailReplyTo', {
      type: 'String',
      default: '',
      description: 'Optional address replies to the emails go to (your support desk).',
    });
    const siteName = new cdk.CfnParameter(this, 'SiteName', {
      type: 'String',
      default: 'simguard',
      minLength: 1,
      maxLength: 100,
      description: "The site's name, as the emails and pages name it.",
    });
    const supportContact = new cdk.CfnParameter(this, 'SupportContact', {
      type: 'String',
      default: '',
      maxLength: 200,
      description: 'How users reach support (an address, a phone number or a URL), shown in every email and on the pages that refuse a SIM-changed user (scripts/deploy-site).',
    });
    const hasSesIdentity = new cdk.CfnCondition(this, 'HasSesIdentity', {
      expression: cdk.Fn.conditionNot(cdk.Fn.conditionEquals(sesIdentity.valueAsString, '')),
    });

    // One table for users, flows, sessions and rate-limit counters (docs/architecture.md, "Data"); kept when the
    // stack is deleted: it holds the users.
    const table = new dynamodb.Table(this, 'Table', {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expires_at',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: cdk.RemovalPolicy.RETAIN,
    });

    // The provider credentials (README.md, "Configuration"): empty values and a generated
    // password pepper; put the real values in after the first deploy.
    const providerSecret = new secretsmanager.Secret(this, 'ProviderSecret', {
      description: 'simguard provider credentials (tru.ID, Vonage, Twilio) and the password pepper',
      removalPolicy: cdk.RemovalPolicy.RETAIN,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({
          truid_client_id: '',
          truid_client_secret: '',
          vonage_api_key: '',
          vonage_api_secret: '',
          twilio_account_sid: '',
          twilio_auth_token: '',
          camara_client_id: '',
          camara_client_secret: '',
          result_signing_keys: '',
        }),
        generateStringKey: 'password_pepper',
        passwordLength: 48,
        excludePunctuation: true,
      },
    });

    // The header CloudFront adds to every /api request; behind CloudFront the functions trust
    // CloudFront-Viewer-Address only on requests that carry it (docs/security.md A5).
    const originVerifySecret = new secretsmanager.Secret(this, 'OriginVerifySecret', {
      description: 'simguard origin-verify token shared by CloudFront and the API functions',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'token',
        passwordLength: 48,
        excludePunctuation: true,
      },
    });
    const originVerifyToken = originVerifySecret.secretValueFromJson('token').unsafeUnwrap();

    const httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: `${this.stackName}-api`,
      description: 'simguard API, served to browsers through CloudFront at /api/*',
      createDefaultStage: false,
    });
    const apiDomain = `${httpApi.apiId}.execute-api.${this.region}.${this.urlSuffix}`;

    const siteBucket = new s3.Bucket(this, 'SiteBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
    });

    const apiOriginRequestPolicy = new cloudfront.OriginRequestPolicy(this, 'ApiOriginRequestPolicy', {
      originRequestPolicyName: `${this.stackName}-api`,
      comment: 'simguard API requests',
      cookieBehavior: cloudfront.OriginRequestCookieBehavior.all(),
      queryStringBehavior: cloudfront.OriginRequestQueryStringBehavior.all(),
      // The headers the functions read (shared/src/site.rs, API_REQUEST_HEADERS); not Host.
      headerBehavior: cloudfront.OriginRequestHeaderBehavior.allowList(
        'CloudFront-Viewer-Address',
        'Content-Type',
        'Origin',
        'Sec-Fetch-Site',
        'User-Agent',
        'X-CSRF-Token',
        'X-Simguard-Api-Key',
      ),
    });

    const securityHeaders = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeadersPolicy', {
      responseHeadersPolicyName: `${this.stackName}-security-headers`,
      comment: 'simguard security headers (shared/src/site.rs)',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: CONTENT_SECURITY_POLICY, override: true },
        strictTransportSecurity: {
          accessControlMaxAge: cdk.Duration.seconds(63072000),
          includeSubdomains: true,
          preload: false,
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
      customHeadersBehavior: {
        customHeaders: [{ header: 'Cross-Origin-Opener-Policy', value: 'same-origin', override: true }],
      },
    });

    const customDomain = c.siteDomainName !== '';
    // What the site's behaviour does to each request before the bucket sees it: with a custom
    // domain, a page asked for under the distribution's own name (*.cloudfront.net) is sent to the
    // domain (the flows' cookies, the allowed Origin and tru.ID's redirect belong to it); a folder's
    // address (/verify/) is its index.html, which S3's REST endpoint does not do.
    // The same code as the SAM template's (shared/tests/integration/infra.rs runs both).
    const sitePaths = new cloudfront.Function(this, 'SitePathsFunction', {
      comment: "simguard - the site's domain, and a folder's index.html",
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      code: cloudfront.FunctionCode.fromInline(sitePathsCode(c.siteDomainName)),
    });
    const apiOrigin = new origins.HttpOrigin(apiDomain, {
      originId: 'api',
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
      customHeaders: { 'X-Simguard-Origin-Verify': originVerifyToken },
    });
    const distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `simguard (${this.stackName})`,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableIpv6: true,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      defaultRootObject: 'index.html',
      // An address with nothing behind it gets the site's "Page not found", still as a 404. Only
      // unknown paths answer 404 anywhere (the API's own answers never do), so an unknown /api/ path
      // gets this page too.
      errorResponses: [
        { httpStatus: 404, responseHttpStatus: 404, responsePagePath: '/404.html', ttl: cdk.Duration.seconds(60) },
      ],
      domainNames: customDomain ? [c.siteDomainName] : undefined,
      certificate: customDomain
        ? cdk.aws_certificatemanager.Certificate.fromCertificateArn(this, 'SiteCertificate', c.siteCertificateArn)
        : undefined,
      minimumProtocolVersion: customDomain ? cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 : undefined,
      defaultBehavior: {
        // Listing lets S3 answer 404, not 403, for a page that is not there (then "Page not found").
        origin: origins.S3BucketOrigin.withOriginAccessControl(siteBucket, {
          originId: 'site',
          originAccessLevels: [cloudfront.AccessLevel.READ, cloudfront.AccessLevel.LIST],
        }),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        compress: true,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: securityHeaders,
        functionAssociations: [{ eventType: cloudfront.FunctionEventType.VIEWER_REQUEST, function: sitePaths }],
      },
      additionalBehaviors: {
        // The result tokens' public keys, from the account function, cached as the answer says.
        '/.well-known/jwks.json': {
          origin: apiOrigin,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
          compress: true,
          cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
          originRequestPolicy: apiOriginRequestPolicy,
          responseHeadersPolicy: securityHeaders,
        },
        '/api/*': {
          origin: apiOrigin,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
          compress: true,
          // Every answer is per user.
          cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
          originRequestPolicy: apiOriginRequestPolicy,
          responseHeadersPolicy: securityHeaders,
        },
      },
    });
    const siteUrl = customDomain ? `https://${c.siteDomainName}` : `https://${distribution.distributionDomainName}`;

    // The security emails: the API's functions put each on this queue; the notify function sends them
    // through SES. A message that fails 5 times is parked in the dead-letter queue (alarmed), kept 14 days.
    const deadLetterQueue = new sqs.Queue(this, 'NotifyDeadLetterQueue', {
      retentionPeriod: cdk.Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
    });
    const notifyQueue = new sqs.Queue(this, 'NotifyQueue', {
      // Six times the consumer's timeout, as Lambda advises for an event source.
      visibilityTimeout: cdk.Duration.seconds(360),
      retentionPeriod: cdk.Duration.days(4),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: 5 },
    });
    // Reputation metrics (bounce and complaint rates) for the emails simguard sends.
    const mailConfigurationSet = new ses.CfnConfigurationSet(this, 'MailConfigurationSet', {
      reputationOptions: { reputationMetricsEnabled: true },
      sendingOptions: { sendingEnabled: true },
    });

    // Every function reads these (shared/src/config.rs, `variables`).
    const common: Record<string, string> = {
      SIMGUARD_PUBLIC_BASE_URL: siteUrl,
      SIMGUARD_TABLE_NAME: table.tableName,
      SIMGUARD_METRICS_NAMESPACE: metricsNamespace,
    };
    // And every function behind the API these.
    const api: Record<string, string> = {
      SIMGUARD_SECRET_ID: providerSecret.secretArn,
      SIMGUARD_CLIENT_IP_SOURCE: 'cloudfront',
      SIMGUARD_ORIGIN_VERIFY_TOKEN: originVerifyToken,
    };
    const truid = { SIMGUARD_TRUID_BASE_URL: c.truIdBaseUrl };
    const silent = {
      SIMGUARD_SILENT_PROVIDERS: c.silentProviders,
      SIMGUARD_CAMARA_BASE_URL: c.camaraBaseUrl,
      SIMGUARD_CAMARA_TOKEN_URL: c.camaraTokenUrl,
      SIMGUARD_CAMARA_AUTHORIZE_URL: c.camaraAuthorizeUrl,
      // Vonage's silent authentication is a silent prover too.
      SIMGUARD_OTP_BRAND: c.otpBrand,
    };
    const simSwap = {
      SIMGUARD_SIM_SWAP_SOURCES: c.simSwapSources,
      SIMGUARD_CAMARA_BASE_URL: c.camaraBaseUrl,
      SIMGUARD_CAMARA_TOKEN_URL: c.camaraTokenUrl,
    };
    const window = { SIMGUARD_SIM_CHANGE_WINDOW_MINUTES: String(c.simChangeWindowMinutes) };
    const otp: Record<string, string> = { SIMGUARD_OTP_PROVIDER: c.otpProvider };
    if (c.twilioServiceSid !== '') {
      otp.SIMGUARD_TWILIO_SERVICE_SID = c.twilioServiceSid;
    }

    const specs: ApiFunctionSpec[] = [
      {
        id: 'Coverage',
        name: 'coverage',
        routes: [[GET, '/api/coverage']],
        environment: { ...truid, ...silent },
        tableActions: ['GetItem', 'PutItem', 'UpdateItem'],
      },
      {
        id: 'CreateCheck',
        name: 'create-check',
        routes: [
          [POST, '/api/reset/check'],
          [POST, '/api/login/silent'],
          [POST, '/api/verify/begin'],
        ],
        environment: {
          ...truid,
          ...silent,
          ...window,
          SIMGUARD_LIMIT_RESET_GLOBAL_HOUR: String(c.resetGlobalHourlyBudget),
        },
        tableActions: ['GetItem', 'PutItem', 'UpdateItem'],
      },
      {
        id: 'Callback',
        name: 'callback',
        routes: [
          [GET, '/api/reset/callback'],
          [POST, '/api/reset/callback'],
        ],
        environment: { ...truid, ...silent, ...window, ...simSwap },
        // PutItem: a silent sign-in stores its session, in its transaction.
        tableActions: ['GetItem', 'PutItem', 'UpdateItem'],
        notifies: true,
      },
      {
        id: 'ResetPassword',
        name: 'reset-password',
        routes: [[POST, '/api/reset/password']],
        memoryMb: 1024,
        environment: {},
        tableActions: ['GetItem', 'PutItem', 'UpdateItem'],
        notifies: true,
      },
      {
        id: 'SimCheck',
        name: 'sim-check',
        routes: [[POST, '/api/sim-check']],
        environment: {
          ...truid,
          ...window,
          SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY: c.simCheckUnavailablePolicy,
          ...simSwap,
        },
        tableActions: ['GetItem', 'PutItem', 'UpdateItem'],
        notifies: true,
      },
      {
        id: 'OtpStart',
        name: 'otp-start',
        routes: [[POST, '/api/otp/start']],
        environment: {
          ...otp,
          SIMGUARD_OTP_BRAND: c.otpBrand,
          SIMGUARD_SMS_COUNTRIES: c.smsCountries,
          SIMGUARD_LIMIT_SMS_GLOBAL_HOUR: String(c.smsGlobalHourlyBudget),
        },
        tableActions: ['GetItem', 'PutItem', 'UpdateItem'],
      },
      {
        id: 'OtpVerify',
        name: 'otp-verify',
        routes: [
          [POST, '/api/otp/verify'],
          [POST, '/api/phone/finish'],
        ],
        environment: {
          ...otp,
          SIMGUARD_SMS_SENDER: c.smsSender,
          SIMGUARD_SITE_NAME: siteName.valueAsString,
          SIMGUARD_SUPPORT_CONTACT: supportContact.valueAsString,
        },
        // DeleteItem: a phone change ends the session it was made from, in its transaction.
        tableActions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'],
        notifies: true,
      },
      {
        id: 'Account',
        name: 'account',
        routes: [
          [POST, '/api/register'],
          [POST, '/api/login'],
          [POST, '/api/logout'],
          [GET, '/api/me'],
          [POST, '/api/password'],
          [POST, '/api/logout-everywhere'],
          [GET, '/api/devices'],
          [POST, '/api/devices/forget'],
          [POST, '/api/phone/check'],
          [POST, '/api/phone/change'],
          [POST, '/api/v1/verifications'],
          [POST, '/api/v1/verifications/redeem'],
          [GET, '/.well-known/jwks.json'],
          [POST, '/api/v1/iam/verifications', 'iam'],
          [POST, '/api/v1/iam/verifications/redeem', 'iam'],
        ],
        memoryMb: 1024,
        environment: { SIMGUARD_SMS_COUNTRIES: c.smsCountries, SIMGUARD_DEFAULT_REGION: c.defaultRegion },
        tableActions: ['DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
        notifies: true,
      },
    ];

    const functions: Record<string, lambda.Function> = {};
    const logGroups: Record<string, logs.LogGroup> = {};
    // Each function has its own log group, its table actions and its name as a tag.
    const rustFunction = (spec: FunctionSpec) => {
      const logGroup = new logs.LogGroup(this, `${spec.id}LogGroup`, {
        retention: c.logRetentionDays as logs.RetentionDays,
        removalPolicy: cdk.RemovalPolicy.DESTROY,
      });
      logGroups[spec.name] = logGroup;
      const fn = new RustFunction(this, `${spec.id}Function`, {
        manifestPath: WORKSPACE_MANIFEST,
        binaryName: spec.name,
        architecture: lambda.Architecture.ARM_64,
        description: spec.description,
        memorySize: spec.memoryMb ?? 256,
        timeout: spec.timeout,
        logGroup,
        environment: { ...common, ...spec.environment },
        // Caps the worst-case SMS spend rate (docs/security.md F7); API Gateway throttles below it.
        reservedConcurrentExecutions: spec.name === 'otp-start' ? c.otpStartReservedConcurrency : undefined,
      });
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'Table',
          actions: spec.tableActions.map((a) => `dynamodb:${a}`),
          resources: [table.tableArn],
        }),
      );
      cdk.Tags.of(fn).add('simguard:function', spec.name);
      functions[spec.name] = fn;
      return fn;
    };

    // Lambda keeps at most 256 characters of a description: a function with many routes counts them.
    const describe = (spec: ApiFunctionSpec) => {
      const full = `simguard ${spec.name} (${spec.routes.map(([m, p]) => `${m} ${p}`).join(', ')})`;
      return full.length <= 256 ? full : `simguard ${spec.name} (${spec.routes.length} routes: shared/src/routes.rs)`;
    };
    for (const spec of specs) {
      const fn = rustFunction({
        ...spec,
        description: describe(spec),
        // Provider calls time out after 3 s; API Gateway gives up at 30 s.
        timeout: cdk.Duration.seconds(10),
        environment: {
          ...api,
          ...(spec.notifies ? { SIMGUARD_NOTIFY_QUEUE_URL: notifyQueue.queueUrl } : {}),
          ...spec.environment,
        },
      });
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ProviderSecret',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [providerSecret.secretArn],
        }),
      );
      // Not notifyQueue.grantSendMessages: it also allows GetQueueAttributes and GetQueueUrl, which
      // the code does not call.
      if (spec.notifies) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            sid: 'NotifyQueue',
            actions: ['sqs:SendMessage'],
            resources: [notifyQueue.queueArn],
          }),
        );
      }
      const integration = new HttpLambdaIntegration(`${spec.id}Integration`, fn, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      });
      for (const [method, routePath, auth] of spec.routes) {
        // Called on the API's own endpoint with a SigV4 signature (docs/verification-api.md).
        const authorizer = auth === 'iam' ? new HttpIamAuthorizer() : undefined;
        httpApi.addRoutes({ path: routePath, methods: [method], integration, authorizer });
      }
    }

    const notifyFunction = rustFunction({
      id: 'Notify',
      name: 'notify',
      description: 'simguard notify (the notification queue to Amazon SES)',
      // A batch of ten at most 6 s each (shared/src/consumer.rs, TIME_PER_NOTIFICATION).
      timeout: cdk.Duration.seconds(60),
      environment: {
        SIMGUARD_MAIL_FROM: mailFrom.valueAsString,
        SIMGUARD_MAIL_REPLY_TO: mailReplyTo.valueAsString,
        SIMGUARD_SES_CONFIGURATION_SET: mailConfigurationSet.ref,
        SIMGUARD_SITE_NAME: siteName.valueAsString,
        SIMGUARD_SUPPORT_CONTACT: supportContact.valueAsString,
      },
      tableActions: ['GetItem', 'PutItem'],
    });
    // Written out rather than SqsEventSource (grantConsumeMessages adds sqs:ChangeMessageVisibility
    // and sqs:GetQueueUrl): the policy is the calls Lambda's poller makes and nothing else.
    notifyFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'NotifyQueue',
        actions: ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
        resources: [notifyQueue.queueArn],
      }),
    );
    // SES authorizes a send on the sender's identity and on the configuration set.
    const senderIdentity = cdk.Fn.conditionIf(
      hasSesIdentity.logicalId,
      sesIdentity.valueAsString,
      cdk.Fn.select(1, cdk.Fn.split('@', mailFrom.valueAsString)),
    ).toString();
    const sesArn = 'arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}';
    notifyFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'SendEmail',
        actions: ['ses:SendEmail'],
        resources: [
          cdk.Fn.sub(sesArn + ':identity/${Identity}', { Identity: senderIdentity }),
          cdk.Fn.sub(sesArn + ':configuration-set/${ConfigurationSet}', { ConfigurationSet: mailConfigurationSet.ref }),
        ],
        // A domain identity could send as any address at the domain: only as the sender.
        conditions: { StringEquals: { 'ses:FromAddress': mailFrom.valueAsString } },
      }),
    );
    new lambda.EventSourceMapping(this, 'NotifyEventSource', {
      target: notifyFunction,
      eventSourceArn: notifyQueue.queueArn,
      batchSize: 10,
      maxBatchingWindow: cdk.Duration.seconds(1),
      // A failed email is retried alone, not with the rest of its batch.
      reportBatchItemFailures: true,
    });

    // Amazon Cognito's custom-authentication triggers (docs/cognito.md): not behind the API.
    const cognitoAuthFunction = rustFunction({
      id: 'CognitoAuth',
      name: 'cognito-auth',
      description: 'simguard cognito-auth (Cognito define, create and verify auth challenge)',
      // Cognito waits five seconds for a trigger.
      timeout: cdk.Duration.seconds(5),
      environment: {
        SIMGUARD_SECRET_ID: providerSecret.secretArn,
        ...truid,
        ...silent,
        ...simSwap,
        SIMGUARD_SIM_CHANGE_WINDOW_MINUTES: String(c.simChangeWindowMinutes),
        ...otp,
        SIMGUARD_SMS_COUNTRIES: c.smsCountries,
        SIMGUARD_LIMIT_SMS_GLOBAL_HOUR: String(c.smsGlobalHourlyBudget),
        ...(c.cognitoReturnUrl !== '' ? { SIMGUARD_COGNITO_RETURN_URL: c.cognitoReturnUrl } : {}),
      },
      // The SMS limits' counters, and the claim on each code.
      tableActions: ['PutItem', 'UpdateItem'],
    });
    cognitoAuthFunction.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ProviderSecret',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [providerSecret.secretArn],
      }),
    );
    if (c.cognitoUserPoolArn !== '') {
      new lambda.CfnPermission(this, 'CognitoAuthPermission', {
        action: 'lambda:InvokeFunction',
        functionName: cognitoAuthFunction.functionName,
        principal: 'cognito-idp.amazonaws.com',
        sourceArn: c.cognitoUserPoolArn,
      });
    }
    if (c.cognitoExamplePool) {
      // The example pool: a password (SRP), then simguard's checks; users need a verified phone_number.
      const pool = new cdk.aws_cognito.UserPool(this, 'CognitoExampleUserPool', {
        userPoolName: `${this.stackName}-example`,
        signInAliases: { email: true },
        autoVerify: { email: true },
        standardAttributes: { phoneNumber: { required: true, mutable: true } },
        removalPolicy: cdk.RemovalPolicy.DESTROY,
        lambdaTriggers: {
          defineAuthChallenge: cognitoAuthFunction,
          createAuthChallenge: cognitoAuthFunction,
          verifyAuthChallengeResponse: cognitoAuthFunction,
        },
      });
      // Only the custom flow: the password (SRP) and simguard's rounds; never the password alone.
      const client = pool.addClient('CognitoExampleClient', {
        userPoolClientName: 'simguard-example',
        authFlows: { custom: true },
        preventUserExistenceErrors: true,
        authSessionValidity: cdk.Duration.minutes(10),
      });
      new cdk.CfnOutput(this, 'CognitoExampleUserPoolId', {
        description: 'The example user pool (examples/cognito-client signs in to it).',
        value: pool.userPoolId,
      });
      new cdk.CfnOutput(this, 'CognitoExampleClientId', {
        description: "The example pool's app client (custom authentication only).",
        value: client.userPoolClientId,
      });
    }
    new cdk.CfnOutput(this, 'CognitoAuthFunctionArn', {
      description:
        'The Cognito custom-authentication triggers (Define, Create and Verify Auth Challenge) for your user pool (docs/cognito.md).',
      value: cognitoAuthFunction.functionArn,
    });

    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogGroup', {
      retention: c.logRetentionDays as logs.RetentionDays,
      removalPolicy: cdk.RemovalPolicy.DESTROY,
    });
    const stage = new apigwv2.CfnStage(this, 'ApiStage', {
      apiId: httpApi.apiId,
      stageName: '$default',
      autoDeploy: true,
      defaultRouteSettings: { throttlingRateLimit: c.apiRateLimit, throttlingBurstLimit: c.apiBurstLimit },
      routeSettings: {
        'POST /api/otp/start': {
          ThrottlingRateLimit: c.otpStartRateLimit,
          ThrottlingBurstLimit: c.otpStartBurstLimit,
        },
      },
      accessLogSettings: { destinationArn: accessLogs.logGroupArn, format: ACCESS_LOG_FORMAT },
    });
    // Route settings name a route: the stage must come after it.
    for (const child of httpApi.node.children) {
      if (child instanceof apigwv2.HttpRoute) {
        stage.node.addDependency(child);
      }
    }

    // Alarms on the functions' embedded metrics (shared/src/ports/metrics.rs; docs/security.md R6) and on the
    // AWS services' own (docs/operations.md).
    const topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'simguard alarms' });
    if (c.alarmEmail !== '') {
      topic.addSubscription(new subscriptions.EmailSubscription(c.alarmEmail));
    }
    // Written out as the SAM template's alarms, property for property: the Alarm construct names and
    // orders a metric math alarm's metrics itself, and shared/tests/integration/infra.rs compares them.
    const alarm = (id: string, props: Partial<cloudwatch.CfnAlarmProps>) =>
      new cloudwatch.CfnAlarm(this, id, {
        evaluationPeriods: 1,
        comparisonOperator: 'GreaterThanOrEqualToThreshold',
        treatMissingData: 'notBreaching',
        alarmActions: [topic.topicArn],
        okActions: [topic.topicArn],
        ...props,
      });
    const dimensions = (values: Record<string, string>) =>
      Object.keys(values).length === 0 ? undefined : Object.entries(values).map(([name, value]) => ({ name, value }));
    /** One metric of a metric math alarm, summed over `period` seconds. */
    const sum = (
      id: string,
      namespace: string,
      metricName: string,
      period: number,
      values: Record<string, string> = {},
    ): cloudwatch.CfnAlarm.MetricDataQueryProperty => ({
      id,
      returnData: false,
      metricStat: { metric: { namespace, metricName, dimensions: dimensions(values) }, period, stat: 'Sum' },
    });
    /** The sum of these metrics, a missing data point counted as 0. */
    const total = (id: string, label: string, ids: string[]) => ({
      id,
      label,
      returnData: true,
      expression: ids.map((m) => `FILL(${m}, 0)`).join(' + '),
    });

    alarm('ProviderErrorsAlarm', {
      alarmDescription:
        "tru.ID, Vonage or Twilio calls are failing (timeouts, 5xx, refused credentials). The ProviderError metric's Provider and Call dimensions say which.",
      namespace: metricsNamespace,
      metricName: 'ProviderError',
      statistic: 'Sum',
      period: 300,
      threshold: c.providerErrorAlarmThreshold,
    });
    alarm('SmsConversionAlarm', {
      alarmDescription:
        'Few of the SMS codes sent in the last hour were verified - the signature of SMS pumping (docs/security.md F5). Check the SmsSent metric by Provider and the RateLimited metric.',
      metrics: [
        sum('sent', metricsNamespace, 'SmsSent', 3600),
        sum('verified', metricsNamespace, 'OtpVerified', 3600),
        {
          id: 'conversion',
          label: 'SMS conversion (%)',
          returnData: true,
          expression: `IF(FILL(sent, 0) >= ${c.smsConversionMinSends}, 100 * FILL(verified, 0) / FILL(sent, 0), 100)`,
        },
      ],
      threshold: c.smsConversionAlarmPercent,
      comparisonOperator: 'LessThanThreshold',
    });
    alarm('SimChangeBlockedAlarm', {
      alarmDescription:
        'Many resets or logins were blocked by a recent SIM change in the last hour - possibly a SIM-swap campaign.',
      namespace: metricsNamespace,
      metricName: 'SimChangeBlocked',
      statistic: 'Sum',
      period: 3600,
      threshold: c.simChangeBlockedAlarmThreshold,
    });
    // A log event, counted: sign-ins that went on without a SIM answer (allow_with_notice).
    new logs.MetricFilter(this, 'SimCheckUnavailableAllowedFilter', {
      logGroup: logGroups['sim-check'],
      filterPattern: logs.FilterPattern.stringValue('$.fields.event', '=', 'sim_check_unavailable_allowed'),
      metricNamespace: metricsNamespace,
      metricName: 'SimCheckUnavailableAllowed',
      metricValue: '1',
    });
    alarm('SimCheckUnavailableAllowedAlarm', {
      alarmDescription:
        'A sign-in went ahead without a SIM-swap answer (allow_with_notice) - tru.ID gave no answer. Each owner was told by email.',
      namespace: metricsNamespace,
      metricName: 'SimCheckUnavailableAllowed',
      statistic: 'Sum',
      period: 3600,
      threshold: 1,
    });
    alarm('OtpStartThrottlesAlarm', {
      alarmDescription:
        'otp-start reached its reserved concurrency - SMS requests are being refused (docs/security.md F7).',
      namespace: 'AWS/Lambda',
      metricName: 'Throttles',
      dimensions: dimensions({ FunctionName: functions['otp-start'].functionName }),
      statistic: 'Sum',
      period: 300,
      threshold: 1,
    });

    for (const [id, name] of [...specs.map((s) => [s.id, s.name]), ['Notify', 'notify'], ['CognitoAuth', 'cognito-auth']]) {
      const byFunction = { FunctionName: functions[name].functionName };
      alarm(`${id}FunctionAlarm`, {
        alarmDescription: `The ${name} function failed or was throttled in the last 5 minutes (docs/operations.md, "FunctionAlarm").`,
        metrics: [
          sum('errors', 'AWS/Lambda', 'Errors', 300, byFunction),
          sum('throttles', 'AWS/Lambda', 'Throttles', 300, byFunction),
          total('failures', `${name} errors + throttles`, ['errors', 'throttles']),
        ],
        threshold: 1,
      });
    }
    alarm('ApiServerErrorsAlarm', {
      alarmDescription: 'The API answered 5xx (docs/operations.md, "ApiServerErrorsAlarm").',
      namespace: 'AWS/ApiGateway',
      metricName: '5xx',
      dimensions: dimensions({ ApiId: httpApi.apiId, Stage: '$default' }),
      statistic: 'Sum',
      period: 300,
      threshold: 5,
    });
    const inTable = { TableName: table.tableName };
    alarm('TableThrottlesAlarm', {
      alarmDescription: 'DynamoDB throttled reads or writes on the table (docs/operations.md, "TableThrottlesAlarm").',
      metrics: [
        sum('reads', 'AWS/DynamoDB', 'ReadThrottleEvents', 300, inTable),
        sum('writes', 'AWS/DynamoDB', 'WriteThrottleEvents', 300, inTable),
        total('throttled', 'throttled requests', ['reads', 'writes']),
      ],
      threshold: 1,
    });
    // SystemErrors is published per operation only: one metric for each the store performs.
    const operations = ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'TransactWriteItems'];
    const errorIds = operations.map((_, i) => `e${i}`);
    alarm('TableSystemErrorsAlarm', {
      alarmDescription:
        'DynamoDB answered requests on the table with server errors (docs/operations.md, "TableSystemErrorsAlarm").',
      metrics: [
        ...operations.map((Operation, i) =>
          sum(errorIds[i], 'AWS/DynamoDB', 'SystemErrors', 300, { ...inTable, Operation }),
        ),
        total('errors', 'system errors', errorIds),
      ],
      threshold: 1,
    });
    alarm('NotificationNotQueuedAlarm', {
      alarmDescription:
        'A security email could not be put on the notification queue and is lost (docs/operations.md, "NotificationNotQueuedAlarm").',
      namespace: metricsNamespace,
      metricName: 'NotificationNotQueued',
      statistic: 'Sum',
      period: 300,
      threshold: 1,
    });
    alarm('NotifyDeadLetterAlarm', {
      alarmDescription:
        'A security email could not be sent and is parked in the dead-letter queue (docs/operations.md, "NotifyDeadLetterAlarm").',
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: dimensions({ QueueName: deadLetterQueue.queueName }),
      statistic: 'Maximum',
      period: 300,
      threshold: 1,
    });
    alarm('MailBounceRateAlarm', {
      alarmDescription:
        'SES bounce rate of the account is at 5 % - SES reviews an account at 5 % and may pause sending at 10 % (docs/operations.md, "MailBounceRateAlarm").',
      namespace: 'AWS/SES',
      metricName: 'Reputation.BounceRate',
      statistic: 'Maximum',
      period: 3600,
      threshold: 0.05,
    });
    alarm('MailComplaintRateAlarm', {
      alarmDescription:
        'SES complaint rate of the account is at 0.1 % - SES reviews an account at 0.1 % and may pause sending at 0.5 % (docs/operations.md, "MailComplaintRateAlarm").',
      namespace: 'AWS/SES',
      metricName: 'Reputation.ComplaintRate',
      statistic: 'Maximum',
      period: 3600,
      threshold: 0.001,
    });

    const dashboard = new cloudwatch.CfnDashboard(this, 'Dashboard', {
      dashboardName: `${this.stackName}-simguard`,
      // The SAM template's body, character for character (shared/tests/integration/infra.rs compares
      // them); Fn::Sub fills in the region, the stack and the queues.
      dashboardBody: cdk.Fn.sub(DASHBOARD_BODY, {
        QueueName: notifyQueue.queueName,
        DeadLetterQueueName: deadLetterQueue.queueName,
      }),
    });

    new cdk.CfnOutput(this, 'DashboardUrl', {
      description: 'The operations dashboard (docs/operations.md).',
      value: `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${dashboard.ref}`,
    });
    new cdk.CfnOutput(this, 'NotifyDeadLetterQueueUrl', {
      description: 'Security emails that could not be sent (docs/operations.md, "NotifyDeadLetterAlarm").',
      value: deadLetterQueue.queueUrl,
    });
    new cdk.CfnOutput(this, 'SiteUrl', {
      description: 'The site. Open it on a phone on mobile data for the silent check.',
      value: siteUrl,
    });
    new cdk.CfnOutput(this, 'TruIdRedirectUrl', {
      description: 'Set this as the redirect URL of your tru.ID project (SubscriberCheck callbacks).',
      value: `${siteUrl}/api/reset/callback`,
    });
    new cdk.CfnOutput(this, 'ApiUrl', {
      description: "The HTTP API's own endpoint. It refuses requests that did not come through CloudFront.",
      value: `https://${apiDomain}`,
    });
    new cdk.CfnOutput(this, 'SiteBucketName', {
      description: 'Upload static-site/public here (scripts/deploy-site does).',
      value: siteBucket.bucketName,
    });
    new cdk.CfnOutput(this, 'DistributionId', {
      description: 'The CloudFront distribution (invalidate it after uploading the site).',
      value: distribution.distributionId,
    });
    new cdk.CfnOutput(this, 'TableName', { description: 'The DynamoDB table.', value: table.tableName });
    new cdk.CfnOutput(this, 'SimChangeWindowMinutes', {
      description: 'How long a SIM change blocks phone checks (scripts/deploy-site tells the pages).',
      value: String(c.simChangeWindowMinutes),
    });
    new cdk.CfnOutput(this, 'ProviderSecretArn', {
      description: 'Put the tru.ID, Vonage and Twilio credentials here (README.md, "Configuration").',
      value: providerSecret.secretArn,
    });
    new cdk.CfnOutput(this, 'AlarmTopicArn', {
      description: 'The SNS topic the alarms publish to.',
      value: topic.topicArn,
    });
  }
}

/** The site's viewer-request function (see the SAM template's); `domain` is empty without a custom one. */
function sitePathsCode(domain: string): string {
  return `function handler(event) {
  var request = event.request;
  var domain = '${domain}';
  var host = request.headers.host ? request.headers.host.value : '';
  if (domain !== '' && host !== domain) {
    var query = [];
    for (var name in request.querystring) {
      var param = request.querystring[name];
      var values = param.multiValue ? param.multiValue : [param];
      for (var i = 0; i < values.length; i++) query.push(name + '=' + values[i].value);
    }
    var location = 'https://' + domain + request.uri + (query.length ? '?' + query.join('&') : '');
    return { statusCode: 301, statusDescription: 'Moved Permanently', headers: { location: { value: location } } };
  }
  if (request.uri.charAt(request.uri.length - 1) === '/') request.uri += 'index.html';
  return request;
}
`;
}
