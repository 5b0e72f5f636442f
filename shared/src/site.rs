//! The static site's response headers. The local stack sets these on every page; in a deployment
//! CloudFront's response headers policy sets them (plus HSTS, which plain-HTTP localhost cannot
//! use). The infrastructure tests hold the SAM template and the CDK app to these values.

/// No inline script or style, no third-party origin: the pages load their own ES modules and the
/// vendored tru.ID SDK. The operator check is a top-level navigation, which CSP does not restrict.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; \
    object-src 'none'";

/// `Referrer-Policy` of every page.
pub const REFERRER_POLICY: &str = "no-referrer";
/// `X-Frame-Options` of every page.
pub const FRAME_OPTIONS: &str = "DENY";
/// Two years, subdomains included (the deployed site is HTTPS only).
pub const HSTS_MAX_AGE_SECS: u64 = 63_072_000;

/// The request headers the API reads, besides `Cookie`: CloudFront's origin request policy for
/// `/api/*` forwards exactly these (and every cookie and query parameter), so nothing else reaches
/// the functions. `Origin` and `Sec-Fetch-Site` are the CSRF check's (docs/security.md G1).
pub const API_REQUEST_HEADERS: &[&str] = &[
    "cloudfront-viewer-address",
    "content-type",
    "origin",
    "sec-fetch-site",
    "user-agent",
    "x-csrf-token",
    "x-simguard-api-key",
];
