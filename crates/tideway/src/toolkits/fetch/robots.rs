//! robots.txt for pages a model asks for (RFC 9309, matched by Google's reference
//! parser): fetched through the same checked client, kept per origin for a while. A
//! missing robots.txt (4xx) allows everything; one that cannot be read (5xx, a
//! timeout, a refused redirect) means the site is not fetched, since nobody can say
//! what it allows.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use http::{HeaderMap, Method};
use tideway_core::HubError;
use url::Url;

use super::client::{Fetcher, Outgoing, shown};

/// How long a site's robots.txt is trusted before it is read again.
const KEPT_FOR: Duration = Duration::from_secs(600);
/// The most origins remembered; past that the memory starts over.
const MAX_ORIGINS: usize = 4096;
/// robots.txt files are small; the standard asks parsers to read at least 500 KiB.
const MAX_ROBOTS_BYTES: u64 = 512 * 1024;
const ROBOTS_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
enum Rules {
    AllowAll,
    Text(String),
}

#[derive(Default)]
pub struct Robots {
    // One map behind one lock: entries are small and the lock is held only to look
    // up or insert, never across the network.
    known: Mutex<HashMap<String, (Instant, Rules)>>,
}

impl Robots {
    /// Refuses the URL if its site's robots.txt disallows it for `agent`, or cannot
    /// be read.
    pub async fn check(&self, fetcher: &Fetcher, agent: &str, url: &Url) -> Result<(), HubError> {
        let origin = url.origin().ascii_serialization();
        let rules = match self.remembered(&origin) {
            Some(rules) => rules,
            None => {
                let rules = read(fetcher, url).await?;
                self.remember(origin, rules.clone());
                rules
            }
        };
        match rules {
            Rules::AllowAll => Ok(()),
            Rules::Text(text) => {
                let mut matcher = robotstxt::DefaultMatcher::default();
                if matcher.one_agent_allowed_by_robots(&text, agent, url.as_str()) {
                    Ok(())
                } else {
                    Err(HubError::Forbidden(format!(
                        "the site's robots.txt does not allow {agent} to fetch {}; the operator can turn this off with [fetch] obey_robots_txt = false",
                        shown(url)
                    )))
                }
            }
        }
    }

    fn remembered(&self, origin: &str) -> Option<Rules> {
        let known = self.known.lock().ok()?;
        known
            .get(origin)
            .filter(|(at, _)| at.elapsed() < KEPT_FOR)
            .map(|(_, rules)| rules.clone())
    }

    fn remember(&self, origin: String, rules: Rules) {
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= MAX_ORIGINS {
                known.clear();
            }
            known.insert(origin, (Instant::now(), rules));
        }
    }
}

/// Reads the site's robots.txt; an error when it cannot be read.
async fn read(fetcher: &Fetcher, url: &Url) -> Result<Rules, HubError> {
    let mut robots = url.clone();
    robots.set_path("/robots.txt");
    robots.set_query(None);
    robots.set_fragment(None);
    let unreadable = |reason: String| {
        HubError::Forbidden(format!(
            "the site's robots.txt could not be read ({reason}), so {} is not fetched",
            shown(url)
        ))
    };
    let fetched = fetcher
        .send(Outgoing {
            method: Method::GET,
            url: robots,
            headers: HeaderMap::new(),
            credential: None,
            body: None,
            timeout: ROBOTS_TIMEOUT,
            max_body_bytes: MAX_ROBOTS_BYTES,
        })
        .await
        .map_err(|error| unreadable(error.to_string()))?;
    let status = fetched.status.as_u16();
    match status {
        200..=299 => Ok(Rules::Text(
            String::from_utf8_lossy(&fetched.body).into_owned(),
        )),
        400..=499 => Ok(Rules::AllowAll),
        _ => Err(unreadable(format!("it answered {status}"))),
    }
}
