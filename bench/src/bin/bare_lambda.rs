//! The floor the cold-start benchmark measures against: a `lambda_http` function that answers
//! "hello", with nothing else, built with the same release profile as the functions.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_: Request| async { Ok::<_, Error>(Response::new(Body::from("hello"))) })).await
}
