//! The verification API's registry, from the operator's machine: sites, their return URLs and their
//! API keys. A key's secret is printed once and stored only as its hash.

use simguard::domain::Timestamp;
use simguard::domain::relying_site::{RelyingSite, SiteId, new_api_key, principal, return_url};
use simguard::ports::{Random, Store};

fn now() -> Result<Timestamp, String> {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?;
    Ok(Timestamp(i64::try_from(secs.as_secs()).unwrap_or(i64::MAX)))
}

fn site_id(raw: &str) -> Result<SiteId, String> {
    SiteId::parse(raw).ok_or_else(|| format!("{raw:?}: a site id is 1-40 of a-z, 0-9 and -"))
}

/// Registers the site, or replaces its name and return URLs.
pub async fn put_site(store: &dyn Store, id: &str, name: &str, urls: &[&str]) -> Result<(), String> {
    let id = site_id(id)?;
    let mut return_urls = Vec::new();
    for raw in urls {
        return_urls.push(return_url(raw).map_err(|e| format!("{raw}: {e}"))?);
    }
    let created_at = match store.site(&id).await.map_err(|e| e.to_string())? {
        Some(existing) => existing.created_at,
        None => now()?,
    };
    let site = RelyingSite { id: id.clone(), name: name.to_owned(), return_urls, created_at };
    store.put_site(&site).await.map_err(|e| e.to_string())?;
    println!("site {} registered with {} return URL(s)", id.as_str(), site.return_urls.len());
    Ok(())
}

/// A new key for a registered site: printed once.
pub async fn create_api_key(store: &dyn Store, id: &str) -> Result<(), String> {
    let id = site_id(id)?;
    store.site(&id).await.map_err(|e| e.to_string())?.ok_or("no such site: put-site first")?;
    let random = simguard::adapters::random::OsRandom;
    let (mut key_id, mut secret) = ([0u8; 8], [0u8; 32]);
    random.fill(&mut key_id).map_err(|e| e.to_string())?;
    random.fill(&mut secret).map_err(|e| e.to_string())?;
    let (shown, record) = new_api_key(&id, key_id, secret, now()?);
    store.put_api_key(&record).await.map_err(|e| format!("not stored: {e} (try again)"))?;
    eprintln!("key {} for site {}; it is shown once, keep it in your backend's secrets:", record.key_id, id.as_str());
    println!("{shown}");
    Ok(())
}

/// The site's keys: id, created, revoked.
pub async fn list_api_keys(store: &dyn Store, id: &str) -> Result<(), String> {
    let id = site_id(id)?;
    for key in store.api_keys(&id).await.map_err(|e| e.to_string())? {
        let revoked = key.revoked_at.map_or_else(|| "active".to_owned(), |t| format!("revoked at {}", t.0));
        println!("{} created at {} {revoked}", key.key_id, key.created_at.0);
    }
    Ok(())
}

/// Revokes one key; the site's others keep working.
pub async fn revoke_api_key(store: &dyn Store, id: &str, key_id: &str) -> Result<(), String> {
    let id = site_id(id)?;
    store.revoke_api_key(&id, key_id, now()?).await.map_err(|e| format!("not revoked: {e}"))?;
    println!("key {key_id} of site {} revoked", id.as_str());
    Ok(())
}

/// Lets an IAM role (every session of it) or user call the verification API's IAM routes as the site.
pub async fn put_site_principal(store: &dyn Store, id: &str, arn: &str) -> Result<(), String> {
    let id = site_id(id)?;
    store.site(&id).await.map_err(|e| e.to_string())?.ok_or("no such site: put-site first")?;
    let principal = principal(arn).ok_or_else(|| format!("{arn}: not the ARN of an IAM role or user"))?;
    store.put_site_principal(&principal, &id).await.map_err(|e| e.to_string())?;
    println!("{principal} calls the verification API as site {}", id.as_str());
    Ok(())
}
