//! Argon2id (docs/security.md D4) off the async executor: a hash is tens of milliseconds of pure CPU
//! and would stall every other request on the worker. It runs on its own bounded pool instead
//! (docs/security.md R10): one thread per core, so at most that many hashes (19 MiB each) exist at
//! once, and their memory stays with those few threads rather than spreading over the blocking
//! pool's. Work whose request stopped waiting is skipped.

use std::sync::{Arc, LazyLock, OnceLock};

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::adapters::imported_hash;
use crate::domain::{Password, PasswordHash};
use crate::ports::{HashError, ImportedVerdict, PasswordHasher, Random, SecretSource};

/// Argon2id parameters. Production: m = 19 MiB, t = 2, p = 1 (OWASP Password Storage Cheat Sheet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashCost {
    /// What every deployed function and the local stack use.
    pub const PRODUCTION: HashCost = HashCost { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };
    /// Only for tests that hash many passwords; never configurable at run time.
    pub const TEST_ONLY_CHEAP: HashCost = HashCost { memory_kib: 64, iterations: 1, parallelism: 1 };
}

/// The hashing pool, shared by every hasher in the process; started on first use.
static POOL: LazyLock<Option<rayon_core::ThreadPool>> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    rayon_core::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("argon2-{i}")).build().ok()
});

/// The most hashes that run at once.
pub fn pool_size() -> usize {
    POOL.as_ref().map_or(0, rayon_core::ThreadPool::current_num_threads)
}

/// Runs `work` on the hashing pool, in the order asked for.
async fn on_pool<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
    let pool = POOL.as_ref().ok_or(HashError::Join)?;
    let (answer, wait) = tokio::sync::oneshot::channel();
    pool.spawn(move || {
        // Whoever asked stopped waiting (its request ran out of time): skip the work.
        if !answer.is_closed() {
            let _ = answer.send(work());
        }
    });
    wait.await.map_err(|_| HashError::Join)
}

thread_local! {
    /// This pool thread's Argon2 memory (19 MiB), kept from one hash to the next. Allocated and freed
    /// for every hash, it is the C allocator's to keep, and it keeps it — once for every arena a
    /// hashing thread ever used; kept here, the process holds exactly one per pool thread.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2id of `password` into `out`, in this thread's memory.
fn argon2id(
    password: &[u8],
    salt: &[u8],
    params: Params,
    version: Version,
    pepper: Option<&[u8]>,
    out: &mut [u8],
) -> Result<(), HashError> {
    let blocks = params.block_count();
    let argon2 = match pepper {
        Some(secret) => {
            Argon2::new_with_secret(secret, Algorithm::Argon2id, version, params).map_err(|_| HashError::Argon2)?
        }
        None => Argon2::new(Algorithm::Argon2id, version, params),
    };
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() != blocks {
            *memory = vec![Block::new(); blocks];
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..]).map_err(|_| HashError::Argon2)
    })
}

