// The same system as infra/sam/template.yaml: eight Rust functions (cargo-lambda-cdk, arm64) behind
// an HTTP API, one DynamoDB table, the provider secret, and the static site on CloudFront with
// /api/* routed to the API. shared/tests/infra.rs checks the synthesized template against the SAM
// template and against the route table in shared/src/routes.rs.
import * as path from 'node:path';
import * as cdk from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
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

type TableAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'ConditionCheckItem' | 'Query';

interface FunctionSpec {
  /** Logical id prefix, as in the SAM template. */
  readonly id: string;
  /** The binary (functions/<name>). */
  readonly name: string;
  readonly routes: ReadonlyArray<[apigwv2.HttpMethod, string]>;
  readonly memoryMb?: number;
  readonly environment: Record<string, string>;
  /** The table actions its code performs (shared/tests/integration/infra.rs records them). */
  readonly tableActions: TableAction[];
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
    const distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `simguard (${this.stackName})`,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableIpv6: true,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      defaultRootObject: 'index.html',
      domainNames: customDomain ? [c.siteDomainName] : undefined,
      certificate: customDomain
        ? cdk.aws_certificatemanager.Certificate.fromCertificateArn(this, 'SiteCertificate', c.siteCertificateArn)
        : undefined,
      minimumProtocolVersion: customDomain ? cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 : undefined,
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(siteBucket, { originId: 'site' }),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        compress: true,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: securityHeaders,
      },
      additionalBehaviors: {
        '/api/*': {
          origin: new origins.HttpOrigin(apiDomain, {
            originId: 'api',
            protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
            customHeaders: { 'X-Simguard-Origin-Verify': originVerifyToken },
          }),
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

    // Every function reads these (shared/src/config.rs, `variables`).
    const common: Record<string, string> = {
      SIMGUARD_PUBLIC_BASE_URL: siteUrl,
      SIMGUARD_TABLE_NAME: table.tableName,
      SIMGUARD_SECRET_ID: providerSecret.secretArn,
      SIMGUARD_CLIENT_IP_SOURCE: 'cloudfront',
      SIMGUARD_ORIGIN_VERIFY_TOKEN: originVerifyToken,
      SIMGUARD_METRICS_NAMESPACE: metricsNamespace,
    };
    const truid = { SIMGUARD_TRUID_BASE_URL: c.truIdBaseUrl };
    const window = { SIMGUARD_SIM_CHANGE_WINDOW_MINUTES: String(c.simChangeWindowMinutes) };
    const otp: Record<string, string> = { SIMGUARD_OTP_PROVIDER: c.otpProvider };
    if (c.twilioServiceSid !== '') {
      otp.SIMGUARD_TWILIO_SERVICE_SID = c.twilioServiceSid;
    }

    const specs: FunctionSpec[] = [
      {
        id: 'Coverage',
        name: 'coverage',
        routes: [[GET, '/api/coverage']],
        environment: { ...truid },
        tableActions: ['GetItem', 'PutItem', 'UpdateItem'],
      },
      {
        id: 'CreateCheck',
        name: 'create-check',
        routes: [[POST, '/api/reset/check']],
        environment: { ...truid, ...window, SIMGUARD_LIMIT_RESET_GLOBAL_HOUR: String(c.resetGlobalHourlyBudget) },
        tableActions: ['GetItem', 'PutItem', 'UpdateItem'],
      },
      {
        id: 'Callback',
        name: 'callback',
        routes: [[GET, '/api/reset/callback']],
        environment: { ...truid, ...window },
        tableActions: ['GetItem', 'UpdateItem'],
      },
      {
        id: 'ResetPassword',
        name: 'reset-password',
        routes: [[POST, '/api/reset/password']],
        memoryMb: 1024,
        environment: {},
        tableActions: ['GetItem', 'PutItem', 'UpdateItem'],
      },
      {
        id: 'SimCheck',
        name: 'sim-check',
        routes: [[POST, '/api/sim-check']],
        environment: { ...truid, ...window, SIMGUARD_SIMCHECK_UNAVAILABLE_POLICY: c.simCheckUnavailablePolicy },
        tableActions: ['GetItem', 'UpdateItem'],
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
        routes: [[POST, '/api/otp/verify']],
        environment: { ...otp },
        tableActions: ['GetItem', 'PutItem', 'UpdateItem'],
      },
      {
        id: 'Account',
        name: 'account',
        routes: [
          [POST, '/api/register'],
          [POST, '/api/login'],
          [POST, '/api/logout'],
          [GET, '/api/me'],
        ],
        memoryMb: 1024,
        environment: { SIMGUARD_SMS_COUNTRIES: c.smsCountries, SIMGUARD_DEFAULT_REGION: c.defaultRegion },
        tableActions: ['DeleteItem', 'GetItem', 'PutItem', 'UpdateItem'],
      },
    ];

    const functions: Record<string, lambda.Function> = {};
    const logGroups: Record<string, logs.LogGroup> = {};
    for (const spec of specs) {
      const logGroup = new logs.LogGroup(this, `${spec.id}LogGroup`, {
        retention: c.logRetentionDays as logs.RetentionDays,
        removalPolicy: cdk.RemovalPolicy.DESTROY,
      });
      logGroups[spec.name] = logGroup;
      const fn = new RustFunction(this, `${spec.id}Function`, {
        manifestPath: WORKSPACE_MANIFEST,
        binaryName: spec.name,
        architecture: lambda.Architecture.ARM_64,
        description: `simguard ${spec.name} (${spec.routes.map(([m, p]) => `${m} ${p}`).join(', ')})`,
        memorySize: spec.memoryMb ?? 256,
        // Provider calls time out after 3 s; API Gateway gives up at 30 s.
        timeout: cdk.Duration.seconds(10),
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
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ProviderSecret',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [providerSecret.secretArn],
        }),
      );
      cdk.Tags.of(fn).add('simguard:function', spec.name);
      const integration = new HttpLambdaIntegration(`${spec.id}Integration`, fn, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      });
      for (const [method, routePath] of spec.routes) {
        httpApi.addRoutes({ path: routePath, methods: [method], integration });
      }
      functions[spec.name] = fn;
    }

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

    // Alarms on the functions' embedded metrics (shared/src/metrics.rs; docs/security.md R6).
    const topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'simguard alarms' });
    if (c.alarmEmail !== '') {
      topic.addSubscription(new subscriptions.EmailSubscription(c.alarmEmail));
    }
    const notify = (alarm: cloudwatch.Alarm) => {
      alarm.addAlarmAction(new cwActions.SnsAction(topic));
      alarm.addOkAction(new cwActions.SnsAction(topic));
    };
    const metric = (metricName: string, period: cdk.Duration) =>
      new cloudwatch.Metric({ namespace: metricsNamespace, metricName, statistic: 'Sum', period });

    notify(
      new cloudwatch.Alarm(this, 'ProviderErrorsAlarm', {
        alarmDescription:
          "tru.ID, Vonage or Twilio calls are failing (timeouts, 5xx, refused credentials). The ProviderError metric's Provider and Call dimensions say which.",
        metric: metric('ProviderError', cdk.Duration.minutes(5)),
        evaluationPeriods: 1,
        threshold: c.providerErrorAlarmThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    notify(
      new cloudwatch.Alarm(this, 'SmsConversionAlarm', {
        alarmDescription:
          'Few of the SMS codes sent in the last hour were verified - the signature of SMS pumping (docs/security.md F5). Check the SmsSent metric by Provider and the RateLimited metric.',
        metric: new cloudwatch.MathExpression({
          label: 'SMS conversion (%)',
          expression: `IF(FILL(sent, 0) >= ${c.smsConversionMinSends}, 100 * FILL(verified, 0) / FILL(sent, 0), 100)`,
          usingMetrics: {
            sent: metric('SmsSent', cdk.Duration.hours(1)),
            verified: metric('OtpVerified', cdk.Duration.hours(1)),
          },
          period: cdk.Duration.hours(1),
        }),
        evaluationPeriods: 1,
        threshold: c.smsConversionAlarmPercent,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    notify(
      new cloudwatch.Alarm(this, 'SimChangeBlockedAlarm', {
        alarmDescription:
          'Many resets or logins were blocked by a recent SIM change in the last hour - possibly a SIM-swap campaign.',
        metric: metric('SimChangeBlocked', cdk.Duration.hours(1)),
        evaluationPeriods: 1,
        threshold: c.simChangeBlockedAlarmThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    // A log event, counted: sign-ins that went on without a SIM answer (allow_with_notice).
    new logs.MetricFilter(this, 'SimCheckUnavailableAllowedFilter', {
      logGroup: logGroups['sim-check'],
      filterPattern: logs.FilterPattern.stringValue('$.fields.event', '=', 'sim_check_unavailable_allowed'),
      metricNamespace: metricsNamespace,
      metricName: 'SimCheckUnavailableAllowed',
      metricValue: '1',
    });
    notify(
      new cloudwatch.Alarm(this, 'SimCheckUnavailableAllowedAlarm', {
        alarmDescription:
          'A sign-in went ahead without a SIM-swap answer (allow_with_notice): tru.ID gave no answer. Each owner was told by email.',
        metric: metric('SimCheckUnavailableAllowed', cdk.Duration.hours(1)),
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    notify(
      new cloudwatch.Alarm(this, 'OtpStartThrottlesAlarm', {
        alarmDescription:
          'otp-start reached its reserved concurrency - SMS requests are being refused (docs/security.md F7).',
        metric: functions['otp-start'].metricThrottles({ statistic: 'Sum', period: cdk.Duration.minutes(5) }),
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

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
