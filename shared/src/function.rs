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

    /// Every function: the API's, then the queue consumer.
    pub const ALL: [Function; 9] = {
        let mut all = [Function::Notify; 9];
        let mut i = 0;
        while i < Self::HTTP.len() {
            all[i] = Self::HTTP[i];
            i += 1;
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
        }
    }

    /// Whether API Gateway invokes it (every function but the queue consumer).
    pub fn serves_http(self) -> bool {
        self != Function::Notify
    }

    /// The function with this binary name.
    pub fn by_name(name: &str) -> Option<Function> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}
