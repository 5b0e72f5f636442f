//! The Lambda functions simguard deploys: one binary, one IAM role and one set of variables each.

/// One Lambda function each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    /// `GET /api/coverage`
    Coverage,
    /// `POST /api/reset/check`
    CreateCheck,
    /// `GET /api/reset/callback`
    Callback,
    /// `POST /api/reset/password`
    ResetPassword,
    /// `POST /api/sim-check`
    SimCheck,
    /// `POST /api/otp/start`
    OtpStart,
    /// `POST /api/otp/verify`
    OtpVerify,
    /// `POST /api/register`, `/api/login`, `/api/logout`, `/api/password`, `/api/logout-everywhere`; `GET /api/me`
    Account,
    /// Not behind the API: takes the notification queue's batches and sends the emails.
    Notify,
    /// Not behind the API: Amazon Cognito's custom-authentication triggers (define, create and
    /// verify an auth challenge) for a user pool that adds simguard's checks to its sign-in.
    CognitoAuth,
}

impl Function {
    /// The functions behind the API, in the order of the route table.
    pub const HTTP: [Function; 8] = [
        Function::Coverage,
        Function::CreateCheck,
        Function::Callback,
        Function::ResetPassword,
        Function::SimCheck,
        Function::OtpStart,
        Function::OtpVerify,
        Function::Account,
    ];

    /// The functions something other than API Gateway invokes.
    pub const EVENTS: [Function; 2] = [Function::Notify, Function::CognitoAuth];

    /// Every function: the API's, then the others.
    pub const ALL: [Function; 10] = {
        let mut all = [Function::Notify; 10];
        let mut i = 0;
        while i < Self::HTTP.len() {
            all[i] = Self::HTTP[i];
            i += 1;
        }
        let mut j = 0;
        while j < Self::EVENTS.len() {
            all[i + j] = Self::EVENTS[j];
            j += 1;
        }
        all
    };

    /// The binary (and Lambda function) name.
    pub fn name(self) -> &'static str {
        match self {
            Function::Coverage => "coverage",
            Function::CreateCheck => "create-check",
            Function::Callback => "callback",
            Function::ResetPassword => "reset-password",
            Function::SimCheck => "sim-check",
            Function::OtpStart => "otp-start",
            Function::OtpVerify => "otp-verify",
            Function::Account => "account",
            Function::Notify => "notify",
            Function::CognitoAuth => "cognito-auth",
        }
    }

    /// Whether API Gateway invokes it (every function but the queue consumer and the Cognito
    /// triggers).
    pub fn serves_http(self) -> bool {
        !Self::EVENTS.contains(&self)
    }

    /// The function with this binary name.
    pub fn by_name(name: &str) -> Option<Function> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}