/// A new PHC string for `password` (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
fn hash_phc(password: &[u8], salt: &[u8], cost: HashCost, pepper: Option<&[u8]>) -> Result<String, HashError> {
    let params =
        Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None).map_err(|_| HashError::Argon2)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2id(password, salt, params.clone(), Version::V0x13, pepper, &mut out)?;
    let phc = argon2::PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|_| HashError::Argon2)?,
        salt: Some(Salt::new(salt).map_err(|_| HashError::Argon2)?),
        hash: Some(Output::new(&out).map_err(|_| HashError::Argon2)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` is the one `stored` (a PHC string) was made from, with that hash's own
/// parameters. Anything but Argon2id is refused.
fn verify_phc(password: &[u8], stored: &str, pepper: Option<&[u8]>) -> bool {
    let Ok(phc) = argon2::PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else { return false };
    let Ok(params) = Params::try_from(&phc) else { return false };
    let version = phc.version.map_or(Ok(Version::V0x13), Version::try_from);
    let (true, Ok(version)) = (phc.algorithm == argon2::ARGON2ID_IDENT, version) else { return false };
    let mut out = vec![0u8; expected.len()];
    argon2id(password, salt, params, version, pepper, &mut out).is_ok()
        && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// The Argon2id hasher.
pub struct Argon2Hasher {
    cost: HashCost,
    /// Where the optional pepper lives: read when first needed, not at start-up. With a source, a
    /// pepper that cannot be read fails the operation; it never falls back to none.
    pepper: Option<Arc<dyn SecretSource>>,
    random: Arc<dyn Random>,
    /// A hash of a random password with the same cost, verified against for unknown users. Built on
    /// first use, not at start-up, to keep cold starts short.
    dummy: OnceLock<PasswordHash>,
}

impl Argon2Hasher {
    /// A hasher with this cost, pepper source and salt source.
    pub fn new(cost: HashCost, pepper: Option<Arc<dyn SecretSource>>, random: Arc<dyn Random>) -> Self {
        Self { cost, pepper, random, dummy: OnceLock::new() }
    }

    async fn pepper(&self) -> Result<Option<SecretString>, HashError> {
        match &self.pepper {
            None => Ok(None),
            Some(source) => Ok(source.load(false).await.map_err(|_| HashError::Pepper)?.password_pepper.clone()),
        }
    }

    async fn hash_secret(&self, password: SecretString) -> Result<PasswordHash, HashError> {
        let mut salt = [0u8; 16];
        self.random.fill(&mut salt).map_err(|_| HashError::Random)?;
        let cost = self.cost;
        let pepper = self.pepper().await?;
        on_pool(move || {
            let pepper = pepper.as_ref().map(|p| p.expose_secret().as_bytes());
            hash_phc(password.expose_secret().as_bytes(), &salt, cost, pepper).map(PasswordHash::from_phc)
        })
        .await?
    }

    async fn dummy_hash(&self) -> Option<PasswordHash> {
        if let Some(h) = self.dummy.get() {
            return Some(h.clone());
        }
        let mut pw = [0u8; 24];
        self.random.fill(&mut pw).ok()?;
        let h = self.hash_secret(SecretString::from(hex::encode(pw))).await.ok()?;
        Some(self.dummy.get_or_init(|| h).clone())
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.hash_secret(SecretString::from(password.expose().to_owned())).await
    }

    async fn verify(&self, password: SecretString, stored: Option<&PasswordHash>) -> bool {
        let (hash, real) = match stored {
            Some(h) => (h.clone(), true),
            None => match self.dummy_hash().await {
                Some(h) => (h, false),
                None => return false,
            },
        };
        let Ok(pepper) = self.pepper().await else { return false };
        let ok = on_pool(move || {
            let pepper = pepper.as_ref().map(|p| p.expose_secret().as_bytes());
            verify_phc(password.expose_secret().as_bytes(), hash.as_str(), pepper)
        })
        .await
        .unwrap_or(false);
        ok && real
    }

    async fn verify_imported(
        &self,
        raw: SecretString,
        normalised: SecretString,
        stored: &PasswordHash,
    ) -> ImportedVerdict {
        let stored = stored.as_str().to_owned();
        let (typed, login_form) = (raw.clone(), normalised.clone());
        let ok = on_pool(move || {
            let (typed, login_form) = (typed.expose_secret(), login_form.expose_secret());
            imported_hash::verify(typed.as_bytes(), &stored)
                || (login_form != typed && imported_hash::verify(login_form.as_bytes(), &stored))
        })
        .await
        .unwrap_or(false);
        if !ok {
            return ImportedVerdict::Wrong;
        }
        ImportedVerdict::Right(self.hash_secret(normalised).await.ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::random::OsRandom;
    use crate::adapters::secrets::StaticSecrets;
    use crate::domain::PasswordPolicy;
    use crate::ports::ProviderSecrets;

    fn hasher(cost: HashCost, pepper: Option<&str>) -> Argon2Hasher {
        let source = pepper.map(|p| {
            let secrets = ProviderSecrets { password_pepper: Some(SecretString::from(p)), ..Default::default() };
            Arc::new(StaticSecrets::new(secrets)) as Arc<dyn SecretSource>
        });
        Argon2Hasher::new(cost, source, Arc::new(OsRandom))
    }

    #[tokio::test]
    async fn argon2id_with_production_parameters() {
        let hasher = hasher(HashCost::PRODUCTION, None);
        let pw = PasswordPolicy::check("a long enough passphrase", None).expect("valid");
        let h = hasher.hash(&pw).await.expect("hash");
        assert!(h.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", h.as_str());
        let again = hasher.hash(&pw).await.expect("hash");
        assert_ne!(h, again, "salted");
        assert!(hasher.verify(SecretString::from("a long enough passphrase"), Some(&h)).await);
        assert!(!hasher.verify(SecretString::from("a long enough passphrasE"), Some(&h)).await);
        assert!(!hasher.verify(SecretString::from("a long enough passphrase"), None).await);
    }

    /// Hashes made here are the argon2 crate's own PHC strings, both ways: what is stored verifies.
    #[test]
    fn the_phc_strings_are_the_argon2_crates() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let cost = HashCost::TEST_ONLY_CHEAP;
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None).expect("params");
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let salt = [7u8; 16];
        let ours = hash_phc(b"a long enough passphrase", &salt, cost, None).expect("hash");
        let reference = theirs.hash_password_with_salt(b"a long enough passphrase", &salt).expect("hash").to_string();
        assert_eq!(ours, reference);
        assert!(theirs.verify_password(b"a long enough passphrase", ours.as_str()).is_ok());
        assert!(verify_phc(b"a long enough passphrase", &reference, None));
        assert!(!verify_phc(b"a long enough passphrasE", &reference, None));
        // With a pepper, and with parameters other than ours (they come from the stored hash).
        let peppered = Argon2::new_with_secret(b"pepper", Algorithm::Argon2id, Version::V0x13, params).expect("a");
        let stored = peppered.hash_password_with_salt(b"pw with pepper 1", &salt).expect("hash").to_string();
        assert!(verify_phc(b"pw with pepper 1", &stored, Some(b"pepper")));
        assert!(!verify_phc(b"pw with pepper 1", &stored, None));
        let other = Params::new(128, 2, 1, None).expect("params");
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, other).hash_password_with_salt(b"x", &salt);
        assert!(verify_phc(b"x", &stored.expect("hash").to_string(), None));
        // Not Argon2id, or not a PHC string: refused.
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(64, 1, 1, None).expect("p"));
        assert!(!verify_phc(b"x", &argon2i.hash_password_with_salt(b"x", &salt).expect("hash").to_string(), None));
        assert!(!verify_phc(b"x", "not a hash", None));
    }

    /// However many hash at once, no more run at a time than the pool has threads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn hashing_runs_on_a_bounded_pool() {
        static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        static MOST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        use std::sync::atomic::Ordering::SeqCst;
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                tokio::spawn(on_pool(|| {
                    let now = RUNNING.fetch_add(1, SeqCst) + 1;
                    MOST.fetch_max(now, SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    RUNNING.fetch_sub(1, SeqCst);
                }))
            })
            .collect();
        for t in tasks {
            assert!(matches!(t.await, Ok(Ok(()))));
        }
        assert!(MOST.load(SeqCst) <= pool_size(), "{} at once, pool of {}", MOST.load(SeqCst), pool_size());
        assert!(pool_size() >= 1);
    }

    #[tokio::test]
    async fn pepper_changes_the_hash() {
        let peppered = hasher(HashCost::TEST_ONLY_CHEAP, Some("pepper"));
        let plain = hasher(HashCost::TEST_ONLY_CHEAP, None);
        let pw = PasswordPolicy::check("a long enough passphrase", None).expect("valid");
        let h = peppered.hash(&pw).await.expect("hash");
        assert!(peppered.verify(SecretString::from("a long enough passphrase"), Some(&h)).await);
        assert!(!plain.verify(SecretString::from("a long enough passphrase"), Some(&h)).await);
    }
}
