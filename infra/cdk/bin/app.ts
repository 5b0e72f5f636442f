#!/usr/bin/env node
// simguard's CDK app: `npx cdk deploy` (README.md, "Deploy"). Settings come from cdk.json's context,
// overridable with `-c name=value`; they are the SAM template's parameters under the same names.
import * as cdk from 'aws-cdk-lib';
import { readConfig } from '../lib/config';
import { SimguardStack } from '../lib/simguard-stack';

const app = new cdk.App();
// `-c skipBundling=true` synthesizes the template without building the functions (the
// infrastructure tests read the template; a deploy always builds).
if (String(app.node.tryGetContext('skipBundling')) === 'true') {
  app.node.setContext('aws:cdk:bundling-stacks', []);
}
const config = readConfig((key) => app.node.tryGetContext(key));
new SimguardStack(app, 'Simguard', {
  stackName: config.stackName,
  description:
    'simguard: silent SIM-based verification (tru.ID), a SIM-swap gate before any SMS and an SMS code fallback, for password reset and login 2FA.',
  config,
});
