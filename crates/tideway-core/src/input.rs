//! What a call asks of a client that answers later rather than at once: a
//! 2026-07-28 MCP client, which answers on its next call, or the client of an MCP
//! task, which answers with `tasks/update`. The call runs with the answers given so
//! far; a request with an answer returns it, and one without is noted and fails the
//! call with [`HubError::InputRequired`]. Whoever ran the call then hands the noted
//! requests to the client, and runs the call again once they are answered, so
//! the same requests, asked in the same order or under the same keys, find their
//! answers.

use std::{collections::BTreeMap, sync::Mutex};

use serde_json::{Value, json};

use crate::{error::HubError, mcp::JsonObject};

/// The capability a client declares to answer `method`.
pub fn capability_of(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

/// Which requests a client declared it can answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Answerable {
    pub sampling: bool,
    pub elicitation: bool,
    pub roots: bool,
}

impl Answerable {
    /// From capability names (`sampling`, `elicitation`, `roots`); others are
    /// ignored.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Self {
        let has = |wanted: &str| names.iter().any(|name| name.as_ref() == wanted);
        Answerable {
            sampling: has("sampling"),
            elicitation: has("elicitation"),
            roots: has("roots"),
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.sampling, "sampling"),
            (self.elicitation, "elicitation"),
            (self.roots, "roots"),
        ]
        .into_iter()
        .filter_map(|(declared, name)| declared.then_some(name))
        .collect()
    }

    pub fn any(&self) -> bool {
        self.sampling || self.elicitation || self.roots
    }

    pub fn allows(&self, method: &str) -> bool {
        match capability_of(method) {
            Some("sampling") => self.sampling,
            Some("elicitation") => self.elicitation,
            Some("roots") => self.roots,
            _ => false,
        }
    }
}

/// One run of a call that may ask its client for input.
pub struct InputRound {
    answers: BTreeMap<String, Value>,
    answerable: Answerable,
    asked: Mutex<Asked>,
}

#[derive(Default)]
struct Asked {
    /// The answers the call read: the next run needs them again.
    read: BTreeMap<String, Value>,
    /// What the call asked that has no answer yet, as `{"method", "params"}`.
    pending: BTreeMap<String, Value>,
    /// Requests asked without a key, numbered per capability in the order they
    /// are asked.
    unnamed: BTreeMap<&'static str, usize>,
    /// A capability the call needed and the client did not declare.
    missing: Option<&'static str>,
}

impl InputRound {
    pub fn new(answers: BTreeMap<String, Value>, answerable: Answerable) -> Self {
        InputRound {
            answers,
            answerable,
            asked: Mutex::new(Asked::default()),
        }
    }

    pub fn can_answer(&self, method: &str) -> bool {
        self.answerable.allows(method)
    }

    /// The answer to `method` under `key` (or, when the call names none, under
    /// the capability and a count of its requests, e.g. `sampling-2`). When there
    /// is none yet, the request is noted and the call is told with
    /// [`HubError::InputRequired`].
    pub fn ask(
        &self,
        key: Option<&str>,
        method: &str,
        params: JsonObject,
    ) -> Result<Value, HubError> {
        let Some(capability) = capability_of(method) else {
            return Err(HubError::Unsupported(format!(
                "'{method}' is not something a server can ask its client; it can ask for sampling/createMessage, elicitation/create or roots/list"
            )));
        };
        if !self.can_answer(method) {
            lock(&self.asked).missing.get_or_insert(capability);
            return Err(HubError::Unsupported(format!(
                "the client did not declare the '{capability}' capability, so it cannot answer '{method}'"
            )));
        }
        let mut asked = lock(&self.asked);
        let key = match key {
            Some(key) => key.to_string(),
            None => {
                let count = asked.unnamed.entry(capability).or_default();
                *count += 1;
                format!("{capability}-{count}")
            }
        };
        if let Some(answer) = self.answers.get(&key) {
            asked.read.insert(key, answer.clone());
            return Ok(answer.clone());
        }
        asked
            .pending
            .insert(key.clone(), json!({"method": method, "params": params}));
        Err(HubError::InputRequired {
            key,
            method: method.to_string(),
        })
    }

    /// What the call asked that has no answer yet, by key, each
    /// `{"method", "params"}`.
    pub fn pending(&self) -> BTreeMap<String, Value> {
        lock(&self.asked).pending.clone()
    }

    /// The answers the call read.
    pub fn read(&self) -> BTreeMap<String, Value> {
        lock(&self.asked).read.clone()
    }

    /// The first capability the call asked for and the client had not declared.
    /// A call that failed after such a refusal failed for want of it.
    pub fn missing_capability(&self) -> Option<&'static str> {
        lock(&self.asked).missing
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn everything() -> Answerable {
        Answerable::from_names(&["sampling", "elicitation", "roots"])
    }

    fn question() -> JsonObject {
        let mut params = JsonObject::new();
        params.insert("message".into(), json!("Your name?"));
        params
    }

    #[test]
    fn an_answered_request_returns_its_answer_and_others_are_noted() {
        let mut answers = BTreeMap::new();
        answers.insert(
            "name".to_string(),
            json!({"action": "accept", "content": {"name": "Ada"}}),
        );
        let round = InputRound::new(answers, everything());
        let name = round
            .ask(Some("name"), "elicitation/create", question())
            .expect("answered");
        assert_eq!(name["content"]["name"], "Ada");
        // Unnamed requests are numbered per capability in the order asked.
        for expected in ["roots-1", "sampling-1"] {
            let method = if expected.starts_with("roots") {
                "roots/list"
            } else {
                "sampling/createMessage"
            };
            assert!(matches!(
                round.ask(None, method, JsonObject::new()),
                Err(HubError::InputRequired { key, .. }) if key == expected
            ));
        }
        let pending = round.pending();
        assert_eq!(
            pending.keys().collect::<Vec<_>>(),
            vec!["roots-1", "sampling-1"]
        );
        assert_eq!(pending["roots-1"]["method"], "roots/list");
        assert_eq!(round.read().keys().collect::<Vec<_>>(), vec!["name"]);
    }

    #[test]
    fn only_what_the_client_declared_is_asked() {
        let round = InputRound::new(BTreeMap::new(), Answerable::from_names(&["sampling"]));
        assert!(round.can_answer("sampling/createMessage"));
        assert!(!round.can_answer("elicitation/create"));
        assert!(matches!(
            round.ask(Some("name"), "elicitation/create", question()),
            Err(HubError::Unsupported(message)) if message.contains("elicitation")
        ));
        assert!(matches!(
            round.ask(Some("x"), "tools/call", JsonObject::new()),
            Err(HubError::Unsupported(_))
        ));
        assert!(round.pending().is_empty());
        assert_eq!(round.missing_capability(), Some("elicitation"));
        assert_eq!(
            Answerable::from_names(&["roots", "other"]).names(),
            vec!["roots"]
        );
        assert!(!Answerable::default().any());
    }
}
